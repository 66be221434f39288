"""DNSMOS P.835 (SIG, BAK, OVRL) and P.808 speech-quality scores from the ONNX models that ship
with the `speechmos` package.

speechmos builds new ONNX sessions with default (all-core) threading and scores one segment at
a time; here the two sessions are created once per process with few threads and whole batches
of segments go through one call. The scoring itself follows speechmos (and Microsoft's
reference `dnsmos_local.py`): 9.01 s model inputs, the P.808 model on a 120-band log-mel of the
segment, the P.835 outputs mapped through the published polynomials. Two departures, for
speed (each 9.01 s segment costs about 0.2 s on one core): the clip score averages
non-overlapping segments instead of segments at a 1 s hop, and a clip shorter than 9.01 s is
tiled once to one segment instead of being doubled until long enough (scores move by about
0.01-0.04). Audio is repeated, never zero-padded (zeros would be scored as added silence); each
`dnsmos_windows` window is tiled to one segment as well. Nothing here imports `speechmos.dnsmos`
(it pulls in requests) or draws tqdm bars.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from pathlib import Path

import numpy as np
import soxr

from talkscore.errors import BackendUnavailable
from talkscore.extractors.mel import mel_spectrogram, power_to_db
from talkscore.spans import sliding

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
#: Samples per model input (9.01 s at 16 kHz).
SEGMENT_SAMPLES = 144160
#: Log-mel frames the P.808 model reads.
P808_FRAMES = 900
SCORE_KEYS = ("ovrl", "sig", "bak", "p808")
_THREADS = 1  # intra-op threads per ONNX session (extraction runs DNSMOS beside the frame loop)
_BATCH = 1  # segments per ONNX call: 4 would be no faster and hold ~400 MiB more (ONNX arena)

# P.835 raw outputs -> MOS (non-personalised DNSMOS), as in speechmos / dnsmos_local.py
_POLY_SIG = np.poly1d([-0.08397278, 1.22083953, 0.0052439])
_POLY_BAK = np.poly1d([-0.13166888, 1.60915514, -0.39604546])
_POLY_OVRL = np.poly1d([-0.06766283, 1.11546468, 0.04602535])


def dnsmos(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict[str, float]:
    """Clip-level scores {"ovrl", "sig", "bak", "p808"}, each on the 1..5 MOS scale.

    The mean over non-overlapping 9.01 s segments (the last one ends at the clip's end; a
    shorter clip is tiled to one segment).
    """
    audio = _prepare(audio, sample_rate)
    bounds = sliding(audio.size, SEGMENT_SAMPLES, SEGMENT_SAMPLES)
    return _as_dict(_score_segments([audio[a:b] for a, b in bounds]).mean(axis=0))


def dnsmos_windows(
    audio: np.ndarray, sample_rate: int = SAMPLE_RATE, window_s: float = 2.0, hop_s: float = 1.0
) -> list[dict]:
    """Scores of windows of `window_s` every `hop_s` seconds, each window tiled to 9.01 s.

    The last window is moved to end at the clip's end so the windows cover the whole clip; a
    clip shorter than `window_s` gives one window. Each dict has "start", "end" (seconds) and
    the four scores.
    """
    if window_s <= 0 or hop_s <= 0:
        raise ValueError(f"window_s and hop_s must be positive, got {window_s}, {hop_s}")
    audio = _prepare(audio, sample_rate)
    bounds = sliding(audio.size, round(window_s * SAMPLE_RATE), round(hop_s * SAMPLE_RATE))
    scores = _score_segments([audio[a:b] for a, b in bounds])
    return [
        {"start": a / SAMPLE_RATE, "end": b / SAMPLE_RATE, **_as_dict(row)}
        for (a, b), row in zip(bounds, scores, strict=True)
    ]


def window_frame_features(windows: list[dict], num_frames: int, fps: float) -> np.ndarray:
    """Window scores on the frame timeline, float32 [num_frames, 4] (ovrl, sig, bak, p808).

    A frame at t = k / fps gets the mean over the windows that contain t; a frame inside none
    (past the end of the audio) gets the window whose centre is nearest.
    """
    scores = np.array([[w[key] for key in SCORE_KEYS] for w in windows])
    start, end = (np.array([w[key] for w in windows]) for key in ("start", "end"))
    times = np.arange(num_frames)[:, None] / fps
    weights = ((times >= start) & (times < end)).astype(np.float64)
    nearest = np.argmin(np.abs(times - (start + end) / 2), axis=1)
    empty = weights.sum(axis=1) == 0
    weights[empty, nearest[empty]] = 1.0
    return (weights @ scores / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def _as_dict(scores: np.ndarray) -> dict[str, float]:
    return {key: float(value) for key, value in zip(SCORE_KEYS, scores, strict=True)}


def _prepare(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float32 at 16 kHz, clipped to [-1, 1] as the models require."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1 or audio.size == 0:
        raise ValueError(f"audio must be non-empty mono [samples], got shape {audio.shape}")
    if sample_rate != SAMPLE_RATE:
        audio = soxr.resample(audio, sample_rate, SAMPLE_RATE).astype(np.float32)
    return np.clip(audio, -1.0, 1.0)


def _tile(audio: np.ndarray, length: int) -> np.ndarray:
    """Repeat audio until it has at least `length` samples."""
    return audio if audio.size >= length else np.resize(audio, length)


def _score_segments(segments: list[np.ndarray]) -> np.ndarray:
    """Scores [n, 4] (ovrl, sig, bak, p808) of n segments, each tiled to SEGMENT_SAMPLES."""
    primary, p808 = _sessions()
    rows = []
    for first in range(0, len(segments), _BATCH):
        batch = np.stack([_tile(s, SEGMENT_SAMPLES) for s in segments[first : first + _BATCH]])
        raw = primary.run(None, {"input_1": batch})[0]
        mels = np.stack([_p808_melspec(segment[:-160]) for segment in batch])
        p808_mos = p808.run(None, {"input_1": mels})[0][:, 0]
        sig, bak, ovrl = _POLY_SIG(raw[:, 0]), _POLY_BAK(raw[:, 1]), _POLY_OVRL(raw[:, 2])
        rows.append(np.stack([ovrl, sig, bak, p808_mos], axis=1))
    return np.concatenate(rows)


def _p808_melspec(audio: np.ndarray) -> np.ndarray:
    """The P.808 model's input: 120-band log-mel, per-segment max-referenced, [900, 120]."""
    power = mel_spectrogram(audio, SAMPLE_RATE, n_fft=321, hop=160, n_mels=120)
    return ((power_to_db(power) + 40) / 40).T[:P808_FRAMES].astype(np.float32)


