"""Per-modality feature extractors: one module per backend, chosen by name.

Visual backends stream frames (`reset`, `add(image, face_box)`, `finish`); audio backends take
the whole 16 kHz waveform (`extract(audio, sample_rate, num_frames, fps)`). Backends that need
downloaded weights import their packages only when created.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

VISUAL_BACKENDS = ("quality", "clip")
AUDIO_BACKENDS = ("spectral", "wav2vec2")


def minus_video_median(x: np.ndarray) -> np.ndarray:
    """`x` [T, D] minus each column's median over the video's frames (NaN-aware; a column
    without any finite value stays NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column: nothing measured
        return x - np.nanmedian(x, axis=0, keepdims=True)


def create_visual_backend(name: str, model: str | None = None, device: str = "auto") -> Any:
    """The visual backend `name` (quality: no download; clip: CLIP vision tower)."""
    if name == "quality":
        from talkscore.extractors.quality import QualityBackend

        return QualityBackend()
    if name == "clip":
        from talkscore.extractors.clip import ClipBackend

        return ClipBackend(**({"model": model} if model else {}), device=device)
    raise ValueError(f"visual backend must be one of {VISUAL_BACKENDS}, got {name!r}")


def create_audio_backend(name: str, model: str | None = None, device: str = "auto") -> Any:
    """The audio backend `name` (spectral: no download; wav2vec2: Wav2Vec2 hidden states)."""
    if name == "spectral":
        from talkscore.extractors.spectral import SpectralBackend

        return SpectralBackend()
    if name == "wav2vec2":
        from talkscore.extractors.wav2vec2 import Wav2Vec2Backend

        return Wav2Vec2Backend(**({"model": model} if model else {}), device=device)
    raise ValueError(f"audio backend must be one of {AUDIO_BACKENDS}, got {name!r}")
