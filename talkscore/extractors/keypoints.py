"""Keypoint modality: pose-normalised face landmarks, head pose and mouth opening.

Landmarks come in normalised image coordinates (x right, y down, z away from the camera, in units
of the image width). They are put into the camera frame of MediaPipe's facial transformation
matrix (x right, y up, z towards the viewer, pixels), centred, rotated back by the matrix's
rotation (R^T), and scaled to unit RMS radius: what remains is face shape and expression, not
head rotation, translation or size. Checked on a real clip with 15 degrees of head motion: the
frame-to-frame variance of the normalised shape fell nine-fold against centring and scaling only.
"""

from __future__ import annotations

import numpy as np

from talkscore.extractors import minus_video_median
from talkscore.extractors.face import FaceTrack

NUM_KEYPOINTS = 468  # the face mesh without the 10 iris points
KEYPOINT_DIM = NUM_KEYPOINTS * 3
_CHUNK_FRAMES = 1000  # frames normalised at once
HEAD_POSE_NAMES = ("pitch_deg", "yaw_deg", "roll_deg", "tx_cm", "ty_cm", "tz_cm")

# MediaPipe face-mesh indices of the inner lips and mouth corners
UPPER_INNER_LIP, LOWER_INNER_LIP = 13, 14
MOUTH_LEFT, MOUTH_RIGHT = 78, 308


def rotations(track: FaceTrack) -> np.ndarray:
    """`[T, 3, 3]` head rotations (the matrix's linear part with any scale divided out)."""
    linear = track.matrices[:, :3, :3].astype(np.float64)
    with np.errstate(invalid="ignore"):
        scale = np.cbrt(np.linalg.det(np.nan_to_num(linear)))
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, np.nan)
    return linear / scale[:, None, None]


def normalised_landmarks(track: FaceTrack) -> np.ndarray:
    """`[T, 468, 3]` landmarks with head pose and size removed (NaN without a face)."""
    rotation = rotations(track)
    out = np.empty((len(track.landmarks), NUM_KEYPOINTS, 3), np.float32)
    for start in range(0, len(out), _CHUNK_FRAMES):  # bounded float64 temporaries
        part = slice(start, start + _CHUNK_FRAMES)
        points = track.landmarks[part, :NUM_KEYPOINTS]
        out[part] = _normalise(points, rotation[part], track.image_size)
    return out


def _normalise(points: np.ndarray, rotation: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    points = points.astype(np.float64)
    camera = np.stack(
        [(points[..., 0] - 0.5) * width, (0.5 - points[..., 1]) * height, -points[..., 2] * width],
        axis=-1,
    )
    camera -= camera.mean(axis=1, keepdims=True)
    upright = np.einsum("tji,tnj->tni", rotation, camera)  # R^T p
    radius = np.sqrt((upright**2).sum(-1).mean(-1))
    return upright / radius[:, None, None]


def keypoint_stream(track: FaceTrack) -> np.ndarray:
    """The keypoint modality `[T, 1404]`."""
    return normalised_landmarks(track).reshape(len(track.mask), KEYPOINT_DIM)


def head_pose(track: FaceTrack) -> np.ndarray:
    """`[T, 6]`: pitch, yaw, roll in degrees (x-y-z Euler angles of R) and translation in cm."""
    r = rotations(track)
    pitch = np.arctan2(r[:, 2, 1], r[:, 2, 2])
    yaw = np.arcsin(np.clip(-r[:, 2, 0], -1.0, 1.0))
    roll = np.arctan2(r[:, 1, 0], r[:, 0, 0])
    angles = np.degrees(np.stack([pitch, yaw, roll], axis=1))
    return np.concatenate([angles, track.matrices[:, :3, 3]], axis=1).astype(np.float32)


def head_motion(pose: np.ndarray) -> np.ndarray:
    """The pose modality `[T, 18]`: head pose minus the video's median pose (where the head is,
    relative to its usual place), its frame-to-frame velocity, and the distance from the median
    pose (whose mean over the video is how far the head roams: pooled by a mean, the signed
    offsets cancel out). Centring per video keeps camera placement, which differs between
    sources, out of it; NaN without a face."""
    centred = minus_video_median(pose)
    velocity = np.diff(pose, axis=0, prepend=pose[:1])
    return np.concatenate([centred, velocity, np.abs(centred)], axis=1).astype(np.float32)


HEAD_MOTION_NAMES = (
    *(f"{name}_centred" for name in HEAD_POSE_NAMES),
    *(f"{name}_velocity" for name in HEAD_POSE_NAMES),
    *(f"{name}_deviation" for name in HEAD_POSE_NAMES),
)


def mouth_opening(normalised: np.ndarray) -> np.ndarray:
    """`[T]` inner-lip gap over mouth width, from pose-normalised landmarks."""
    gap = np.linalg.norm(normalised[:, UPPER_INNER_LIP] - normalised[:, LOWER_INNER_LIP], axis=-1)
    width = np.linalg.norm(normalised[:, MOUTH_LEFT] - normalised[:, MOUTH_RIGHT], axis=-1)
    return gap / width
