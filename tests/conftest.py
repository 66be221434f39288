"""Shared helpers: small model configs and random inputs."""

from __future__ import annotations

import pytest
import torch

from talkscore.models import ModelConfig

SMALL_DIMS = {"visual": 12, "audio": 20, "keypoint": 9, "au": 17}


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
