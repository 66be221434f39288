"""Degraded versions of real recordings, labelled by severity: the default model's training data.

`DEGRADATIONS` is the one table of every degradation: which stream it touches, its parameter at
severities 1..3, and the label each task gets at each severity (tasks it does not name keep
`CLEAN_LABEL`, the label of an untouched real recording, at the top of the scale; a task set to
`UNLABELLED` gets NaN, which the training loss skips). `render_variant`
writes a degraded copy of a clip as an mp4 (H.264 + AAC), so the features of a variant come from
the same extraction as any video a user scores. The clean reference is written the same way (only
the degradation differs between a clip and its variants).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from talkscore.tasks import CLEAN_LABEL, OVERALL_TASK, TASKS

#: Without an explicit overall label, overall drops by this share of the largest task drop.
OVERALL_SHARE = 0.8
#: A row's label for a task it leaves unlabelled (NaN at every severity).
UNLABELLED = None
FPS = 25.0
SAMPLE_RATE = 16000
#: Encoder settings of the clean reference and of every variant (unless the variant changes them).
VIDEO_CRF = 18
AUDIO_BITRATE = 96_000
MAX_SIDE = 512


@dataclass(frozen=True)
class Degradation:
    """One row of the table: `params[s - 1]` and `labels[task][s - 1]` at severity s."""

    name: str
    stream: str  # "audio" or "video": which stream is changed
    params: tuple[float, ...]
    labels: dict[str, tuple[float, ...] | None]  # None (UNLABELLED): NaN at every severity
    about: str
    encode: dict[str, str] = field(default_factory=dict)  # param -> "crf" or "audio_bitrate"

    def task_labels(self, severity: int) -> np.ndarray:
        """The five task labels (order of TASKS) at `severity` (1-based)."""
        if not 1 <= severity <= len(self.params):
            raise ValueError(f"{self.name}: severity must be 1..{len(self.params)}")
        values = {task: CLEAN_LABEL for task in TASKS}
        values |= {
            task: np.nan if levels is UNLABELLED else levels[severity - 1]
            for task, levels in self.labels.items()
        }
        if OVERALL_TASK not in self.labels:  # unlabelled tasks (NaN) take no part in the drop
            drop = np.nanmax([CLEAN_LABEL - v for t, v in values.items() if t != OVERALL_TASK])
            values[OVERALL_TASK] = CLEAN_LABEL - OVERALL_SHARE * drop
        return np.array([values[task] for task in TASKS], np.float32)


def _row(name, stream, params, about, encode=None, **labels) -> Degradation:
    return Degradation(name, stream, tuple(params), labels, about, encode or {})


SYNC_LOSS = (3.4, 2.4, 1.4)
#: Every degradation, one row each (labels on 1..5; severities 1..3).
DEGRADATIONS: dict[str, Degradation] = {
    d.name: d
    for d in (
        # -- audio stream ------------------------------------------------------------------------
        # overall unlabelled: a desync by itself must not teach overall to follow lip_sync
        _row("audio_shift", "audio", (3, 6, 12), "audio rolled by N frames (sign at random)",
             lip_sync=SYNC_LOSS, cross_modal=SYNC_LOSS, overall=UNLABELLED),
        _row("foreign_audio", "audio", (1,), "another person's speech, level-matched",
             lip_sync=(1.2,), cross_modal=(1.2,), overall=UNLABELLED),
        _row("noise", "audio", (20, 10, 5), "white noise at N dB SNR",
             audio_quality=(3.6, 2.6, 1.8)),
        _row("band_limit", "audio", (4000, 2000, 1000), "low-pass at N Hz",
             audio_quality=(3.8, 2.8, 2.0)),
        _row("codec", "audio", (24_000, 12_000, 6_000), "AAC at N bit/s",
             {"param": "audio_bitrate"}, audio_quality=(4.0, 3.2, 2.2)),
        _row("clipping", "audio", (3, 8, 25), "gain xN into a [-1, 1] clip",
             audio_quality=(3.6, 2.6, 1.6)),
        _row("dropouts", "audio", (0.05, 0.15, 0.3), "share N of 100 ms chunks silenced",
             audio_quality=(3.6, 2.6, 1.8), cross_modal=(4.2, 3.6, 3.0)),
        _row("reverb", "audio", (0.3, 0.7, 1.4), "synthetic room, RT60 N s",
             audio_quality=(3.8, 3.0, 2.2)),
        # -- video stream ------------------------------------------------------------------------
        _row("frozen_face", "video", (0.3, 0.6, 1.0), "share N of the clip is one held frame",
             expression=(3.2, 2.2, 1.2), lip_sync=(3.2, 2.2, 1.2), cross_modal=(3.2, 2.2, 1.2)),
        _row("jerky_face", "video", (2, 3, 5), "each frame held N times (stutter)",
             expression=(3.8, 3.0, 2.2), lip_sync=(4.2, 3.6, 3.0), overall=(3.8, 3.0, 2.2)),
        _row("smoothed_face", "video", (0.5, 0.3, 0.15), "frames averaged over time (weight N)",
             expression=(3.8, 3.0, 2.2), lip_sync=(4.2, 3.6, 3.0), overall=(3.8, 3.0, 2.2)),
        _row("frozen_mouth", "video", (0.3, 0.6, 1.0), "mouth of one frame pasted on share N",
             lip_sync=(3.2, 2.2, 1.2), cross_modal=(3.4, 2.6, 1.8), expression=(4.2, 3.6, 3.0)),
        _row("low_bitrate", "video", (36, 42, 48), "H.264 at CRF N", {"param": "crf"},
             overall=(3.8, 3.0, 2.0)),
        _row("blur", "video", (1.5, 3.0, 6.0), "Gaussian blur, sigma N px",
             overall=(3.8, 3.0, 2.0)),
        _row("downscale", "video", (2, 4, 8), "down-scaled by N and back",
             overall=(4.0, 3.2, 2.2)),
        _row("mouth_blur", "video", (2.0, 4.0, 8.0), "mouth region blurred, sigma N px",
             overall=(3.8, 3.0, 2.2), lip_sync=(4.3, 3.9, 3.4)),
        _row("mouth_downscale", "video", (3, 6, 12), "mouth region down-scaled by N",
             overall=(3.8, 3.0, 2.2), lip_sync=(4.3, 3.9, 3.4)),
        _row("mouth_smooth", "video", (5, 9, 15), "mouth region median-filtered (N px), as "
             "inpainting leaves it", overall=(3.8, 3.0, 2.2), lip_sync=(4.3, 3.9, 3.4)),
        _row("flicker", "video", (0.04, 0.1, 0.2), "per-frame brightness change, std N",
             overall=(3.8, 3.0, 2.0), expression=(4.3, 4.0, 3.6)),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Variant:
    """A degradation at one severity with its seed (None name = the clean reference);
    `value` replaces the table's parameter (the labels stay those of `severity`)."""

    name: str | None
    severity: int = 0
    seed: int = 0
    value: float | None = None

    @property
    def key(self) -> str:
        if self.name is None:
            return "clean"
        value = "" if self.value is None else f"-v{self.value:g}"
        return f"{self.name}-s{self.severity}{value}-r{self.seed}"

    def labels(self) -> np.ndarray:
        if self.name is None:
            return np.full(len(TASKS), CLEAN_LABEL, np.float32)
        return DEGRADATIONS[self.name].task_labels(self.severity)

    def param(self) -> float:
        return (
            DEGRADATIONS[self.name].params[self.severity - 1] if self.value is None else self.value
        )


