"""Default visual backend: hand-crafted image-quality features, no download.

Each frame gives the same 31 features for two regions, the face crop (`face_*`, NaN without a
face) and the full frame (`frame_*`); both come from `_region_features`:

- sharpness: `lap_logvar` log1p variance of the 3x3 Laplacian, `tenengrad_log` log1p mean
  squared 3x3 Sobel gradient (gray levels 0..255);
- natural scene statistics (BRISQUE): MSCN coefficients (7x7 Gaussian window, sigma 7/6,
  C = 1) fitted by a generalised Gaussian (`mscn_alpha` shape, `mscn_var` variance), and the
  products of neighbouring MSCN coefficients in four directions (h, v, d1 main diagonal, d2
  anti-diagonal) each fitted by an asymmetric generalised Gaussian (`pair_*_alpha` shape,
  `pair_*_mean`, `pair_*_lvar` / `pair_*_rvar` left and right variances); shapes come from the
  standard moment-matching table, interpolated;
- `noise_sigma`: Immerkaer's fast noise standard deviation (gray levels);
- `blockiness`: mean absolute gradient across the 8x8 block grid of the image divided by the
  mean absolute gradient inside the blocks (about 1 when there are no blocking artefacts);
- exposure: `luma_mean` mean luminance, `dark_frac` / `bright_frac` fractions of clipped pixels,
  `rms_contrast` standard deviation of luminance (all on a 0..1 scale);
- `colourfulness`: Hasler and Suesstrunk's metric on RGB, divided by 255;
- temporal, against the previous frame of the same region (0 on a region's first frame):
  `diff_energy` mean absolute difference of the analysis-size gray image (0..1), `frozen` 1.0
  when it is below `frozen_threshold`, `luma_delta` absolute change of `luma_mean`, and
  `luma_second_diff` absolute second difference of `luma_mean` (flicker).

Noise and blockiness use the region at the decoded resolution (resampling hides both, and the
block grid is kept aligned with the image origin); everything else uses the face crop resized to
`crop_size` or the frame downscaled to `analysis_size`. A frame without a face restarts the face
region's temporal history.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from talkscore.extractors import minus_video_median
from talkscore.extractors.crops import Box, check_rgb, clamped_square, face_crop
from talkscore.settings import Settings

_PAIR_NAMES = tuple(
    f"pair_{direction}_{param}"
    for direction in ("h", "v", "d1", "d2")
    for param in ("alpha", "mean", "lvar", "rvar")
)
REGION_FEATURES: tuple[str, ...] = (
    "lap_logvar",
    "tenengrad_log",
    "mscn_alpha",
    "mscn_var",
    *_PAIR_NAMES,
    "noise_sigma",
    "blockiness",
    "luma_mean",
    "dark_frac",
    "bright_frac",
    "rms_contrast",
    "colourfulness",
    "diff_energy",
    "frozen",
    "luma_delta",
    "luma_second_diff",
)
REGIONS = ("face", "frame")

# moment-matching table of (A)GGD shapes: ratio(alpha) = G(2/a)^2 / (G(1/a) G(3/a)), increasing
_SHAPES = np.arange(0.2, 10.0, 0.001)
#: log |Gamma(x)| elementwise (scipy.special.gammaln without importing SciPy at scoring time)
_gammaln = np.vectorize(math.lgamma, otypes=[np.float64])
_SHAPE_RATIOS = np.exp(2 * _gammaln(2 / _SHAPES) - _gammaln(1 / _SHAPES) - _gammaln(3 / _SHAPES))
# Immerkaer's noise mask [[1, -2, 1], [-2, 4, -2], [1, -2, 1]] is this kernel applied on both axes
_SECOND_DIFF = np.array([1, -2, 1], dtype=np.float32)
# rows map RGB to the opponent channels rg = R - G and yb = (R + G) / 2 - B
_OPPONENT = np.array([[1.0, -1.0, 0.0], [0.5, 0.5, -1.0]], dtype=np.float32)
_EPS = 1e-6


@dataclass(frozen=True)
class QualitySettings(Settings):
    """Sizes and thresholds of the quality features (stored with the model)."""

    # side of the square face crop the face features are computed on (pixels)
    crop_size: int = 128
    # the face box's longer side is enlarged by this fraction on each side before cropping
    crop_margin: float = 0.25
    # the full frame is downscaled to at most this longer side (pixels) for its features
    analysis_size: int = 256
    # gray levels (0..255) at or below this count as clipped dark
    dark_level: int = 5
    # gray levels at or above this count as clipped bright
    bright_level: int = 250
    # `diff_energy` (0..1 scale) below this marks a frozen (repeated) frame
    frozen_threshold: float = 0.002

    def validate(self) -> None:
        """Raise ValueError naming the field to fix."""
        if self.crop_size < 16 or self.analysis_size < 16:
            raise ValueError("crop_size and analysis_size must be at least 16 pixels")
        if self.crop_margin < 0:
            raise ValueError(f"crop_margin must be >= 0, got {self.crop_margin}")
        if not 0 <= self.dark_level < self.bright_level <= 255:
            raise ValueError("need 0 <= dark_level < bright_level <= 255")
        if self.frozen_threshold < 0:
            raise ValueError(f"frozen_threshold must be >= 0, got {self.frozen_threshold}")


@dataclass
class _History:
    """What a region's temporal features compare against."""

    gray: np.ndarray | None = None  # previous analysis-size gray image (uint8)
    lumas: tuple[float, ...] = ()  # `luma_mean` of the last two frames, oldest first


