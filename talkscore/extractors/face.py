"""Face tracking with the MediaPipe Tasks FaceLandmarker (VIDEO mode).

Per frame: 478 landmarks, 52 blendshapes and the 4x4 facial transformation matrix of one face.
With several faces in view the tracker follows one: the largest at first, then the candidate
that overlaps the previous box most (or the largest again after the face was lost). Frames
without a face are masked (NaN values), never guessed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkscore.paths import FACE_MODEL, cache_dir, resolve_model

NUM_LANDMARKS = 478
NUM_BLENDSHAPES = 52
_MIN_IOU = 0.3  # overlap with the previous box that keeps following the same face


@dataclass
class FaceTrack:
    """What the landmarker saw in each frame of one video (NaN where no face)."""

    landmarks: np.ndarray  # [T, 478, 3] normalised image coords: x, y in [0, 1], z ~ x scale
    blendshapes: np.ndarray  # [T, 52] scores in [0, 1]
    matrices: np.ndarray  # [T, 4, 4] canonical-face-to-camera transform (cm)
    boxes: np.ndarray  # [T, 4] pixel box x0, y0, x1, y1 of the followed face
    faces_seen: np.ndarray  # [T] number of faces detected
    mask: np.ndarray  # [T] bool, a face was followed in this frame
    image_size: tuple[int, int]  # width, height of the analysed frames
    blendshape_names: list[str]

    @property
    def coverage(self) -> float:
        """Share of frames with a face."""
        return float(self.mask.mean()) if len(self.mask) else 0.0


def resolve_face_model(
    explicit: str | Path | None = None, verify: bool = True, download: bool = True
) -> Path:
    """The face_landmarker.task bundle: the option, else the environment variable, else the
    cache; when none has it, downloaded into the cache (if `download`). Checked by sha256."""
    how = (
        f"pass --face-model PATH, set {FACE_MODEL.env}, or put face_landmarker.task in "
        f"{cache_dir()} (online: talkscore models fetch)"
    )
    return resolve_model(FACE_MODEL, explicit, how, verify, download)


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence what native code (MediaPipe, TFLite) writes straight to file descriptor 2."""
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr: nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = np.maximum(a[:2], b[:2])
    x1, y1 = np.minimum(a[2:], b[2:])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter
    return float(inter / union) if union > 0 else 0.0


class FaceTracker:
    """Runs the landmarker over the frames of one video, one `add` call per frame.

    Use as a context manager (the native landmarker is closed on exit).
    """

    def __init__(self, model_path: str | Path, max_faces: int = 2, min_confidence: float = 0.5):
        import mediapipe as mp
        from mediapipe.tasks import python as mp_tasks
        from mediapipe.tasks.python import vision

        self._mp = mp
        options = vision.FaceLandmarkerOptions(
            base_options=mp_tasks.BaseOptions(model_asset_path=str(model_path)),
            running_mode=vision.RunningMode.VIDEO,
            num_faces=max_faces,
            min_face_detection_confidence=min_confidence,
            min_face_presence_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        with quiet_native_stderr():
            self._landmarker = vision.FaceLandmarker.create_from_options(options)
        self._rows: list[tuple] = []
        self._previous: np.ndarray | None = None
        self._last_ms = -1
        self._size = (0, 0)
        self._names: list[str] = []

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with quiet_native_stderr():
            self._landmarker.close()

    def add(self, image: np.ndarray, time_s: float) -> tuple[int, int, int, int] | None:
        """Track the face in one RGB uint8 frame; returns its pixel box (or None)."""
        height, width = image.shape[:2]
        self._size = (width, height)
        stamp = max(int(round(time_s * 1000)), self._last_ms + 1)  # VIDEO mode: increasing
        self._last_ms = stamp
        frame = self._mp.Image(
            image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(image)
        )
        with quiet_native_stderr():
            result = self._landmarker.detect_for_video(frame, stamp)
        faces = [
            np.array([(p.x, p.y, p.z) for p in face], np.float32) for face in result.face_landmarks
        ]
        if not faces:
            self._previous = None
            self._rows.append((None, None, None, None, 0))
            return None
        boxes = [_box(face, width, height) for face in faces]
        chosen = self._choose(boxes)
        self._previous = boxes[chosen]
        scores = result.face_blendshapes[chosen]
        if not self._names:
            self._names = [c.category_name for c in scores]
        blend = np.array([c.score for c in scores], np.float32)
        matrix = np.asarray(result.facial_transformation_matrixes[chosen], np.float32)
        self._rows.append((faces[chosen], blend, matrix, boxes[chosen], len(faces)))
        return tuple(int(v) for v in boxes[chosen])

    @property
    def last_landmarks(self) -> np.ndarray | None:
        """The followed face's `[478, 3]` normalised landmarks in the last frame added (None
        when it had no face)."""
        return self._rows[-1][0] if self._rows else None

    def _choose(self, boxes: list[np.ndarray]) -> int:
        areas = [np.prod(b[2:] - b[:2]) for b in boxes]
        if self._previous is not None:
            overlaps = [_iou(b, self._previous) for b in boxes]
            if max(overlaps) >= _MIN_IOU:
                return int(np.argmax(overlaps))
        return int(np.argmax(areas))

    def finish(self) -> FaceTrack:
        """Everything tracked so far, as arrays."""
        n = len(self._rows)
        track = FaceTrack(
            landmarks=np.full((n, NUM_LANDMARKS, 3), np.nan, np.float32),
            blendshapes=np.full((n, NUM_BLENDSHAPES), np.nan, np.float32),
            matrices=np.full((n, 4, 4), np.nan, np.float32),
            boxes=np.full((n, 4), -1, np.int32),
            faces_seen=np.zeros(n, np.int32),
            mask=np.zeros(n, bool),
            image_size=self._size,
            blendshape_names=self._names,
        )
        for i, (landmarks, blend, matrix, box, count) in enumerate(self._rows):
            track.faces_seen[i] = count
            if landmarks is None:
                continue
            track.landmarks[i], track.blendshapes[i], track.matrices[i] = landmarks, blend, matrix
            track.boxes[i], track.mask[i] = box, True
        return track


def _box(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixel bounding box of normalised landmarks, clamped to the image."""
    x, y = landmarks[:, 0] * width, landmarks[:, 1] * height
    box = np.array([x.min(), y.min(), x.max(), y.max()])
    return np.clip(box, 0, [width, height, width, height]).round().astype(np.int32)
