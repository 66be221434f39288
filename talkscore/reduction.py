"""Per-modality dimensionality reduction, fitted on training frames only.

Each modality: median imputation of missing values -> z-score -> optional winsorising (IQR
fences) -> PCA to the design's target size. `Reducer` holds one `ModalityReducer` per modality and
is stored as one safetensors file (arrays plus a JSON config in its metadata), never as a pickle.
"""

from __future__ import annotations

import json
import warnings
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from talkscore.errors import TalkscoreError
from talkscore.files import atomic_write
from talkscore.settings import Settings

#: The design's target sizes.
TARGET_DIMS: dict[str, int] = {
    "visual": 100,
    "audio": 200,
    "keypoint": 50,
    "au": 17,
    "sync": 4,
    "pose": 18,
}

FORMAT = "talkscore-reducer"
FORMAT_VERSION = 1
_META_KEY = "talkscore_reducer"
_BASE_ARRAYS = ("median", "mean", "std")
_FENCE_ARRAYS = ("low", "high")
_CHUNK_ROWS = 2000  # frames transformed at once
_PCA_ARRAYS = ("components", "explained_variance_ratio")


class ReducerError(TalkscoreError, ValueError):
    """A file or config that is not a usable talkscore reducer."""


@dataclass(frozen=True)
class ReductionSettings(Settings):
    """How each modality is reduced (fitted on training frames only)."""

    # modality -> number of PCA components kept (a modality with fewer input dims keeps them all)
    target_dims: dict[str, int] = field(default_factory=lambda: dict(TARGET_DIMS))
    # IQR fence multiplier k: clip standardised values to [Q1 - k IQR, Q3 + k IQR]; None = off
    winsorize: float | None = None
    # frames sampled (seeded, without replacement) per modality to fit, bounding memory and time
    max_fit_frames: int = 20000
    # seed of that sampling
    seed: int = 0

    def validate(self) -> None:
        """Raise ValueError naming the option to fix."""
        for name, dim in self.target_dims.items():
            if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
                raise ValueError(f"target_dims[{name!r}] must be a positive integer, got {dim!r}")
        if self.winsorize is not None and not self.winsorize > 0:
            raise ValueError(f"winsorize must be positive or None, got {self.winsorize}")
        if self.max_fit_frames < 1:
            raise ValueError(f"max_fit_frames must be at least 1, got {self.max_fit_frames}")
        if self.seed < 0:
            raise ValueError(f"seed must be non-negative, got {self.seed}")


