"""A calibration that is too small to memorise: non-negative weights over oriented signals.

Fitted on pairwise preferences (Bradley-Terry: the probability that A is preferred is the
logistic of the weighted difference of their signals), each input first turned so that higher
is better (`RealReference.oriented`) and scaled by its root mean square over the fitting pairs.
Weights are kept >= 0, so the score can only rise with each signal in its documented direction
(monotone), and an L2 penalty pulls them towards 0: with a few dozen pairs it cannot learn which
generator made a video, only how much each signal counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_STEPS = 3000


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
        z = x / scales
        step = 1.0 / (0.25 * np.linalg.norm(z, 2) ** 2 + penalty) if len(z) else 0.0
        w = np.zeros(x.shape[1])
        for _ in range(_STEPS):
            p = 1.0 / (1.0 + np.exp(-(z @ w)))
            w = np.maximum(0.0, w - step * (z.T @ (p - y) + penalty * w))
        return cls(w, scales)

    def margin(self, differences: np.ndarray) -> np.ndarray:
        """`[pairs]` weighted differences (> 0: A preferred)."""
        return (np.asarray(differences, float) / self.scales) @ self.weights

    def to_dict(self, names: list[str]) -> dict[str, dict[str, float]]:
        return {
            n: {"weight": float(w), "scale": float(s)}
            for n, w, s in zip(names, self.weights, self.scales, strict=True)
        }
