"""Synthetic feature sets whose targets depend on known parts of the inputs.

For tests, benchmarks and smoke checks of the model and trainer; no video is involved.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from talkscore.reduction import TARGET_DIMS
from talkscore.samples import Sample
from talkscore.tasks import OVERALL_TASK, TASKS

#: Feature sizes after the design's reduction.
REDUCED_DIMS: dict[str, int] = dict(TARGET_DIMS)

#: Which modality carries each task's latent factor in `factor_samples`.
FACTOR_MODALITY: dict[str, str] = {
    "lip_sync": "keypoint",
    "expression": "au",
    "audio_quality": "audio",
    "cross_modal": "visual",
}

_SIGNAL_DIMS = 8  # a factor is written along a random direction in the first 8 feature dims
_DIRECTION_SEED = 20261125  # fixed: every split shares one factor-to-feature mapping


def factor_samples(
    n: int,
    *,
    dims: Mapping[str, int] = REDUCED_DIMS,
    frames: tuple[int, int] = (24, 48),
    seed: int = 0,
    label_noise: Mapping[str, float] | None = None,
    faceless_fraction: float = 0.1,
) -> list[Sample]:
    """Samples whose task scores are linear in hidden factors written into known modalities.

    Each task t (but overall) has a factor z_t ~ U(0, 1); every frame of modality
    FACTOR_MODALITY[t] carries z_t along a fixed random direction plus unit Gaussian noise (other
    modalities carry noise only), and
    the label is 1 + 4 z_t. `overall` is the mean of the others. `label_noise` adds Gaussian
    noise of that std to a task's labels. A fraction of keypoint and au frames is "faceless":
    masked and filled with NaN. The directions do not depend on `seed`, so splits made with
    different seeds share one mapping.
    """
    short = {
        m: dims[m] for m in FACTOR_MODALITY.values() if dims.get(m, _SIGNAL_DIMS) < _SIGNAL_DIMS
    }
    if short:
        raise ValueError(f"factor modalities need at least {_SIGNAL_DIMS} dims, got {short}")
    directions = _factor_directions()
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        length = int(rng.integers(frames[0], frames[1] + 1))
        factors = {task: rng.uniform() for task in FACTOR_MODALITY}
        features = {m: rng.normal(size=(length, d)).astype(np.float32) for m, d in dims.items()}
        for task, modality in FACTOR_MODALITY.items():
            if modality in features:
                features[modality][:, :_SIGNAL_DIMS] += 3.0 * factors[task] * directions[task]
        masks = {}
        for modality in ("keypoint", "au"):
            if modality in features:
                masks[modality] = rng.uniform(size=length) >= faceless_fraction
                features[modality][~masks[modality]] = np.nan
        labels = _factor_labels(factors, label_noise or {}, rng)
        samples.append(Sample(features, labels, masks, name=f"factor-{seed}-{i}"))
    return samples


def _factor_directions() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(_DIRECTION_SEED)
    directions = {}
    for task in FACTOR_MODALITY:
        v = rng.normal(size=_SIGNAL_DIMS)
        directions[task] = (v / np.linalg.norm(v)).astype(np.float32)
    return directions


def _factor_labels(
    factors: Mapping[str, float], noise: Mapping[str, float], rng: np.random.Generator
) -> np.ndarray:
    values = {t: 1.0 + 4.0 * z for t, z in factors.items()}
    values[OVERALL_TASK] = float(np.mean(list(values.values())))
    labels = np.array([values[t] for t in TASKS], dtype=np.float32)
    for task, std in noise.items():
        labels[TASKS.index(task)] += rng.normal(scale=std)
    return labels


def planted_shift_samples(
    n: int, *, frames: int = 48, dim: int = 8, shifts: tuple[int, int] = (3, 8), seed: int = 0
) -> list[Sample]:
    """Audio and keypoint streams driven by one signal; half the samples shift it in time.

    keypoint_t = K s_(t - shift) and audio_t = A s_t (plus noise), with a circular shift of 0
    (label 5 for lip_sync and cross_modal) or +-shifts[0]..shifts[1] frames (label 1). The
    frames of each stream are the same set either way, so only frame-level interaction between
    the streams can tell the two apart. Other tasks are unlabelled. The mixing matrices do not
    depend on `seed`.
    """
    mix_audio, mix_keypoint = np.random.default_rng(_DIRECTION_SEED).normal(size=(2, 4, dim))
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        raw = rng.normal(size=(frames + 2, 4))
        signal = (raw[:-2] + raw[1:-1] + raw[2:]) / np.sqrt(3)  # mildly smooth, unit variance
        aligned = i % 2 == 0
        shift = 0 if aligned else int(rng.integers(shifts[0], shifts[1] + 1)) * rng.choice([-1, 1])
        noise = 0.1 * rng.normal(size=(2, frames, dim))
        audio = signal @ mix_audio + noise[0]
        keypoint = np.roll(signal, shift, axis=0) @ mix_keypoint + noise[1]
        labels = np.full(len(TASKS), np.nan, dtype=np.float32)
        labels[[TASKS.index("lip_sync"), TASKS.index("cross_modal")]] = 5.0 if aligned else 1.0
        features = {"audio": audio.astype(np.float32), "keypoint": keypoint.astype(np.float32)}
        samples.append(Sample(features, labels, name=f"shift-{seed}-{i}-{shift}"))
    return samples