@dataclass(frozen=True, eq=False)
class ModalityReducer:
    """Median imputation of NaN -> z-score -> optional winsorising (IQR fences) -> PCA.

    All arrays are float32 of length D = `input_dim`. `low`/`high` are the fences in standardised
    units (None when winsorising is off; infinite for a dimension whose training IQR is 0, which
    fences would collapse to a constant). `components` is [K, D], K = min(target, D, N) for N
    training frames, and None when K = D: such a modality keeps its D standardised dims (PCA to D
    components would only rotate them).
    """

    median: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    components: np.ndarray | None = None
    explained_variance_ratio: np.ndarray | None = None

    @classmethod
    def fit(
        cls, frames: np.ndarray, target_dim: int, settings: ReductionSettings
    ) -> ModalityReducer:
        """Fit on training `frames` [N, D] (NaN allowed); K = min(target_dim, D, N) components.

        With winsorising on, the fences are the training quartiles -/+ k IQR, and the mean and std
        are those of the clipped values, so an outlier inflates neither the scale nor the PCA.
        """
        frames = _sample(_check_frames(frames), settings.max_fit_frames, settings.seed)
        if len(frames) == 0:
            raise ValueError("cannot fit a reducer on zero frames")
        median = _nanmedian(frames)
        x = _impute(frames, median)
        low = high = None
        if settings.winsorize is not None:
            low, high = _fences(x, settings.winsorize)
            x = np.clip(x, low, high)
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        std[std == 0] = 1.0
        if low is not None:
            low, high = (low - mean) / std, (high - mean) / std
        parts = {"median": median, "mean": mean, "std": std, "low": low, "high": high}
        k = min(target_dim, len(frames))
        if k < frames.shape[1]:
            components, ratio = _pca((x - mean) / std, k)
            parts |= {"components": components, "explained_variance_ratio": ratio}
        return cls(**{n: None if v is None else v.astype(np.float32) for n, v in parts.items()})

    @property
    def input_dim(self) -> int:
        return len(self.median)

    @property
    def output_dim(self) -> int:
        return self.input_dim if self.components is None else len(self.components)

    @property
    def explained_variance(self) -> float:
        """Share of the standardised training variance retained (1.0 when no PCA)."""
        if self.explained_variance_ratio is None:
            return 1.0
        # summed in float64 and capped: float32 ratios of a full-rank fit can add up to 1 + 1e-7
        return min(1.0, float(self.explained_variance_ratio.sum(dtype=np.float64)))

    def transform(self, frames: np.ndarray) -> np.ndarray:
        """[T, D] -> [T, K] float32, finite; NaN (and infinities) become the training medians."""
        frames = _check_frames(frames)
        if frames.shape[1] != self.input_dim:
            raise ValueError(f"expected {self.input_dim} input dims, got {frames.shape[1]}")
        parts = [
            self._transform_rows(frames[start : start + _CHUNK_ROWS])
            for start in range(0, max(len(frames), 1), _CHUNK_ROWS)
        ]  # a long video's float temporaries stay small
        return np.concatenate(parts)

    def _transform_rows(self, frames: np.ndarray) -> np.ndarray:
        z = (_impute(frames.astype(np.float32), self.median) - self.mean) / self.std
        if self.low is not None:
            z = np.clip(z, self.low, self.high)
        return z if self.components is None else z @ self.components.T

    def arrays(self) -> dict[str, np.ndarray]:
        """The fitted arrays by name (those in use only)."""
        names = _BASE_ARRAYS + _FENCE_ARRAYS + _PCA_ARRAYS
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    def config(self) -> dict[str, Any]:
        """What `from_arrays` needs besides the arrays (JSON-ready)."""
        return {
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "winsorized": self.low is not None,
            "pca": self.components is not None,
        }

    @classmethod
    def from_arrays(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> ModalityReducer:
        """Inverse of `config` and `arrays`; raise ReducerError when they do not fit together."""
        try:
            shapes = _expected_shapes(config)
        except (KeyError, TypeError, ValueError) as exc:
            raise ReducerError(f"invalid modality reducer config {config!r} ({exc})") from None
        found = {k: np.shape(v) for k, v in arrays.items()}
        if found != shapes:
            raise ReducerError(f"arrays {found} do not match the config {config!r}")
        return cls(**{k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()})


@dataclass
class Reducer:
    """One ModalityReducer per modality."""

    modalities: dict[str, ModalityReducer]
    settings: ReductionSettings = field(default_factory=ReductionSettings)

    @classmethod
    def fit(
        cls,
        streams: Iterable[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]],
        settings: ReductionSettings | None = None,
    ) -> Reducer:
        """Fit on training videos, each given as (streams, masks), e.g. of `VideoFeatures`.

        Only frames whose mask is True are used, and at most `max_fit_frames` of them per modality
        (a seeded sample drawn while streaming, so memory stays bounded). Modalities without a
        target in the settings, and those without any valid frame in training, are left out.
        """
        settings = settings or ReductionSettings()
        samplers: dict[str, _Sampler] = {}
        for video_streams, masks in streams:
            for name, stream in video_streams.items():
                if name not in settings.target_dims:
                    continue
                sampler = samplers.setdefault(name, _Sampler(name, settings))
                sampler.add(_valid_frames(name, stream, masks))
        fitted = {
            name: ModalityReducer.fit(s.frames, settings.target_dims[name], settings)
            for name, s in samplers.items()
            if len(s.frames)
        }
        if not fitted:
            raise ValueError("no valid training frame in any modality: nothing to fit")
        return cls(fitted, settings)

    def transform(self, streams: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Reduce the modalities this reducer knows; others are dropped.

        Every row is transformed, masked ones too (the model never reads them), and stays finite.
        """
        return {m: r.transform(streams[m]) for m, r in self.modalities.items() if m in streams}

    def output_dims(self) -> dict[str, int]:
        return {m: r.output_dim for m, r in self.modalities.items()}

    def explained_variance(self) -> dict[str, float]:
        return {m: r.explained_variance for m, r in self.modalities.items()}

    def save(self, path: str | Path) -> None:
        """One safetensors file: arrays `<modality>.<array>`, the config as JSON metadata."""
        arrays = {
            f"{m}.{name}": np.ascontiguousarray(a)
            for m, r in self.modalities.items()
            for name, a in r.arrays().items()
        }
        config = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "settings": self.settings.to_dict(),
            "modalities": {m: r.config() for m, r in self.modalities.items()},
        }
        metadata = {_META_KEY: json.dumps(config)}
        atomic_write(path, lambda tmp: save_file(arrays, tmp, metadata=metadata))

    @classmethod
    def load(cls, path: str | Path) -> Reducer:
        """Inverse of `save`; never unpickles. An unusable file raises ReducerError."""
        try:
            with safe_open(str(path), framework="numpy") as file:
                metadata = file.metadata() or {}
                arrays = {key: file.get_tensor(key) for key in file.keys()}  # noqa: SIM118 (not iterable)
        except (OSError, SafetensorError) as exc:
            raise ReducerError(
                f"{path} is not a readable reducer file ({_first_line(exc)})"
            ) from None
        config = _read_config(path, metadata)
        try:
            settings = ReductionSettings.from_dict(config["settings"])
            modalities = {
                m: ModalityReducer.from_arrays(c, _arrays_of(m, arrays))
                for m, c in config["modalities"].items()
            }
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ReducerError(f"{path}: invalid reducer ({_first_line(exc)})") from None
        if sum(len(r.arrays()) for r in modalities.values()) != len(arrays):
            raise ReducerError(f"{path}: arrays of modalities not in the reducer config")
        return cls(modalities, settings)


class _Sampler:
    """A seeded uniform sample of at most `max_fit_frames` rows, drawn from a stream of batches.

    Each row gets a random key; the rows with the smallest keys are kept.
    """

    def __init__(self, name: str, settings: ReductionSettings) -> None:
        self.name = name
        self.size = settings.max_fit_frames
        self.rng = np.random.default_rng([settings.seed, zlib.crc32(name.encode())])
        self.frames: np.ndarray | None = None
        self.keys = np.empty(0)

    def add(self, frames: np.ndarray) -> None:
        if self.frames is not None and frames.shape[1] != self.frames.shape[1]:
            raise ValueError(
                f"{self.name}: videos disagree on the number of dims "
                f"({self.frames.shape[1]} vs {frames.shape[1]})"
            )
        keys = np.concatenate([self.keys, self.rng.random(len(frames))])
        rows = frames if self.frames is None else np.concatenate([self.frames, frames])
        if len(keys) > self.size:
            keep = np.sort(np.argpartition(keys, self.size)[: self.size])
            keys, rows = keys[keep], rows[keep]
        self.keys, self.frames = keys, rows


def _valid_frames(name: str, stream: np.ndarray, masks: dict[str, np.ndarray]) -> np.ndarray:
    """The rows of `stream` whose mask is True."""
    stream = _check_frames(stream)
    if name not in masks:
        raise ValueError(f"{name}: a stream without a mask")
    mask = np.asarray(masks[name], dtype=bool)
    if mask.shape != (len(stream),):
        raise ValueError(f"{name}: mask of shape {mask.shape} for {len(stream)} frames")
    return stream[mask]


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 2:
        raise ValueError(f"expected frames of shape [T, D], got {frames.shape}")
    return frames


def _sample(frames: np.ndarray, size: int, seed: int) -> np.ndarray:
    """At most `size` rows, drawn without replacement by a seeded generator (order kept)."""
    if len(frames) <= size:
        return frames
    rows = np.random.default_rng(seed).choice(len(frames), size, replace=False)
    return frames[np.sort(rows)]


def _nanmedian(frames: np.ndarray) -> np.ndarray:
    """Per-dim median of the finite values (0 for a dim never measured)."""
    x = np.where(np.isfinite(frames), frames, np.nan).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN dims
        median = np.nanmedian(x, axis=0)
    return np.nan_to_num(median, nan=0.0)


def _impute(frames: np.ndarray, median: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(frames), frames, median)


def _fences(x: np.ndarray, k: float) -> tuple[np.ndarray, np.ndarray]:
    """[Q1 - k IQR, Q3 + k IQR] per dim; +-inf where the IQR is 0."""
    q1, q3 = np.percentile(x, [25, 75], axis=0)
    iqr = q3 - q1
    flat = iqr == 0
    return np.where(flat, -np.inf, q1 - k * iqr), np.where(flat, np.inf, q3 + k * iqr)


def _pca(z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k principal axes of centred `z` [N, D] (signs: largest |loading| positive) and their
    shares of the total variance."""
    _, s, vt = np.linalg.svd(z, full_matrices=False)
    components = vt[:k]
    rows = np.arange(k)
    components *= np.sign(components[rows, np.abs(components).argmax(axis=1)])[:, None]
    power = s**2
    total = power.sum()
    ratio = power[:k] / total if total > 0 else np.zeros(k)
    return components, ratio


def _expected_shapes(config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """The name and shape of every array a modality reducer with this config has."""
    dims, out = int(config["input_dim"]), int(config["output_dim"])
    shapes = {n: (dims,) for n in _BASE_ARRAYS}
    if config["winsorized"]:
        shapes |= {n: (dims,) for n in _FENCE_ARRAYS}
    if config["pca"]:
        shapes |= {"components": (out, dims), "explained_variance_ratio": (out,)}
    return shapes


def _read_config(path: str | Path, metadata: dict[str, str]) -> dict[str, Any]:
    """The reducer config from the safetensors metadata, checked to be ours."""
    try:
        config = json.loads(metadata[_META_KEY])
    except (KeyError, json.JSONDecodeError):
        raise ReducerError(f"{path} is not a talkscore reducer (no reducer metadata)") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ReducerError(f"{path} is not a talkscore reducer (no format marker)")
    version = config.get("format_version")
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise ReducerError(
            f"{path} has reducer format version {version!r}; this talkscore reads "
            f"1..{FORMAT_VERSION}: upgrade talkscore"
        )
    return config


def _arrays_of(modality: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    prefix = f"{modality}."
    return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
