"""Mouth-region detail against the rest of the face, and the face's brightness, per frame.

Inpainting generators (Wav2Lip and its kin) redraw the mouth at a lower resolution than the face
around it, so their mouths are softer than the cheeks and eyes; a real recording's mouth, with
lips, teeth and the lip line, carries at least as much fine detail as the face. Both regions are
measured at one scale (the face box resized to `FACE_WIDTH` pixels), so the difference of the two
does not depend on the video's resolution. The face box's mean gray level, frame to frame,
shows flicker: rendering that changes the face's brightness from one frame to the next.
"""

from __future__ import annotations

import cv2
import numpy as np

FACE_WIDTH = 128  # pixels across the face box after resizing
#: outer-lip landmarks of the MediaPipe face mesh: corners, top and bottom of both lips
MOUTH_OUTLINE = (61, 291, 0, 17, 37, 267, 84, 314, 40, 270, 91, 321)
MOUTH_MARGIN = 0.15  # of the mouth box's size, added on each side
DETAIL_NAMES = ("mouth_detail", "face_detail", "face_luma")


def mouth_detail(image: np.ndarray, landmarks: np.ndarray | None) -> np.ndarray:
    """`[3]` float32: log variance of the Laplacian (gray levels) of the mouth box and of the
    face box of an RGB uint8 frame, both at the scale where the face is `FACE_WIDTH` wide, and
    the face box's mean gray level (0..1); NaN without a face (`landmarks`: the face's
    `[478, 3]` normalised image coordinates)."""
    missing = np.full(len(DETAIL_NAMES), np.nan, np.float32)
    if landmarks is None:
        return missing
    height, width = image.shape[:2]
    points = landmarks[:, :2] * (width, height)
    face = _box(points, 0.0, width, height)
    mouth = _box(points[list(MOUTH_OUTLINE)], MOUTH_MARGIN, width, height)
    if face is None or mouth is None:
        return missing
    scale = FACE_WIDTH / (face[2] - face[0])
    mouth_gray, face_gray = _gray(image, mouth, scale), _gray(image, face, scale)
    values = [_detail(mouth_gray), _detail(face_gray), face_gray.mean() / 255.0]
    return np.array(values, np.float32)


def _box(points: np.ndarray, margin: float, width: int, height: int) -> tuple | None:
    """Integer box around `points`, enlarged by `margin` of its size and clamped to the image;
    None when it is under two pixels across."""
    low, high = points.min(axis=0), points.max(axis=0)
    pad = (high - low) * margin
    x0, y0 = np.maximum(np.floor(low - pad), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(high + pad), (width, height)).astype(int)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return int(x0), int(y0), int(x1), int(y1)


def _gray(image: np.ndarray, box: tuple, scale: float) -> np.ndarray:
    """The box of the frame in gray levels, resized by `scale` (float32)."""
    x0, y0, x1, y1 = box
    gray = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
    size = (max(3, round((x1 - x0) * scale)), max(3, round((y1 - y0) * scale)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA).astype(np.float32)


def _detail(gray: np.ndarray) -> float:
    return float(np.log1p(cv2.Laplacian(gray, cv2.CV_32F, ksize=3).var()))
