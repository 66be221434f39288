"""Named, training-free signals of one video, computed from its extracted features.

Each signal is a number per video with a documented direction (`Signal.direction`): "higher" or
"lower" is better, or "real": the closer to what real recordings show, the better (too little
motion is as wrong as too much; see `talkscore.signals.reference`). They follow the dynamics
metrics of THEval (Quignon et al., CVPR 2026): measures of how a face moves that hold across
generators, rather than features a learned model could use to recognise one. None of them reads
the clip's length, resolution or codec (lengths differ between generators and would order their
videos without saying anything about quality), and each reads only the frames it is given: two
videos are compared on their common frames by cutting their features first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from talkscore.extractors.action_units import AU_NAMES
from talkscore.sync.scorer import lag_summary, mean_curve

if TYPE_CHECKING:
    from talkscore.extraction import VideoFeatures

MIN_FRAMES = 12  # frames of speech, silence or face a signal needs (about half a second)
SILENT_DB = 15.0  # a frame is silent this far below the clip's loudest speech-band level
VOICED_DB = 10.0  # and voiced within this of it
BLINK_LEVEL = 2.5  # AU45 (0..5) above which the eyes count as closed
JITTER_HZ = 4.0  # head motion above this frequency counts as jitter
BROW_UNITS = ("AU01", "AU02", "AU04")


@dataclass(frozen=True)
class Signal:
    """What a signal measures, which way is better, and which score it informs."""

    about: str
    direction: str  # "higher", "lower" or "real" (closest to real recordings)
    task: str


SIGNALS: dict[str, Signal] = {
    "sync_confidence": Signal(
        "the learned sync scorer's confidence at zero lag", "higher", "lip_sync"
    ),
    "sync_offset_ms": Signal(
        "absolute audio-visual offset found by the learned sync scorer (ms)", "lower", "lip_sync"
    ),
    "lip_dynamics": Signal(
        "spread of the mouth opening (lip gap over mouth width) while speech is heard",
        "real",
        "lip_sync",
    ),
    "silent_lip_motion": Signal(
        "mouth movement in silence over mouth movement during speech", "lower", "lip_sync"
    ),
    "mouth_detail": Signal(
        "fine detail of the mouth against the whole face (log Laplacian variance difference)",
        "real",
        "overall",
    ),
    "face_detail": Signal(
        "fine detail of the face at a fixed face width (log Laplacian variance)",
        "higher",
        "overall",
    ),
    "face_flicker": Signal(
        "median frame-to-frame change of the face's mean brightness (0..1 gray levels)",
        "real",  # a face that never changes (a frozen picture) is no better than flicker
        "overall",
    ),
    "head_speed": Signal("median angular speed of the head (deg/s)", "real", "expression"),
    "head_jitter": Signal(
        f"share of the head's angular motion above {JITTER_HZ:g} Hz", "lower", "expression"
    ),
    "head_roam": Signal("spread of the head's position (cm)", "real", "expression"),
    "eyebrow_dynamics": Signal(
        "spread of the brow action units (AU01, AU02, AU04) over the clip", "real", "expression"
    ),
    "blink_rate": Signal("blinks per minute (AU45)", "real", "expression"),
}

#: The dynamics THEval judges by their closeness to real recordings: `diagnostics.realism`
REALISM: tuple[str, ...] = (
    "lip_dynamics",
    "silent_lip_motion",
    "eyebrow_dynamics",
    "head_speed",
    "head_jitter",
    "head_roam",
    "blink_rate",
)


def measure_signals(features: VideoFeatures) -> dict[str, float]:
    """Every signal of `SIGNALS` for one video (NaN where it cannot be measured: no face, no
    audio, too little speech or silence)."""
    fps = float(features.diagnostics["fps"])
    extras = features.extras
    face = features.masks["keypoint"]
    opening = np.where(face, extras.get("mouth_opening", np.nan), np.nan)
    voiced, silent = speech_frames(extras.get("speech_envelope"), len(face))

    def detail(name: str) -> np.ndarray | None:
        return np.where(face, extras[name], np.nan) if name in extras else None

    similarity = extras.get("sync_scorer_similarity")
    learned = lag_summary(mean_curve(similarity), fps) if similarity is not None else None
    learned = learned or {"zero_lag_confidence": np.nan, "offset_ms": np.nan}
    return {
        "sync_confidence": float(learned["zero_lag_confidence"]),
        "sync_offset_ms": float(abs(learned["offset_ms"])),
        "lip_dynamics": _spread(opening[voiced]),
        "silent_lip_motion": silent_lip_motion(opening, voiced, silent),
        "mouth_detail": _median(detail("mouth_detail"), detail("face_detail")),
        "face_detail": _median(detail("face_detail")),
        "face_flicker": flicker(detail("face_luma")),
        "head_speed": head_speed(features.head_pose, face, fps),
        "head_jitter": head_jitter(features.head_pose, face, fps),
        "head_roam": _spread(features.head_pose[face][:, 3:5], per_column=True),
        "eyebrow_dynamics": _spread(_units(features, BROW_UNITS)[face], per_column=True),
        "blink_rate": blink_rate(_units(features, ("AU45",))[:, 0], face, fps),
    }


def speech_frames(envelope: np.ndarray | None, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(voiced, silent) `[T]` masks from the speech-band envelope in dB (NaN where no audio):
    within `VOICED_DB` of its loudest level, and `SILENT_DB` or more below it."""
    if envelope is None or not np.isfinite(envelope).any():
        return np.zeros(frames, bool), np.zeros(frames, bool)
    loudest = np.nanmax(envelope)
    with np.errstate(invalid="ignore"):
        return envelope >= loudest - VOICED_DB, envelope <= loudest - SILENT_DB


