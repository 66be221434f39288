"""Shared helpers: small model configs and random inputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from talkscore.models import ModelConfig

#: Shared test media (real clips); override with TALKSCORE_DATA.
DATA_DIR = Path(
    os.environ.get("TALKSCORE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
FACE_MODEL = Path(
    os.environ.get(
        "TALKSCORE_FACE_MODEL",
        Path(__file__).resolve().parents[2] / "shared" / "models" / "face_landmarker.task",
    )
)

SMALL_DIMS = {"visual": 12, "audio": 20, "keypoint": 9, "au": 17, "sync": 4, "pose": 18}


def small_config(**overrides) -> ModelConfig:
    """A model small enough to train in seconds on CPU."""
    values = {"encoder_dim": 32, "d_ff": 64, "num_heads": 4, "dropout": 0.0}
    values.update(overrides)
    return ModelConfig(**values)


def random_features(batch: int = 3, frames: int = 10, dims=None, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    dims = dims or SMALL_DIMS
    return {m: torch.randn(batch, frames, d, generator=generator) for m, d in dims.items()}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def clips_dir() -> Path:
    """`<data>/clips`, or skip with the reason when the shared media are absent."""
    folder = DATA_DIR / "clips"
    if not (folder / "MANIFEST.tsv").is_file():
        pytest.skip(f"shared clips not found at {folder} (set TALKSCORE_DATA)")
    return folder


@pytest.fixture(scope="session")
def face_model() -> Path:
    """The MediaPipe face_landmarker.task bundle, or skip with the reason."""
    if not FACE_MODEL.is_file():
        pytest.skip(f"face_landmarker.task not found at {FACE_MODEL} (set TALKSCORE_FACE_MODEL)")
    return FACE_MODEL
