"""A calibration that is too small to memorise: non-negative weights over oriented signals.

Fitted on pairwise preferences (Bradley-Terry: the probability that A is preferred is the
logistic of the weighted difference of their signals), each input first turned so that higher
is better (`RealReference.oriented`) and scaled by its root mean square over the fitting pairs
(and compressed beyond `LIMIT` of those scales, so that one extreme input cannot decide alone).
Weights are kept >= 0, so the score can only rise with each signal in its documented direction
(monotone), and an L2 penalty pulls them towards 0: with a few dozen pairs it cannot learn which
generator made a video, only how much each signal counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from talkscore.tasks import CLEAN_LABEL

if TYPE_CHECKING:
    from talkscore.signals import RealReference

_STEPS = 3000
#: beyond this many of its scales (its RMS over the fitting pairs) an input's difference counts
#: only logarithmically (`limited`): the calibration does not extrapolate far beyond the
#: differences it was fitted on, yet a worse video still scores lower (a hard clip made every
#: blur past a point score alike)
LIMIT = 3.0


def limited(scaled: np.ndarray | float) -> np.ndarray:
    """Scaled differences kept as they are within `LIMIT`, and `LIMIT` + log(1 + the excess)
    beyond it, either way: continuous, with slope 1 at the limit and strictly increasing (50
    scales count 6.9)."""
    z = np.asarray(scaled, float)
    excess = np.maximum(np.abs(z) - LIMIT, 0.0)
    return np.where(excess > 0, np.sign(z) * (LIMIT + np.log1p(excess)), z)


@dataclass(frozen=True)
class SignCalibration:
    """Weights >= 0 over scaled signal differences: margin = sum(w * x / scale)."""

    weights: np.ndarray  # [signals]
    scales: np.ndarray  # [signals], RMS of each input over the fitting pairs (1 where it is 0)

    @classmethod
    def fit(cls, differences: np.ndarray, shares: np.ndarray, penalty: float) -> SignCalibration:
        """Fit on `differences` `[pairs, signals]` (oriented signal of A minus B, 0 where not
        measurable) and the share of votes for A `[pairs]`; minimises the summed cross-entropy
        plus `penalty` / 2 * |w|^2 over w >= 0 (projected gradient descent; convex, so no seed)."""
        if penalty <= 0:
            raise ValueError(f"penalty must be positive, got {penalty}")
        x = np.asarray(differences, float)
        y = np.asarray(shares, float)
        rms = np.sqrt(np.mean(x**2, axis=0)) if len(x) else np.ones(x.shape[1])
        scales = np.where(rms > 0, rms, 1.0)
        z = limited(x / scales)
        step = 1.0 / (0.25 * np.linalg.norm(z, 2) ** 2 + penalty) if len(z) else 0.0
        w = np.zeros(x.shape[1])
        for _ in range(_STEPS):
            p = 1.0 / (1.0 + np.exp(-(z @ w)))
            w = np.maximum(0.0, w - step * (z.T @ (p - y) + penalty * w))
        return cls(w, scales)

    def margin(self, differences: np.ndarray) -> np.ndarray:
        """`[pairs]` weighted differences (> 0: A preferred)."""
        return limited(np.asarray(differences, float) / self.scales) @ self.weights

    def to_dict(self, names: list[str]) -> dict[str, dict[str, float]]:
        return {
            n: {"weight": float(w), "scale": float(s)}
            for n, w, s in zip(names, self.weights, self.scales, strict=True)
        }


CALIBRATION_FILE = "calibration.json"
#: the input of a calibration that is the network's own score of the task (higher is better;
#: typical of a real recording: the label the network learns for a clean one)
NETWORK_INPUT = "network"


@dataclass(frozen=True)
class TaskCalibration:
    """One task scored from the named signals (and the network's score, `NETWORK_INPUT`):
    `top` (what a video whose every input is typical of a real recording scores) plus each
    input's contribution, `points_per_logit` x weight x (its oriented value - the typical
    one) / scale (compressed beyond `LIMIT` scales, `limited`), clipped to the score range. An input
    that cannot be measured contributes nothing."""

    weights: dict[str, float]
    scales: dict[str, float]
    points_per_logit: float
    top: float

    def contributions(self, values: dict[str, float], reference: RealReference) -> dict[str, float]:
        """Signal -> score points it adds (negative: takes away) against a typical real
        recording, for every signal with a weight."""
        out = {}
        for name, weight in self.weights.items():
            if weight == 0:
                continue
            value = values.get(name, float("nan"))
            if name == NETWORK_INPUT:
                difference = value - CLEAN_LABEL
            else:
                typical = reference.oriented(name, reference.median(name))
                difference = reference.oriented(name, value) - typical
            scaled = limited(difference / self.scales[name])
            points = self.points_per_logit * weight * scaled
            out[name] = float(points) if np.isfinite(points) else 0.0
        return out

    def score(
        self, values: dict[str, float], reference: RealReference, score_range: tuple
    ) -> float:
        """The task's score of a video with these signal `values`."""
        points = self.top + sum(self.contributions(values, reference).values())
        return float(np.clip(points, *score_range))

    def to_dict(self) -> dict:
        return {
            "weights": self.weights,
            "scales": self.scales,
            "points_per_logit": self.points_per_logit,
            "top": self.top,
        }


def save_calibration(folder: str | Path, tasks: dict[str, TaskCalibration], about: dict) -> None:
    """`calibration.json` beside a checkpoint: the tasks scored from signals."""
    document = {**about, "tasks": {t: c.to_dict() for t, c in tasks.items()}}
    (Path(folder) / CALIBRATION_FILE).write_text(json.dumps(document, indent=1) + "\n")


def load_calibration(folder: str | Path) -> dict[str, TaskCalibration]:
    """The calibrated tasks of a checkpoint folder (none when it has no calibration.json)."""
    path = Path(folder) / CALIBRATION_FILE
    if not path.is_file():
        return {}
    tasks = json.loads(path.read_text())["tasks"]
    return {task: TaskCalibration(**entry) for task, entry in tasks.items()}