@functools.lru_cache(maxsize=1)
def _sessions():
    """The P.835 and P.808 ONNX sessions, created once per process."""
    try:
        import onnxruntime as ort
    except ImportError as error:
        raise BackendUnavailable("DNSMOS needs onnxruntime: pip install onnxruntime") from error
    folder = _model_folder()
    options = ort.SessionOptions()
    options.intra_op_num_threads = _THREADS
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    logger.debug("loading DNSMOS ONNX models from %s", folder)
    return tuple(
        ort.InferenceSession(
            str(folder / name), sess_options=options, providers=["CPUExecutionProvider"]
        )
        for name in ("sig_bak_ovr.onnx", "model_v8.onnx")
    )


def _model_folder() -> Path:
    """speechmos's bundled `dnsmos_models` folder, found without importing speechmos.dnsmos."""
    spec = importlib.util.find_spec("speechmos")
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailable("DNSMOS needs the speechmos package: pip install speechmos")
    folder = Path(next(iter(spec.submodule_search_locations))) / "dnsmos_models"
    if not (folder / "sig_bak_ovr.onnx").is_file() or not (folder / "model_v8.onnx").is_file():
        raise BackendUnavailable(f"DNSMOS ONNX models missing from {folder}; reinstall speechmos")
    return folder
