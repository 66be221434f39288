"""The learned sync scorer in use: inputs from a face track and audio, lag search, timeline.

Like SyncNet's evaluation: for every candidate lag in +-15 frames, the mean similarity over the
clip's windows; offset = the best lag, confidence = best minus median. The zero-lag confidence
(lag 0 minus median) says how well the video is in sync as it is, and is the lip-sync signal:
a clip whose mouth only matches the sound at a shifted lag is out of sync. Same sign convention as
the correlation diagnostic (`av_sync`): **offset > 0 means the audio leads the video**.
The shipped weights are `talkscore/assets/sync_scorer.safetensors` (built by
`examples/train_sync_scorer.py`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from talkscore.extractors.face import FaceTrack
from talkscore.extractors.keypoints import normalised_landmarks
from talkscore.extractors.spectral import SpectralSettings, audio_frame_mask, log_mel
from talkscore.files import atomic_write
from talkscore.runtime import resolve_device
from talkscore.sync.network import SyncConfig, SyncNet, lag_similarity

#: MediaPipe face-mesh indices of the lips (outer and inner contours) and of the jaw line.
LIP_POINTS = (
    0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181,
    185, 191, 267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405,
    409, 415,
)  # fmt: skip
JAW_POINTS = (58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288)
MOUTH_BLENDSHAPES = (
    "jawOpen", "jawForward", "jawLeft", "jawRight", "mouthClose", "mouthFunnel", "mouthPucker",
    "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthPressLeft", "mouthPressRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper",
)  # fmt: skip
SUBFRAMES = 4  # log-mel frames per video frame
AUDIO_MEL = SpectralSettings(n_mels=40, window_s=0.025)
ASSET = Path(__file__).resolve().parents[1] / "assets" / "sync_scorer.safetensors"
STREAM_NAMES = ("sync_sim_lag0", "sync_sim_best", "sync_prob_lag0", "sync_local_lag")


def _standardise(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per-clip z-score of every column over the valid rows; invalid rows become 0."""
    out = np.zeros_like(x, dtype=np.float32)
    if valid.sum() > 1:
        v = x[valid]
        out[valid] = (v - v.mean(0)) / (v.std(0) + 1e-6)
    return out


def mouth_features(track: FaceTrack) -> tuple[np.ndarray, np.ndarray]:
    """(`[T, 372]` standardised lip/jaw landmarks + mouth blendshapes and their velocities,
    `[T]` frames with a face)."""
    points = normalised_landmarks(track)[:, LIP_POINTS + JAW_POINTS].reshape(len(track.mask), -1)
    index = {name: i for i, name in enumerate(track.blendshape_names)}
    blend = track.blendshapes[:, [index[n] for n in MOUTH_BLENDSHAPES]] if index else None
    if blend is None:
        blend = np.full((len(track.mask), len(MOUTH_BLENDSHAPES)), np.nan, np.float32)
    level = np.concatenate([points, blend], axis=1)
    valid = track.mask & np.isfinite(level).all(axis=1)
    level = _standardise(np.nan_to_num(level), valid)
    velocity = np.diff(level, axis=0, prepend=level[:1])
    return np.concatenate([level, velocity], axis=1), valid


def audio_features(
    audio: np.ndarray, sample_rate: int, num_frames: int, fps: float
) -> tuple[np.ndarray, np.ndarray]:
    """(`[T, 160]` standardised 40-band log-mel of 4 sub-frames per video frame, `[T]` frames
    that have audio)."""
    mel = log_mel(audio, sample_rate, num_frames * SUBFRAMES, fps * SUBFRAMES, AUDIO_MEL)
    mel = mel.reshape(num_frames, -1)
    valid = audio_frame_mask(len(audio), sample_rate, num_frames, fps)
    return _standardise(mel, valid), valid


def mean_curve(similarity: np.ndarray) -> np.ndarray:
    """`[2L+1]` mean over frames of `[T, 2L+1]` similarities (NaN rows and cells skipped)."""
    usable = np.isfinite(similarity)
    counts = usable.sum(axis=0)
    total = np.where(usable, similarity, 0.0).sum(axis=0)
    return np.where(counts > 0, total / np.maximum(counts, 1), np.nan)


def lag_summary(curve: np.ndarray, fps: float) -> dict[str, float] | None:
    """SyncNet's reading of a lag curve: offset (frames, ms; > 0: audio leads), confidence
    (best minus median) and zero-lag confidence; None when no lag was measurable."""
    if not np.isfinite(curve).any():
        return None
    max_lag = len(curve) // 2
    best = int(np.nanargmax(curve))
    offset = max_lag - best  # audio at t + lag matches mouth at t: lag < 0 = audio leads
    median = float(np.nanmedian(curve))
    return {
        "offset_frames": offset,
        "offset_ms": 1000.0 * offset / fps,
        "confidence": float(curve[best]) - median,
        "zero_lag_confidence": float(np.nan_to_num(curve[max_lag])) - median,
    }