# -- audio operations (samples in [-1, 1] at SAMPLE_RATE) -----------------------------------------


def _shift(x: np.ndarray, frames: float, rng: np.random.Generator, **_) -> np.ndarray:
    """Moved circularly: no silence at either end gives the move away, so a model has to
    compare the mouth with the sound in every window."""
    return np.roll(x, int(round(frames * SAMPLE_RATE / FPS)) * (1 if rng.uniform() < 0.5 else -1))


def _foreign(x: np.ndarray, _: float, rng: np.random.Generator, foreign=None, **__) -> np.ndarray:
    if foreign is None or not len(foreign):
        raise ValueError("foreign_audio needs another recording's speech")
    start = int(rng.integers(0, max(1, len(foreign) - len(x))))
    other = np.resize(foreign[start:], len(x))  # loops when shorter
    return other * (_rms(x) / max(_rms(other), 1e-6))


def _noise(x: np.ndarray, snr_db: float, rng: np.random.Generator, **_) -> np.ndarray:
    noise = rng.normal(size=x.shape) * _rms(x) / 10 ** (snr_db / 20)
    return x + noise


def _band_limit(x: np.ndarray, cutoff: float, rng: np.random.Generator, **_) -> np.ndarray:
    import soxr

    low = soxr.resample(x, SAMPLE_RATE, 2 * cutoff)
    return soxr.resample(low, 2 * cutoff, SAMPLE_RATE)[: len(x)]


def _clipping(x: np.ndarray, gain: float, rng: np.random.Generator, **_) -> np.ndarray:
    peak = max(float(np.abs(x).max()), 1e-6)
    return np.clip(x * gain / peak, -1, 1) * peak


