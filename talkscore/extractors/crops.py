"""Square face crops shared by the visual backends."""

from __future__ import annotations

import cv2
import numpy as np

Box = tuple[int, int, int, int]


def square_box(box: Box, margin: float) -> Box:
    """Square `(x0, y0, x1, y1)` centred on `box`, its longer side enlarged by `margin` per side."""
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"face box {box} must satisfy x0 < x1 and y0 < y1")
    side = max(1, round(max(x1 - x0, y1 - y0) * (1.0 + 2.0 * margin)))
    left = round((x0 + x1 - side) / 2)
    top = round((y0 + y1 - side) / 2)
    return left, top, left + side, top + side


def clamped_square(box: Box, shape: tuple[int, ...], margin: float) -> Box:
    """`square_box` intersected with an image of `shape` ([H, W, ...]); never empty."""
    height, width = shape[:2]
    x0, y0, x1, y1 = box
    if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
        raise ValueError(f"face box {box} lies outside the {width}x{height} image")
    sx0, sy0, sx1, sy1 = square_box(box, margin)
    return max(sx0, 0), max(sy0, 0), min(sx1, width), min(sy1, height)


def face_crop(image: np.ndarray, box: Box, size: int, margin: float = 0.25) -> np.ndarray:
    """`size` x `size` crop of the square around `box` (`margin` of its longer side added per
    side); parts outside the image are filled by replicating the border; resized with INTER_AREA.
    """
    sx0, sy0, sx1, sy1 = square_box(box, margin)
    cx0, cy0, cx1, cy1 = clamped_square(box, image.shape, margin)
    crop = cv2.copyMakeBorder(
        np.ascontiguousarray(image[cy0:cy1, cx0:cx1]),
        cy0 - sy0,
        sy1 - cy1,
        cx0 - sx0,
        sx1 - cx1,
        cv2.BORDER_REPLICATE,
    )
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def check_rgb(image: np.ndarray) -> None:
    """Raise ValueError unless `image` is an RGB uint8 array [H, W, 3]."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"expected an RGB uint8 image [H, W, 3], got {image.dtype} {tuple(image.shape)}"
        )
