"""A JSON-serialisable description of the installation, for bug reports and `talkscore info`."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from talkscore import __version__
from talkscore.paths import (
    FACE_MODEL,
    LIGHT_ASD_MODEL,
    LR_ASD_MODEL,
    ModelFile,
    find_model,
    sha256_file,
)

#: Optional distributions that extractor backends use; reported without importing them.
BACKENDS: tuple[str, ...] = (
    "mediapipe",
    "av",
    "opencv-contrib-python",
    "onnxruntime",
    "speechmos",
    "transformers",
    "soxr",
    "ray",
)


def _dist_version(name: str) -> str | None:
    """Return the installed version of a distribution, or None when it is absent."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _device() -> dict[str, Any]:
    """Return whether CUDA is usable and the name of the device scoring would run on."""
    import torch

    cuda = torch.cuda.is_available()
    return {"cuda": cuda, "name": torch.cuda.get_device_name(0) if cuda else "cpu"}


def _model_file(model: ModelFile) -> dict[str, Any]:
    """Return where a model file was found and whether its checksum matches."""
    found = find_model(model)
    if found is None:
        return {"path": None, "source": None, "sha256_ok": None}
    path, source = found
    return {"path": str(path), "source": source, "sha256_ok": sha256_file(path) == model.sha256}


def _sync_scorer() -> dict[str, Any]:
    """Return the shipped sync scorer weights (no checksum table: they ship with the package)."""
    from talkscore.sync.scorer import ASSET

    present = ASSET.is_file()
    return {"path": str(ASSET) if present else None, "source": "package", "sha256_ok": None}


def describe_environment() -> dict[str, Any]:
    """Return versions, device, optional backends and model files as a JSON-serialisable dict."""
    import torch

    return {
        "talkscore": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": str(torch.__version__),
        "device": _device(),
        "numpy": _dist_version("numpy"),
        "backends": {name: _dist_version(name) for name in BACKENDS},
        "models": {
            "face_landmarker": _model_file(FACE_MODEL),
            "sync_scorer": _sync_scorer(),
            "lr_asd": _model_file(LR_ASD_MODEL),
            "light_asd": _model_file(LIGHT_ASD_MODEL),
        },
        "default_model": None,
    }