class QualityBackend:
    """Streaming quality features: `add` one frame at a time, `finish` returns [T, dim]."""

    name = "quality"

    def __init__(self, settings: QualitySettings | None = None) -> None:
        self.settings = settings or QualitySettings()
        self.reset()

    def settings_dict(self) -> dict:
        """Settings that determine the features (stored with a trained model)."""
        return asdict(self.settings)

    @property
    def dim(self) -> int:
        return 2 * len(REGIONS) * len(REGION_FEATURES)

    def feature_names(self) -> list[str]:
        names = [f"{region}_{name}" for region in REGIONS for name in REGION_FEATURES]
        return names + [f"{name}_rel" for name in names]

    def reset(self) -> None:
        """Start a new video."""
        self._rows: list[np.ndarray] = []
        self._face_history = _History()
        self._frame_history = _History()

    def add(self, image: np.ndarray, face_box: Box | None) -> None:
        """Compute the features of one RGB uint8 frame [H, W, 3] with its face box (or None)."""
        check_rgb(image)
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        face = self._face_features(image, gray, face_box)
        small = _downscale(image, self.settings.analysis_size)
        frame = _region_features(small, gray, (0, 0), self._frame_history, self.settings)
        self._rows.append(np.concatenate([face, frame]))

    def finish(self) -> np.ndarray:
        """Features of the frames added since `reset`, [T, dim] float32: the absolute values,
        then the same minus the video's median (`*_rel`: sharpness or motion energy differ a lot
        between sources; their change within a video is comparable across them)."""
        if not self._rows:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = np.stack(self._rows).astype(np.float32, copy=False)
        return np.concatenate([rows, minus_video_median(rows)], axis=1)

    def _face_features(self, image: np.ndarray, gray: np.ndarray, box: Box | None) -> np.ndarray:
        if box is None:
            self._face_history = _History()
            return np.full(len(REGION_FEATURES), np.nan, dtype=np.float32)
        s = self.settings
        x0, y0, x1, y1 = clamped_square(box, image.shape, s.crop_margin)
        crop = face_crop(image, box, s.crop_size, s.crop_margin)
        return _region_features(crop, gray[y0:y1, x0:x1], (x0, y0), self._face_history, s)


def _region_features(
    rgb: np.ndarray,
    native_gray: np.ndarray,
    origin: tuple[int, int],
    history: _History,
    settings: QualitySettings,
) -> np.ndarray:
    """The `REGION_FEATURES` of one region: `rgb` at analysis size, `native_gray` at decoded
    size with its top-left corner at `origin` in the frame; updates `history`."""
    gray8 = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    gray = gray8.astype(np.float32)
    exposure = _exposure(gray8, settings)
    values = [
        _sharpness(gray),
        _nss(gray),
        [_noise_sigma(native_gray), _blockiness(native_gray, origin)],
        exposure,
        [_colourfulness(rgb)],
        _temporal(gray8, exposure[0], history, settings.frozen_threshold),
    ]
    return np.concatenate(values).astype(np.float32)


def _downscale(image: np.ndarray, max_side: int) -> np.ndarray:
    height, width = image.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1.0:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _sharpness(gray: np.ndarray) -> list[float]:
    """log1p variance of the Laplacian and log1p Tenengrad energy."""
    laplacian_std = cv2.meanStdDev(cv2.Laplacian(gray, cv2.CV_32F, ksize=3))[1][0, 0]
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    energy = (cv2.norm(gx, cv2.NORM_L2SQR) + cv2.norm(gy, cv2.NORM_L2SQR)) / gray.size
    return [float(np.log1p(laplacian_std**2)), float(np.log1p(energy))]


