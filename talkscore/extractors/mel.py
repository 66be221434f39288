"""Mel filter banks, mel spectrograms, decibels and the DCT, in NumPy.

They compute what librosa's `filters.mel` (Slaney scale and norm), `feature.melspectrogram`
(centred Hann STFT, zero padding, power 2), `power_to_db` and SciPy's orthonormal DCT-II
compute, to float32 rounding (tests/test_audio_features.py compares them), without importing
librosa and SciPy's signal package: those imports cost 1.5-4 s of CPU at every cold start.
"""

from __future__ import annotations

import functools

import numpy as np

_F_SP = 200.0 / 3  # Slaney mel scale: linear below 1 kHz (200/3 Hz per mel) ...
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOG_STEP = np.log(6.4) / 27.0  # ... and logarithmic above it


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney mel of frequencies in Hz."""
    hz = np.asarray(hz, np.float64)
    above = hz >= _MIN_LOG_HZ
    safe = np.where(above, hz, _MIN_LOG_HZ)
    return np.where(above, _MIN_LOG_MEL + np.log(safe / _MIN_LOG_HZ) / _LOG_STEP, hz / _F_SP)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    """Frequencies in Hz of Slaney mels (inverse of `hz_to_mel`)."""
    mel = np.asarray(mel, np.float64)
    above = mel >= _MIN_LOG_MEL
    return np.where(above, _MIN_LOG_HZ * np.exp(_LOG_STEP * (mel - _MIN_LOG_MEL)), _F_SP * mel)


@functools.lru_cache(maxsize=16)
def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None
) -> np.ndarray:
    """Triangular Slaney-normalised filters `[n_mels, 1 + n_fft // 2]` (float32, read-only)."""
    fmax = sample_rate / 2 if fmax is None else fmax
    fft_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]  # in float64, stored as float32
    weights.flags.writeable = False
    return weights


def mel_spectrogram(
    audio: np.ndarray, sample_rate: int, n_fft: int, hop: int, n_mels: int
) -> np.ndarray:
    """Mel power spectrogram `[n_mels, frames]` of frames centred every `hop` samples (the
    signal zero-padded by n_fft // 2 on each side), periodic Hann window of `n_fft`."""
    padded = np.pad(np.asarray(audio, np.float32), n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    window = np.hanning(n_fft + 1)[:-1]  # periodic
    spectrum = np.fft.rfft(frames * window, axis=1).astype(np.complex64)
    power = np.abs(spectrum) ** 2
    return mel_filterbank(sample_rate, n_fft, n_mels) @ power.T


def power_to_db(power: np.ndarray, amin: float = 1e-10, top_db: float = 80.0) -> np.ndarray:
    """Decibels relative to the largest value, floored `top_db` below it."""
    db = 10.0 * np.log10(np.maximum(amin, power))
    db -= 10.0 * np.log10(np.maximum(amin, power.max()))
    return np.maximum(db, db.max() - top_db)


@functools.lru_cache(maxsize=8)
def _dct_matrix(size: int) -> np.ndarray:
    k, n = np.arange(size)[:, None], np.arange(size)[None, :]
    matrix = np.cos(np.pi * k * (2 * n + 1) / (2 * size)) * np.sqrt(2.0 / size)
    matrix[0] /= np.sqrt(2.0)
    matrix.flags.writeable = False
    return matrix


def dct(x: np.ndarray, keep: int | None = None) -> np.ndarray:
    """Orthonormal DCT-II along the last axis, the first `keep` coefficients."""
    matrix = _dct_matrix(x.shape[-1])[:keep]
    return x @ matrix.T