def silent_lip_motion(opening: np.ndarray, voiced: np.ndarray, silent: np.ndarray) -> float:
    """Mean absolute frame-to-frame change of the mouth opening in silent frames over the same
    in voiced frames (a real speaker's mouth rests between phrases; NaN with under
    `MIN_FRAMES` of either)."""
    change = np.abs(np.diff(opening, prepend=np.nan))
    quiet, heard = change[silent & np.isfinite(change)], change[voiced & np.isfinite(change)]
    if len(quiet) < MIN_FRAMES or len(heard) < MIN_FRAMES or heard.mean() == 0:
        return float("nan")
    return float(quiet.mean() / heard.mean())


def head_speed(pose: np.ndarray, face: np.ndarray, fps: float) -> float:
    """Median angular speed of the head over consecutive face frames (deg/s)."""
    velocity = _angular_velocity(pose, face)
    if len(velocity) < MIN_FRAMES:
        return float("nan")
    return float(np.median(np.linalg.norm(velocity, axis=1)) * fps)


def head_jitter(pose: np.ndarray, face: np.ndarray, fps: float) -> float:
    """Share of the power of the head's angular velocity above `JITTER_HZ` (real heads move
    smoothly; a head that shakes frame to frame, or stands still but for tracking noise, has
    most of its motion there)."""
    velocity = _angular_velocity(pose, face)
    if len(velocity) < 2 * MIN_FRAMES:
        return float("nan")
    power = np.abs(np.fft.rfft(velocity - velocity.mean(axis=0), axis=0)) ** 2
    frequencies = np.fft.rfftfreq(len(velocity), d=1.0 / fps)
    total = power.sum()
    return float(power[frequencies > JITTER_HZ].sum() / total) if total > 0 else float("nan")


def blink_rate(closure: np.ndarray, face: np.ndarray, fps: float) -> float:
    """Blinks per minute: the eyes closing (AU45 rising above `BLINK_LEVEL`) between face
    frames, over the time the face is seen."""
    if face.sum() < MIN_FRAMES or not np.isfinite(closure[face]).any():
        return float("nan")
    closed = np.where(face, closure, 0.0) > BLINK_LEVEL
    onsets = int(np.sum(closed[1:] & ~closed[:-1] & face[:-1]))
    return onsets * 60.0 * fps / face.sum()


def flicker(luma: np.ndarray | None) -> float:
    """Median absolute change of the face's mean brightness between consecutive face frames."""
    if luma is None:
        return float("nan")
    return _median(np.abs(np.diff(luma)))


def _angular_velocity(pose: np.ndarray, face: np.ndarray) -> np.ndarray:
    """`[N, 3]` frame-to-frame change of pitch, yaw and roll where both frames have a face."""
    both = face[1:] & face[:-1]
    return np.diff(pose[:, :3], axis=0)[both]


def _units(features: VideoFeatures, names: tuple[str, ...]) -> np.ndarray:
    columns = [AU_NAMES.index(name) for name in names]
    return features.streams["au"][:, columns]


def _spread(values: np.ndarray, per_column: bool = False) -> float:
    """Standard deviation over frames (the mean over columns), NaN with under MIN_FRAMES."""
    values = values[np.isfinite(values).all(axis=1)] if per_column else values[np.isfinite(values)]
    if len(values) < MIN_FRAMES:
        return float("nan")
    return float(np.mean(np.std(values, axis=0)))


def _median(values: np.ndarray | None, minus: np.ndarray | None = None) -> float:
    """Median over frames of `values - minus` (NaN with under MIN_FRAMES finite frames)."""
    if values is None:
        return float("nan")
    if minus is not None:
        values = values - minus
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) >= MIN_FRAMES else float("nan")
