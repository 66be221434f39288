"""From a video file to the four modality streams the model reads, plus diagnostics.

decode (PyAV, resampled to `fps`) -> per frame: face tracking and the visual backend -> keypoint
and AU streams from the face track -> audio backend and DNSMOS on the 16 kHz waveform -> the
audio-visual offset diagnostic. `Extractor` keeps the loaded backends for many videos;
`FeatureCache` stores one file per video keyed by its content hash and the settings.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from talkscore.decoding import iter_frames, probe, read_audio
from talkscore.extractors import (
    AUDIO_BACKENDS,
    VISUAL_BACKENDS,
    create_audio_backend,
    create_visual_backend,
)
from talkscore.extractors.action_units import AU_NAMES, action_units
from talkscore.extractors.dnsmos import dnsmos, dnsmos_windows, window_frame_features
from talkscore.extractors.face import FaceTrack, FaceTracker, resolve_face_model
from talkscore.extractors.keypoints import (
    HEAD_MOTION_NAMES,
    HEAD_POSE_NAMES,
    KEYPOINT_DIM,
    head_motion,
    head_pose,
    mouth_opening,
    normalised_landmarks,
)
from talkscore.extractors.mouth import DETAIL_NAMES, mouth_detail
from talkscore.extractors.spectral import audio_frame_mask
from talkscore.files import atomic_write
from talkscore.jsonable import jsonable
from talkscore.paths import FACE_MODEL, sha256_file
from talkscore.samples import Sample
from talkscore.settings import Settings
from talkscore.signals import measure_signals
from talkscore.sync.correlation import (
    MAX_LAG,
    SyncEstimate,
    estimate_offset,
    mouth_signals,
    speech_envelope,
)
from talkscore.sync.scorer import ASSET as SYNC_SCORER_WEIGHTS
from talkscore.sync.scorer import STREAM_NAMES as SYNC_STREAM_NAMES
from talkscore.sync.scorer import SyncScorer
from talkscore.tasks import MODALITIES

if TYPE_CHECKING:
    from talkscore.reduction import Reducer

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Bumped whenever extracted features change meaning; part of every cache key.
FEATURE_SCHEMA_VERSION = 4
#: Bumped whenever the extras or diagnostics beside the streams change (not read by models, so
#: checkpoints do not check it); part of every cache key.
DIAGNOSTICS_VERSION = 3
SAMPLE_RATE = 16000
_MAX_PENDING_FRAMES = 8  # frames queued for the visual backend's thread (bounds memory)
DNSMOS_NAMES = ("dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808")


@dataclass(frozen=True)
class ExtractionSettings(Settings):
    """What to extract, and how (flags of `talkscore extract` carry the same names)."""

    # frames per second of the common timeline
    fps: float = 25.0
    # frames are downscaled as decoded so that their longer side is at most this many pixels
    max_side: int = 640
    # visual backend: quality (no download) or clip
    visual: str = "quality"
    # audio backend: spectral (no download) or wav2vec2
    audio: str = "spectral"
    # hub id or local folder of the clip / wav2vec2 weights (None: the backend's default)
    visual_model: str | None = None
    audio_model: str | None = None
    # faces the landmarker looks for per frame (the tracker follows one of them)
    max_faces: int = 2
    # DNSMOS window and hop in seconds (per-window scores become 4 audio features; each
    # window costs one 9 s model pass, so the default hop keeps DNSMOS near 0.1 x real time)
    dnsmos_window_s: float = 3.0
    dnsmos_hop_s: float = 3.0

    def validate(self) -> None:
        """Raise ValueError naming the option to fix."""
        if self.visual not in VISUAL_BACKENDS:
            raise ValueError(f"visual must be one of {VISUAL_BACKENDS}, got {self.visual!r}")
        if self.audio not in AUDIO_BACKENDS:
            raise ValueError(f"audio must be one of {AUDIO_BACKENDS}, got {self.audio!r}")
        if not 1 <= self.fps <= 120:
            raise ValueError(f"fps must be within 1..120, got {self.fps}")
        if self.max_side < 64:
            raise ValueError(f"max_side must be at least 64, got {self.max_side}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ExtractionSettings:
        """Inverse of `asdict` (JSON turns tuples into lists; extra keys are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in known}
        )

    def key(self) -> dict[str, Any]:
        """Everything that changes the features (the cache key hashes it)."""
        return {
            **asdict(self),
            "schema": FEATURE_SCHEMA_VERSION,
            "face_model_sha256": FACE_MODEL.sha256,
        }


