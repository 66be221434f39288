"""Checkpoints: a folder with `model.safetensors` (weights), `talkscore.json` (metadata) and,
for models trained on extracted video features, `reducer.safetensors` (the fitted reduction).

The metadata carries the model config (adaptive projections included, so loading rebuilds the
exact model), the number of ensemble members (`ensemble_size`, 1 for a single model), training
metrics, versions and whatever later stages add (extractor settings, reducer). Nothing is ever
unpickled.
"""

from __future__ import annotations

import json
import platform
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model as _load_weights
from safetensors.torch import save_model as _save_weights

from talkscore.errors import TalkscoreError
from talkscore.files import atomic_write
from talkscore.jsonable import jsonable
from talkscore.models import ModelConfig, ModelEnsemble, TalkingFaceQualityModel
from talkscore.models.calibration import CALIBRATION_FILE
from talkscore.paths import sha256_file
from talkscore.reduction import Reducer
from talkscore.runtime import resolve_device

FORMAT = "talkscore-checkpoint"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
METADATA_FILE = "talkscore.json"
REDUCER_FILE = "reducer.safetensors"
#: The files of a checkpoint folder; the calibration (tasks scored from the signals) is optional.
CHECKPOINT_FILES = (WEIGHTS_FILE, METADATA_FILE, REDUCER_FILE, CALIBRATION_FILE)
#: The bundled default model (built by examples/train_default_model.py; see its MODEL_CARD.md).
DEFAULT_MODEL = Path(__file__).resolve().parent / "assets" / "default_model"
#: Models that ship with talkscore, by name (a name wins over a folder of the same name).
BUNDLED_MODELS = {"default": DEFAULT_MODEL}

#: What a checkpoint holds: one network or an ensemble of them.
Model = TalkingFaceQualityModel | ModelEnsemble


class CheckpointError(TalkscoreError, ValueError):
    """A path that is not a usable talkscore checkpoint."""


def save_checkpoint(
    path: str | Path,
    model: Model,
    metadata: dict[str, Any] | None = None,
    reducer: Reducer | None = None,
) -> Path:
    """Write `model`, extra `metadata` and the feature `reducer` (if any) to the folder `path`;
    files are replaced atomically."""
    from talkscore import __version__

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    config = replace(model.config, input_dims=model.input_dims())
    meta = {
        **(metadata or {}),
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {
            "talkscore": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "model_config": config.to_dict(),
        "ensemble_size": len(model.members) if isinstance(model, ModelEnsemble) else 1,
    }
    atomic_write(folder / WEIGHTS_FILE, lambda tmp: _save_weights(model, tmp))
    if reducer is not None:
        reducer.save(folder / REDUCER_FILE)
    text = json.dumps(jsonable(meta), indent=2, allow_nan=False)
    atomic_write(folder / METADATA_FILE, lambda tmp: Path(tmp).write_text(text + "\n"))
    return folder


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The checkpoint's metadata, checked to be ours."""
    file = checkpoint_folder(path) / METADATA_FILE
    if not file.is_file():
        raise CheckpointError(f"{file.parent} is not a talkscore checkpoint (no {METADATA_FILE})")
    try:
        meta = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{file} is not readable talkscore metadata ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{file} is not a talkscore checkpoint (no format marker)")
    version = meta.get("format_version")
    if not _is_count(version):
        raise CheckpointError(f"{file} has an invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{file} has format version {version}; this talkscore reads up to "
            f"{FORMAT_VERSION}: upgrade talkscore"
        )
    return meta


def _is_count(value: Any) -> bool:
    """A JSON integer of at least 1 (not a bool, a float or a string)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def load_model(path: str | Path | None = None, device: str | torch.device | None = None) -> Model:
    """Rebuild the model (or ensemble) saved at `path` (a checkpoint folder or a file inside it;
    None or a bundled name: that bundled model), in eval mode. The metadata is available as
    `model.metadata`.
    """
    folder = checkpoint_folder(path)
    meta = read_metadata(folder)
    try:
        config = ModelConfig.from_dict(meta["model_config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{folder}: invalid model config ({exc})") from None
    size = meta.get("ensemble_size", 1)
    if not _is_count(size):
        raise CheckpointError(f"{folder}: invalid ensemble_size {size!r}")
    model = TalkingFaceQualityModel(config) if size == 1 else ModelEnsemble.build(config, size)
    try:
        _load_weights(model, str(folder / WEIGHTS_FILE), strict=True, device="cpu")
    except (OSError, SafetensorError, RuntimeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{folder / WEIGHTS_FILE}: unusable weights ({first_line})") from None
    model.metadata = meta
    return model.to(resolve_device(device)).eval()


def load_reducer(path: str | Path | None = None) -> Reducer | None:
    """The checkpoint's feature reducer, or None when it was trained on ready-made features."""
    file = checkpoint_folder(path) / REDUCER_FILE
    if not file.is_file():
        return None
    try:
        return Reducer.load(file)
    except ValueError as exc:
        raise CheckpointError(f"{file}: {exc}") from None


def model_label(checkpoint: str | Path | None) -> str:
    """What results call a checkpoint: its path, or the bundled model's name ("default")."""
    return "default" if checkpoint is None else str(checkpoint)


def weights_digest(path: str | Path | None) -> str:
    """The first 16 hex digits of the sha256 of the checkpoint's weights (which model scored)."""
    return sha256_file(checkpoint_folder(path) / WEIGHTS_FILE)[:16]


def checkpoint_folder(path: str | Path | None) -> Path:
    """The folder of the checkpoint at `path` (a folder or a file in it; None or a name in
    `BUNDLED_MODELS`: that bundled model)."""
    if path is None or str(path) in BUNDLED_MODELS:
        folder = BUNDLED_MODELS[str(path or "default")]
        if not (folder / WEIGHTS_FILE).is_file():
            raise CheckpointError(
                f"this install has no bundled {path or 'default'} model ({folder}); pass a "
                "checkpoint folder (--model) or rebuild it with examples/train_default_model.py"
            )
        return folder
    path = Path(path)
    if path.is_file() and path.name in (WEIGHTS_FILE, METADATA_FILE, REDUCER_FILE):
        path = path.parent
    if not path.is_dir():
        raise CheckpointError(
            f"no checkpoint at {path}: expected a folder with {WEIGHTS_FILE} and {METADATA_FILE}"
        )
    return path