def _dropouts(x: np.ndarray, share: float, rng: np.random.Generator, **_) -> np.ndarray:
    chunk = SAMPLE_RATE // 10
    out = x.copy()
    for start in range(0, len(x), chunk):
        if rng.uniform() < share:
            out[start : start + chunk] = 0
    return out


def _reverb(x: np.ndarray, rt60: float, rng: np.random.Generator, **_) -> np.ndarray:
    from scipy.signal import fftconvolve

    t = np.arange(int(rt60 * SAMPLE_RATE)) / SAMPLE_RATE
    response = rng.normal(size=len(t)) * np.exp(-6.9 * t / rt60)  # -60 dB at rt60
    response[0] = 1.0
    wet = fftconvolve(x, response)[: len(x)]
    return wet * (_rms(x) / max(_rms(wet), 1e-6))


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


AUDIO_OPS: dict[str, Callable[..., np.ndarray]] = {
    "audio_shift": _shift,
    "foreign_audio": _foreign,
    "noise": _noise,
    "band_limit": _band_limit,
    "clipping": _clipping,
    "dropouts": _dropouts,
    "reverb": _reverb,
}


# -- video operations (lists of RGB uint8 frames; mouth boxes in pixels, None without a face) ------


def _segment(n: int, share: float, rng: np.random.Generator) -> range:
    length = max(1, int(round(share * n)))
    start = int(rng.integers(0, n - length + 1))
    return range(start, start + length)


def _frozen_face(frames, share, rng, **_) -> list[np.ndarray]:
    span = _segment(len(frames), share, rng)
    return [frames[span.start] if i in span else f for i, f in enumerate(frames)]


def _jerky(frames, hold, rng, **_) -> list[np.ndarray]:
    hold = int(hold)
    return [frames[i - i % hold] for i in range(len(frames))]


def _smoothed(frames, weight, rng, **_) -> list[np.ndarray]:
    out, state = [], frames[0].astype(np.float32)
    for frame in frames:
        state = weight * frame + (1 - weight) * state
        out.append(state.round().astype(np.uint8))
    return out


def _whole(op: Callable[[np.ndarray, float], np.ndarray]) -> Callable[..., list[np.ndarray]]:
    return lambda frames, param, rng, **_: [op(f, param) for f in frames]


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(image, (0, 0), sigma)


def _downscale(image: np.ndarray, factor: float) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, int(w / factor)), max(1, int(h / factor))), cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _median(image: np.ndarray, size: float) -> np.ndarray:
    import cv2

    return cv2.medianBlur(image, int(size) | 1)


def _flicker(frames, std, rng, **_) -> list[np.ndarray]:
    gains = 1 + np.clip(rng.normal(scale=std, size=len(frames)), -3 * std, 3 * std)
    return [np.clip(f * g, 0, 255).astype(np.uint8) for f, g in zip(frames, gains, strict=True)]


def _in_mouth(op: Callable[[np.ndarray, float], np.ndarray]) -> Callable[..., list[np.ndarray]]:
    """Apply `op` inside the (feathered) mouth box of each frame with a face."""

    def apply(frames, param, rng, boxes=(), **_) -> list[np.ndarray]:
        pairs = zip(frames, boxes, strict=True)
        return [f if box is None else _blend(f, op(f, param), box) for f, box in pairs]

    return apply


def _frozen_mouth(frames, share, rng, boxes=(), **_) -> list[np.ndarray]:
    import cv2

    span = _segment(len(frames), share, rng)
    source = next((i for i in span if boxes[i] is not None), None)
    if source is None:
        return list(frames)
    x0, y0, x1, y1 = boxes[source]
    patch = frames[source][y0:y1, x0:x1]
    out = list(frames)
    for i in span:
        if boxes[i] is None:
            continue
        b = boxes[i]
        pasted = frames[i].copy()
        pasted[b[1] : b[3], b[0] : b[2]] = cv2.resize(patch, (b[2] - b[0], b[3] - b[1]))
        out[i] = _blend(frames[i], pasted, b)
    return out