@dataclass
class VideoFeatures:
    """The extracted streams of one video, on one timeline of `num_frames` frames."""

    streams: dict[str, np.ndarray]  # modality -> [T, D] float32 (NaN where not measurable)
    masks: dict[str, np.ndarray]  # modality -> [T] bool
    head_pose: np.ndarray  # [T, 6]: pitch, yaw, roll (deg), tx, ty, tz (cm)
    sync_curve: np.ndarray  # [31] lag correlation at lags -15..15 (see av_sync)
    diagnostics: dict[str, Any]
    settings: dict[str, Any]
    feature_names: dict[str, list[str]] = field(default_factory=dict)
    # per-frame outputs that are not model modalities (for timelines and reports):
    # "sync_scorer_probability" [T] (the learned scorer's sync probability at the clip's best
    # lag), "sync_scorer_similarity" [T, 31] (its similarity per lag -15..15, NaN where not
    # measurable), "mouth_opening" [T] (lip gap, face widths; NaN without a face),
    # "speech_envelope" [T] (dB, NaN without audio), "face_box" [T, 4] (x0, y0, x1, y1 in
    # the analysed frames, -1 without a face), "mouth_detail" and "face_detail" [T] (log
    # Laplacian variance of the mouth and face boxes at one scale) and "face_luma" [T] (the
    # face box's mean gray level, 0..1), NaN without a face
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return len(self.head_pose)

    def cut(self, start: int, end: int) -> VideoFeatures:
        """The frames [start, end) of every per-frame array (streams, masks, head pose, extras);
        diagnostics stay those of the whole video."""
        frames = slice(start, end)
        return replace(
            self,
            streams={m: x[frames] for m, x in self.streams.items()},
            masks={m: x[frames] for m, x in self.masks.items()},
            head_pose=self.head_pose[frames],
            extras={k: x[frames] for k, x in self.extras.items()},
        )

    def to_sample(
        self, labels: np.ndarray, name: str = "", reducer: Reducer | None = None
    ) -> Sample:
        """A training/scoring sample, its streams passed through `reducer` when given
        (modalities without any valid frame are left out)."""
        streams = reducer.transform(self.streams) if reducer else self.streams
        present = {m: x for m, x in streams.items() if self.masks[m].any()}
        return Sample(present, labels, {m: self.masks[m] for m in present}, name=name)

    def save(self, path: str | Path) -> None:
        """One `.npz` file (no pickles): the arrays plus a JSON `meta` entry, written atomically."""
        arrays = {f"stream_{m}": x for m, x in self.streams.items()}
        arrays |= {f"mask_{m}": x for m, x in self.masks.items()}
        meta = {"diagnostics": self.diagnostics, "settings": self.settings}
        meta["feature_names"] = self.feature_names
        arrays |= {"head_pose": self.head_pose, "sync_curve": self.sync_curve}
        arrays |= {f"extra_{name}": x for name, x in self.extras.items()}
        arrays["meta"] = np.array(json.dumps(jsonable(meta), allow_nan=False))
        atomic_write(path, lambda tmp: np.savez(tmp, **arrays), suffix=".npz")

    @classmethod
    def load(cls, path: str | Path) -> VideoFeatures:
        """Inverse of `save`."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            signals = meta["diagnostics"].get("signals")
            if signals is not None:  # a signal that could not be measured is saved as null
                meta["diagnostics"]["signals"] = {
                    name: float("nan") if value is None else value
                    for name, value in signals.items()
                }
            streams = {k[7:]: data[k] for k in data.files if k.startswith("stream_")}
            masks = {k[5:]: data[k] for k in data.files if k.startswith("mask_")}
            return cls(
                streams=streams,
                masks=masks,
                head_pose=data["head_pose"],
                sync_curve=data["sync_curve"],
                diagnostics=meta["diagnostics"],
                settings=meta["settings"],
                feature_names=meta["feature_names"],
                extras={k[6:]: data[k] for k in data.files if k.startswith("extra_")},
            )


Progress = Callable[[int, int], None]  # (frames done, frames expected)


class Extractor:
    """Loads the backends once and extracts `VideoFeatures` from any number of videos."""

    def __init__(
        self,
        settings: ExtractionSettings | None = None,
        face_model: str | Path | None = None,
        device: str = "auto",
    ) -> None:
        self.settings = settings or ExtractionSettings()
        self.face_model = resolve_face_model(face_model)
        s = self.settings
        self.visual = create_visual_backend(s.visual, s.visual_model, device)
        self.audio = create_audio_backend(s.audio, s.audio_model, device)
        self.sync_scorer = SyncScorer.load(device=device)

    def __call__(
        self, path: str | Path, progress: Progress | None = None, max_seconds: float | None = None
    ) -> VideoFeatures:
        """Extract one video (its first `max_seconds` when given); `progress(done, total)` is
        called as frames are processed."""
        s = self.settings
        info = probe(path)
        audio = read_audio(path, SAMPLE_RATE, max_seconds) if info.has_audio else None
        if audio is not None and len(audio) == 0:
            audio = None
        seconds = info.duration if max_seconds is None else min(info.duration, max_seconds)
        with ThreadPoolExecutor(1) as pool:  # DNSMOS runs beside the frame loop
            speech_quality = pool.submit(self._speech_quality, audio)
            track, details = self._track_faces(path, progress, int(seconds * s.fps), max_seconds)
            speech_quality = speech_quality.result()
        num_frames = len(track.mask)
        pose = head_pose(track)
        streams, masks, names = self._face_streams(track, pose)
        streams["visual"] = self.visual.finish()
        masks["visual"] = self._visual_mask(track)
        names["visual"] = self.visual.feature_names()
        streams["audio"], masks["audio"] = self._audio_stream(audio, num_frames, speech_quality)
        names["audio"] = [*self.audio.feature_names(), *DNSMOS_NAMES]
        envelope = None if audio is None else speech_envelope(audio, SAMPLE_RATE, num_frames, s.fps)
        sync = self._sync(track, envelope)
        learned, streams["sync"], masks["sync"], extras = self._learned_sync(
            track, audio, num_frames
        )
        landmarks = streams["keypoint"].reshape(num_frames, KEYPOINT_DIM // 3, 3)
        extras |= self._signals(track, landmarks, envelope)
        extras |= {name: details[:, i] for i, name in enumerate(DETAIL_NAMES)}
        names["sync"] = list(SYNC_STREAM_NAMES)
        diagnostics = {
            "video": info.to_dict(),
            "fps": s.fps,
            "num_frames": num_frames,
            "duration_s": num_frames / s.fps,
            "face_coverage": track.coverage,
            "max_faces_seen": int(track.faces_seen.max(initial=0)),
            "has_audio": audio is not None,
            "sync": sync.to_dict(),
            "sync_scorer": learned,
            "audio_seconds": 0.0 if audio is None else len(audio) / SAMPLE_RATE,
            "audio_peak_dbfs": None if audio is None else peak_dbfs(audio),
            **(speech_quality or {}),
        }
        features = VideoFeatures(
            streams={m: streams[m].astype(np.float32) for m in MODALITIES},
            masks={m: masks[m] for m in MODALITIES},
            head_pose=pose,
            sync_curve=sync.curve.astype(np.float32),
            diagnostics=diagnostics,
            settings=self.describe(),
            feature_names=names,
            extras=extras,
        )
        diagnostics["signals"] = measure_signals(features)
        return features

    def describe(self) -> dict[str, Any]:
        """The settings that made the features, with the backends' own settings."""
        return {
            **self.settings.key(),
            "visual_backend": self.visual.settings_dict(),
            "audio_backend": self.audio.settings_dict(),
            "sync_scorer_sha256": sha256_file(SYNC_SCORER_WEIGHTS),
            "diagnostics_version": DIAGNOSTICS_VERSION,
        }

    def _track_faces(
        self, path, progress: Progress | None, expected: int, max_seconds: float | None
    ) -> tuple[FaceTrack, np.ndarray]:
        """Face tracking on this thread; decoding, and the visual backend with the mouth detail
        (`[T, 2]`, returned beside the track), run on two others."""
        s = self.settings
        self.visual.reset()
        pending: deque[Future] = deque()
        details: list[Future] = []
        with (
            FaceTracker(self.face_model, max_faces=s.max_faces) as tracker,
            ThreadPoolExecutor(1) as visual,
        ):
            frames = iter_frames(path, s.fps, s.max_side, max_seconds)
            for frame in prefetch(frames, _MAX_PENDING_FRAMES):
                box = tracker.add(frame.image, frame.time)
                pending.append(visual.submit(self.visual.add, frame.image, box))
                details.append(visual.submit(mouth_detail, frame.image, tracker.last_landmarks))
                while len(pending) > _MAX_PENDING_FRAMES:
                    pending.popleft().result()
                if progress:
                    progress(frame.index + 1, max(expected, frame.index + 1))
            for job in pending:
                job.result()
            rows = [job.result() for job in details]
            return tracker.finish(), np.array(rows, np.float32).reshape(-1, len(DETAIL_NAMES))

    def _visual_mask(self, track: FaceTrack) -> np.ndarray:
        """quality features exist for every frame; clip embeddings only where there is a face."""
        return track.mask.copy() if self.settings.visual == "clip" else np.ones_like(track.mask)

    @staticmethod
    def _face_streams(track: FaceTrack, pose: np.ndarray) -> tuple[dict, dict, dict]:
        keypoints = normalised_landmarks(track)
        streams = {
            "keypoint": keypoints.reshape(len(track.mask), KEYPOINT_DIM),
            "pose": head_motion(pose),
            "au": action_units(track.blendshapes, track.blendshape_names)
            if track.blendshape_names
            else np.full((len(track.mask), len(AU_NAMES)), np.nan, np.float32),
        }
        masks = {m: track.mask.copy() for m in ("keypoint", "au", "pose")}
        axes = ("x", "y", "z")
        names = {
            "keypoint": [f"lm{i:03d}_{a}" for i in range(KEYPOINT_DIM // 3) for a in axes],
            "au": list(AU_NAMES),
            "pose": list(HEAD_MOTION_NAMES),
            "head_pose": list(HEAD_POSE_NAMES),
        }
        return streams, masks, names

    def _speech_quality(self, audio: np.ndarray | None) -> dict[str, Any] | None:
        """DNSMOS of the clip and of its windows (None without audio)."""
        if audio is None:
            return None
        s = self.settings
        return {
            "dnsmos": dnsmos(audio, SAMPLE_RATE),
            "dnsmos_windows": dnsmos_windows(audio, SAMPLE_RATE, s.dnsmos_window_s, s.dnsmos_hop_s),
        }

    def _audio_stream(
        self, audio: np.ndarray | None, num_frames: int, speech_quality: dict | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The audio modality (backend features + DNSMOS windows) and its frame mask."""
        s = self.settings
        if audio is None:
            width = self.audio.dim + len(DNSMOS_NAMES)
            return np.full((num_frames, width), np.nan, np.float32), np.zeros(num_frames, bool)
        features = self.audio.extract(audio, SAMPLE_RATE, num_frames, s.fps)
        quality = window_frame_features(speech_quality["dnsmos_windows"], num_frames, s.fps)
        has_audio = audio_frame_mask(len(audio), SAMPLE_RATE, num_frames, s.fps)
        return np.concatenate([features, quality], axis=1), has_audio

    def _learned_sync(
        self, track: FaceTrack, audio: np.ndarray | None, num_frames: int
    ) -> tuple[dict[str, Any], np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """The learned scorer's diagnostics, its frame stream and mask, and its timeline
        (an all-masked zero stream without audio or face)."""
        if audio is None or not track.blendshape_names:
            stream = np.zeros((num_frames, len(SYNC_STREAM_NAMES)), np.float32)
            none = np.zeros(num_frames, bool)
            lags = 2 * MAX_LAG + 1
            extras = {
                "sync_scorer_probability": np.zeros(num_frames, np.float32),
                "sync_scorer_similarity": np.full((num_frames, lags), np.nan, np.float32),
            }
            return {}, stream, none, extras
        score = self.sync_scorer.score(track, audio, SAMPLE_RATE, self.settings.fps)
        extras = {
            "sync_scorer_probability": score.probability,
            "sync_scorer_similarity": score.similarity,
        }
        return score.to_dict(), score.stream, score.valid.copy(), extras

    @staticmethod
    def _signals(
        track: FaceTrack, landmarks: np.ndarray, envelope: tuple[np.ndarray, np.ndarray] | None
    ) -> dict[str, np.ndarray]:
        """Mouth opening (from normalised `landmarks`), speech envelope (`speech_envelope`'s
        level and frames with audio; None without audio) and face boxes per frame (for
        reports)."""
        speech = np.full(len(track.mask), np.nan, np.float32)
        if envelope is not None:
            level, heard = envelope
            speech[heard] = level[heard]
        return {
            "mouth_opening": mouth_opening(landmarks).astype(np.float32),
            "speech_envelope": speech,
            "face_box": track.boxes.astype(np.float32),
        }

    def _sync(
        self, track: FaceTrack, envelope: tuple[np.ndarray, np.ndarray] | None
    ) -> SyncEstimate:
        """The correlation diagnostic, from the mouth and `speech_envelope`'s output."""
        if envelope is None or not track.blendshape_names:
            return SyncEstimate(0, 0.0, 0.0, np.full(2 * MAX_LAG + 1, np.nan))
        level, heard = envelope
        return estimate_offset(mouth_signals(track), track.mask, level, heard, self.settings.fps)


def peak_dbfs(audio: np.ndarray) -> float:
    """The loudest sample in dB relative to full scale (-120 for digital silence)."""
    peak = float(np.max(np.abs(audio), initial=0.0))
    return round(20 * np.log10(max(peak, 1e-6)), 1)


def prefetch(items: Iterator[T], size: int) -> Iterator[T]:
    """Iterate `items` on a background thread, at most `size` ahead (exceptions re-raised)."""
    buffer: queue.Queue = queue.Queue(maxsize=size)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                buffer.put((item, None))
        except BaseException as exc:  # handed to the consumer
            buffer.put((None, exc))
        buffer.put((done, None))

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full buffer
            with contextlib.suppress(queue.Empty):
                buffer.get_nowait()
            thread.join(timeout=0.01)


class FeatureCache:
    """One `.npz` per video in `folder`, named by content hash and settings hash."""

    def __init__(self, folder: str | Path, settings: dict[str, Any]) -> None:
        self.folder = Path(folder)
        text = json.dumps(jsonable(settings), sort_keys=True)
        self._settings_hash = hashlib.sha256(text.encode()).hexdigest()[:12]

    def path_for(self, video: str | Path) -> Path:
        """Where the features of `video` (its current content) are stored."""
        return self.folder / f"{sha256_file(video)[:24]}-{self._settings_hash}.npz"