def _mscn(gray: np.ndarray) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients (BRISQUE)."""
    mu = cv2.GaussianBlur(gray, (7, 7), 7 / 6)
    variance = cv2.GaussianBlur(gray * gray, (7, 7), 7 / 6) - mu * mu
    return (gray - mu) / (np.sqrt(np.abs(variance)) + 1.0)


def _nss(gray: np.ndarray) -> np.ndarray:
    """GGD fit of the MSCN coefficients, then AGGD fits of their four pairwise products."""
    m = _mscn(gray)
    pairs = (m[:, :-1] * m[:, 1:], m[:-1] * m[1:], m[:-1, :-1] * m[1:, 1:], m[:-1, 1:] * m[1:, :-1])
    stats = np.array([_moments(x) for x in (m, *pairs)])
    stats[0, 2:] = stats[0, 1]  # the MSCN fit is symmetric: both sides get the full variance
    alpha, mean = _aggd_fit(*stats.T)
    pair_params = np.stack([alpha[1:], mean[1:], stats[1:, 2], stats[1:, 3]], axis=1)
    return np.concatenate([[alpha[0], stats[0, 1]], pair_params.ravel()])


def _moments(x: np.ndarray) -> tuple[float, float, float, float]:
    """Mean |x|, mean x^2, and mean x^2 over the negative and over the positive values."""
    flat = x.ravel()
    negative = np.minimum(flat, 0)
    total, left = float(flat @ flat), float(negative @ negative)
    n_negative = np.count_nonzero(negative)
    n_positive = np.count_nonzero(flat > 0)
    return (
        float(np.abs(flat).mean()),
        total / flat.size,
        left / max(n_negative, 1),
        (total - left) / max(n_positive, 1),
    )


def _aggd_fit(
    abs_mean: np.ndarray, sq_mean: np.ndarray, left_var: np.ndarray, right_var: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Shape and mean of asymmetric generalised Gaussians by moment matching (vectorised)."""
    left, right = np.sqrt(left_var), np.sqrt(right_var)
    ratio = (left + _EPS) / (right + _EPS)
    r_hat = abs_mean**2 / (sq_mean + _EPS)
    r_norm = r_hat * (ratio**3 + 1) * (ratio + 1) / (ratio**2 + 1) ** 2
    alpha = np.interp(r_norm, _SHAPE_RATIOS, _SHAPES)
    scale = np.exp(_gammaln(2 / alpha) - 0.5 * (_gammaln(1 / alpha) + _gammaln(3 / alpha)))
    return alpha, (right - left) * scale


def _noise_sigma(gray: np.ndarray) -> float:
    """Immerkaer's fast noise standard deviation estimate, in gray levels."""
    response = cv2.sepFilter2D(gray, cv2.CV_32F, _SECOND_DIFF, _SECOND_DIFF)[1:-1, 1:-1]
    if response.size == 0:
        return 0.0
    return float(np.sqrt(np.pi / 2) * cv2.norm(response, cv2.NORM_L1) / (6 * response.size))


def _blockiness(gray: np.ndarray, origin: tuple[int, int]) -> float:
    """Mean |gradient| across 8x8 block boundaries over the mean inside blocks."""
    across_columns = cv2.absdiff(gray[:, 1:], gray[:, :-1]).mean(axis=0)
    across_rows = cv2.absdiff(gray[1:], gray[:-1]).mean(axis=1)
    h_edge, h_inside = _grid_means(across_columns, origin[0])
    v_edge, v_inside = _grid_means(across_rows, origin[1])
    return float((h_edge + v_edge + _EPS) / (h_inside + v_inside + _EPS))


def _grid_means(profile: np.ndarray, offset: int) -> tuple[float, float]:
    """Mean of a gradient profile on the 8-pixel grid lines and off them (0, 0 if either is
    empty); entry j is the step between pixels j and j + 1, `offset` the first pixel's index."""
    on_grid = (np.arange(profile.size) + offset) % 8 == 7
    if on_grid.all() or not on_grid.any():
        return 0.0, 0.0
    return float(profile[on_grid].mean()), float(profile[~on_grid].mean())


def _exposure(gray: np.ndarray, settings: QualitySettings) -> list[float]:
    """Mean luminance, clipped-dark and clipped-bright fractions, RMS contrast (0..1)."""
    mean, std = cv2.meanStdDev(gray)
    return [
        float(mean[0, 0] / 255),
        float(np.count_nonzero(gray <= settings.dark_level) / gray.size),
        float(np.count_nonzero(gray >= settings.bright_level) / gray.size),
        float(std[0, 0] / 255),
    ]


def _colourfulness(rgb: np.ndarray) -> float:
    """Hasler and Suesstrunk's colourfulness, divided by 255."""
    opponent = cv2.transform(rgb.astype(np.float32), _OPPONENT)  # channels rg, yb
    mean, std = cv2.meanStdDev(opponent)
    return float((np.hypot(*std.ravel()) + 0.3 * np.hypot(*mean.ravel())) / 255)


def _temporal(gray: np.ndarray, luma: float, history: _History, threshold: float) -> list[float]:
    """Difference energy, frozen flag, |luma change| and |luma second difference|."""
    previous, lumas = history.gray, history.lumas
    if previous is not None and previous.shape == gray.shape:
        diff = float(cv2.absdiff(gray, previous).mean() / 255)
        frozen = float(diff < threshold)
    else:
        diff = frozen = 0.0
    delta = abs(luma - lumas[-1]) if lumas else 0.0
    second = abs(luma - 2 * lumas[-1] + lumas[-2]) if len(lumas) == 2 else 0.0
    history.gray, history.lumas = gray, (*lumas[-1:], luma)
    return [diff, frozen, delta, second]