def _blend(image: np.ndarray, changed: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """`changed` inside an elliptical, feathered mask over `box`, `image` elsewhere."""
    import cv2

    x0, y0, x1, y1 = box
    mask = np.zeros(image.shape[:2], np.float32)
    centre = ((x0 + x1) // 2, (y0 + y1) // 2)
    cv2.ellipse(mask, centre, (max(1, (x1 - x0) // 2), max(1, (y1 - y0) // 2)), 0, 0, 360, 1, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, (x1 - x0) / 10))[..., None]
    return (mask * changed + (1 - mask) * image).round().astype(np.uint8)


VIDEO_OPS: dict[str, Callable[..., list[np.ndarray]]] = {
    "frozen_face": _frozen_face,
    "jerky_face": _jerky,
    "smoothed_face": _smoothed,
    "frozen_mouth": _frozen_mouth,
    "blur": _whole(_blur),
    "downscale": _whole(_downscale),
    "mouth_blur": _in_mouth(_blur),
    "mouth_downscale": _in_mouth(_downscale),
    "mouth_smooth": _in_mouth(_median),
    "flicker": _flicker,
}


def mouth_boxes(frames: list[np.ndarray], face_model: str | Path) -> list[tuple | None]:
    """Pixel box (x0, y0, x1, y1) around the lips and chin of each frame (None without a face)."""
    from talkscore.extractors.face import FaceTracker
    from talkscore.sync.scorer import JAW_POINTS, LIP_POINTS

    with FaceTracker(face_model) as tracker:
        for index, frame in enumerate(frames):
            tracker.add(frame, index / FPS)
        track = tracker.finish()
    boxes: list[tuple | None] = []
    for frame, ok, points in zip(frames, track.mask, track.landmarks, strict=True):
        if not ok:
            boxes.append(None)
            continue
        h, w = frame.shape[:2]
        xy = points[list(LIP_POINTS + JAW_POINTS), :2] * (w, h)
        (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
        pad_x, pad_y = 0.15 * (x1 - x0), 0.15 * (y1 - y0)
        box = (int(max(0, x0 - pad_x)), int(max(0, y0 - pad_y)))
        box += (int(min(w, x1 + pad_x)), int(min(h, y1 + pad_y)))
        boxes.append(box if box[2] - box[0] >= 4 and box[3] - box[1] >= 4 else None)
    return boxes


@dataclass
class Clip:
    """A decoded clip: frames on the FPS timeline, audio, and mouth boxes (for mouth variants)."""

    frames: list[np.ndarray]
    audio: np.ndarray
    boxes: list[tuple | None]

    @classmethod
    def load(cls, path: str | Path, face_model: str | Path) -> Clip:
        from talkscore.decoding import iter_frames, read_audio

        frames = [f.image for f in iter_frames(path, FPS, MAX_SIDE)]
        frames = [f[: f.shape[0] // 2 * 2, : f.shape[1] // 2 * 2] for f in frames]  # even size
        audio = read_audio(path, SAMPLE_RATE)
        if audio is None or not len(audio):
            raise ValueError(f"{path}: no audio to degrade")
        return cls(frames, audio, mouth_boxes(frames, face_model))


def render_variant(
    clip: Clip, variant: Variant, out: str | Path, foreign: np.ndarray | None = None
) -> dict[str, Any]:
    """Write `clip` with `variant` applied to `out` (mp4); returns what was done."""
    rng = np.random.default_rng(variant.seed)
    frames, audio = clip.frames, clip.audio
    encode = {"crf": VIDEO_CRF, "audio_bitrate": AUDIO_BITRATE}
    if variant.name is not None:
        row = DEGRADATIONS[variant.name]
        param = variant.param()
        if "param" in row.encode:
            encode[row.encode["param"]] = int(param)
        elif row.stream == "audio":
            audio = AUDIO_OPS[row.name](audio, param, rng, foreign=foreign)
        else:
            frames = VIDEO_OPS[row.name](frames, param, rng, boxes=clip.boxes)
    write_mp4(out, frames, np.clip(audio, -1, 1), **encode)
    return {"variant": variant.key, "labels": variant.labels().tolist(), **encode}


def write_mp4(
    path: str | Path,
    frames: list[np.ndarray],
    audio: np.ndarray,
    crf: int = VIDEO_CRF,
    audio_bitrate: int = AUDIO_BITRATE,
) -> None:
    """H.264 (yuv420p, `crf`) at FPS plus mono AAC at `audio_bitrate`, written atomically."""
    import av

    from talkscore.files import atomic_write

    def write(tmp: str) -> None:
        with av.open(tmp, "w", format="mp4") as container:
            video = container.add_stream("libx264", rate=int(FPS))
            video.height, video.width = frames[0].shape[:2]
            video.pix_fmt = "yuv420p"
            video.options = {"crf": str(crf), "preset": "veryfast"}
            sound = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
            sound.bit_rate = audio_bitrate
            for index, image in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = index
                container.mux(video.encode(frame))
            container.mux(video.encode())
            # pts from 0 lets the encoder stamp its priming samples before 0, so the muxer hides
            # them (edit list) and the audio starts with the video
            block = av.AudioFrame.from_ndarray(audio.astype(np.float32)[None], "flt", "mono")
            block.sample_rate, block.pts = SAMPLE_RATE, 0
            container.mux(sound.encode(block))
            container.mux(sound.encode())

    atomic_write(path, write, suffix=".mp4")