@dataclass
class SyncScore:
    """The learned scorer's view of one clip."""

    offset_frames: int  # > 0: audio leads the video
    offset_ms: float
    confidence: float  # best minus median of the lag curve
    zero_lag_confidence: float  # lag 0 (the video as it is) minus median: the lip_sync signal
    curve: np.ndarray  # [2L+1] mean similarity per lag (-L..L in audio-minus-video frames)
    probability: np.ndarray  # [T] per-frame probability (softmax over lags) of the best lag
    stream: np.ndarray  # [T, 4] frame-level features: STREAM_NAMES
    valid: np.ndarray  # [T] frames with both a face and audio
    similarity: np.ndarray  # [T, 2L+1] similarity per frame and lag (NaN: not measurable)

    def to_dict(self) -> dict:
        return {
            "sync_scorer_offset_frames": self.offset_frames,
            "sync_scorer_offset_ms": self.offset_ms,
            "sync_scorer_confidence": self.confidence,
            "sync_scorer_zero_lag_confidence": self.zero_lag_confidence,
        }


class SyncScorer:
    """Loads a trained `SyncNet` (the shipped one by default) and scores clips."""

    def __init__(self, model: SyncNet) -> None:
        self.model = model.eval()

    @classmethod
    def load(cls, path: str | Path = ASSET, device: str | torch.device = "cpu") -> SyncScorer:
        """Weights from `path` (safetensors) with their config in the sibling `.json`, on
        `device` ("auto": CUDA when available)."""
        path = Path(path)
        config = SyncConfig(**json.loads(path.with_suffix(".json").read_text())["config"])
        model = SyncNet(config)
        model.load_state_dict(load_file(str(path)))
        return cls(model.to(resolve_device(device)))

    def save(self, path: str | Path, metadata: dict | None = None) -> None:
        """Write the weights and a `.json` with the config and `metadata` (e.g. metrics)."""
        path = Path(path)
        state = {k: v.contiguous() for k, v in self.model.state_dict().items()}
        atomic_write(path, lambda tmp: save_file(state, tmp))
        info = {"config": self.model.config.to_dict(), **(metadata or {})}
        text = json.dumps(info, indent=2) + "\n"
        atomic_write(path.with_suffix(".json"), lambda tmp: Path(tmp).write_text(text))

    def score_streams(
        self, mouth: np.ndarray, mouth_ok: np.ndarray, audio: np.ndarray, audio_ok: np.ndarray,
        fps: float,
    ) -> SyncScore:  # fmt: skip
        """Score prepared streams (`mouth_features`, `audio_features`)."""
        cfg = self.model.config
        sims = lag_similarity(self.model, mouth, audio)  # [T, 2L+1]
        lags = np.arange(-cfg.max_lag, cfg.max_lag + 1)
        shifted_ok = np.stack([np.roll(audio_ok, -lag) for lag in lags], axis=1)
        usable = mouth_ok[:, None] & shifted_ok & np.isfinite(sims)
        masked = np.where(usable, sims, np.nan).astype(np.float32)
        curve = mean_curve(masked)
        with torch.no_grad():
            logits = torch.as_tensor(np.nan_to_num(masked, nan=-1e4) / cfg.temperature)
            probs = torch.softmax(logits, dim=1).numpy()
        valid = usable.any(axis=1)
        summary = lag_summary(curve, fps)
        if summary is None:
            stream = np.zeros((len(sims), len(STREAM_NAMES)), np.float32)
            empty = np.zeros(len(sims))
            return SyncScore(0, 0.0, 0.0, 0.0, curve, empty, stream, valid, masked)
        best = cfg.max_lag - summary["offset_frames"]
        centre = cfg.max_lag
        stream = (
            np.stack(
                [
                    np.nan_to_num(masked[:, centre]),
                    np.nan_to_num(np.nanmax(np.where(usable, sims, -np.inf), axis=1), neginf=0.0),
                    probs[:, centre],
                    (np.argmax(probs, axis=1) - centre) / centre,
                ],
                axis=1,
            )
            * valid[:, None]
        )
        return SyncScore(
            **summary,
            curve=curve.astype(np.float32),
            probability=np.where(valid, probs[:, best], 0.0).astype(np.float32),
            stream=stream.astype(np.float32),
            valid=valid,
            similarity=masked,
        )

    def score(self, track: FaceTrack, audio: np.ndarray, sample_rate: int, fps: float) -> SyncScore:
        """Score one clip from its face track and audio."""
        mouth, mouth_ok = mouth_features(track)
        feats, audio_ok = audio_features(audio, sample_rate, len(track.mask), fps)
        return self.score_streams(mouth, mouth_ok, feats, audio_ok, fps)
