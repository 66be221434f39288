"""Audio-visual offset diagnostic: mouth motion cross-correlated with the speech envelope.

Mouth motion is the first difference of the sum of z-scored lip aperture (landmarks), jawOpen
and mouthClose (blendshapes; mouthClose co-activates with the jaw in speech, and adding it
raised the unshifted real clips within +-3 frames from 65% to 80%); audio
motion is the first difference of the z-scored speech envelope: 300-3000 Hz band energy in dB,
floored 20 dB below the clip's peak so that pauses do not dominate. For each lag in
+-max_lag frames, the Pearson correlation of mouth[t] with audio[t - lag] over the frames where
both are valid forms the lag-correlation curve.

Sign convention: **offset > 0 means the audio leads the video** (a sound comes `offset` frames
before the mouth movement that makes it; delay the audio by `offset` frames to align). Delaying
the audio by s frames lowers the offset by s. Real speech tends to show the mouth 2-3 frames
ahead of the sound (offset about -2). Confidence is the peak's prominence: the best correlation
minus the median of the curve. The curve repeats at syllable rate (about 6 frames), so a
wrong peak is possible; the learned sync scorer of a later release does better.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from talkscore.extractors import spectral
from talkscore.extractors.face import FaceTrack
from talkscore.extractors.keypoints import mouth_opening, normalised_landmarks

MAX_LAG = 15
MOUTH_BLENDSHAPES = ("jawOpen", "mouthClose")
ENVELOPE_FLOOR_DB = 20.0  # measured on the real clips: 20 dB recovers shifts best (10-50 tried)


@dataclass
class SyncEstimate:
    """Result of `estimate_offset`."""

    offset_frames: int  # > 0: audio leads the video
    offset_ms: float
    confidence: float  # peak minus median correlation; 0 when nothing could be measured
    curve: np.ndarray  # [2 * max_lag + 1] correlation at lags -max_lag..max_lag (NaN: no overlap)

    def to_dict(self) -> dict:
        return {
            "offset_frames": self.offset_frames,
            "offset_ms": self.offset_ms,
            "confidence": self.confidence,
        }


def speech_envelope(
    audio: np.ndarray, sample_rate: int, num_frames: int, fps: float
) -> tuple[np.ndarray, np.ndarray]:
    """(`[T]` speech-band envelope in dB, floored ENVELOPE_FLOOR_DB below its peak; `[T]` frames
    that have audio), from 32 ms windows centred on the frame times."""
    envelope = spectral.speech_envelope(audio, sample_rate, num_frames, fps, window_s=0.032)
    has_audio = spectral.audio_frame_mask(len(audio), sample_rate, num_frames, fps)
    peak = envelope[has_audio].max() if has_audio.any() else 0.0
    return np.maximum(envelope, peak - ENVELOPE_FLOOR_DB), has_audio


def _zscore(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    out = np.zeros(len(values))
    if valid.sum() > 1:
        v = values[valid]
        out[valid] = (v - v.mean()) / (v.std() + 1e-8)
    return out


def mouth_signals(track: FaceTrack) -> list[np.ndarray]:
    """The per-frame mouth signals of a face track: lip aperture and the MOUTH_BLENDSHAPES."""
    signals = [mouth_opening(normalised_landmarks(track))]
    for name in MOUTH_BLENDSHAPES:
        signals.append(track.blendshapes[:, track.blendshape_names.index(name)])
    return signals


def mouth_motion(signals: Sequence[np.ndarray], valid: np.ndarray) -> tuple:
    """(first difference of the summed z-scored signals, its validity): both `[T]`."""
    ok = valid & np.logical_and.reduce([np.isfinite(x) for x in signals])
    level = sum(_zscore(np.nan_to_num(x), ok) for x in signals)
    return np.diff(level, prepend=level[:1]), ok & np.concatenate([[False], ok[:-1]])


def audio_motion(envelope: np.ndarray, valid: np.ndarray) -> tuple:
    """(first difference of the z-scored speech envelope, its validity): both `[T]`."""
    level = _zscore(np.nan_to_num(envelope), valid)
    return np.diff(level, prepend=level[:1]), valid & np.concatenate([[False], valid[:-1]])


def lag_curve(
    mouth: np.ndarray, mouth_ok: np.ndarray, audio: np.ndarray, audio_ok: np.ndarray, max_lag: int
) -> np.ndarray:
    """Correlation of mouth[t] with audio[t - lag] for lag in -max_lag..max_lag."""
    n = len(mouth)
    curve = np.full(2 * max_lag + 1, np.nan)
    for i, lag in enumerate(range(-max_lag, max_lag + 1)):
        t = np.arange(max(lag, 0), min(n, n + lag))
        both = mouth_ok[t] & audio_ok[t - lag]
        if both.sum() < 3:
            continue
        m, a = mouth[t][both], audio[t - lag][both]
        denom = m.std() * a.std()
        if denom > 0:
            curve[i] = np.mean((m - m.mean()) * (a - a.mean())) / denom
    return curve


def estimate_offset(
    mouth: Sequence[np.ndarray],
    face_valid: np.ndarray,
    envelope: np.ndarray,
    audio_valid: np.ndarray,
    fps: float,
    max_lag: int = MAX_LAG,
) -> SyncEstimate:
    """Offset, confidence and lag curve of one clip (or window); `mouth`: `mouth_signals`."""
    mouth, mouth_ok = mouth_motion(mouth, face_valid)
    audio, audio_ok = audio_motion(envelope, audio_valid)
    curve = lag_curve(mouth, mouth_ok, audio, audio_ok, max_lag)
    if not np.isfinite(curve).any():
        return SyncEstimate(0, 0.0, 0.0, curve)
    best = int(np.nanargmax(curve))
    offset = best - max_lag
    confidence = float(curve[best] - np.nanmedian(curve))
    return SyncEstimate(offset, 1000.0 * offset / fps, confidence, curve)
