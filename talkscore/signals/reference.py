"""Signals against real recordings: where a video's value sits among real people's.

The reference is the signals of the real recordings of the shared data set
(`examples/build_real_reference.py` writes `assets/real_signals.json`). For a signal whose
direction is "real", the distance from the real median in units of the real recordings'
interquartile range says how far from natural a video is, whichever way (THEval normalises its
metrics by their distance from the real videos' value in the same spirit).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from talkscore.signals.measures import SIGNALS

REFERENCE = Path(__file__).resolve().parent.parent / "assets" / "real_signals.json"


@dataclass(frozen=True)
class RealReference:
    """Each signal's sorted values over real recordings."""

    values: dict[str, np.ndarray]

    @classmethod
    def from_values(cls, rows: list[dict[str, float]]) -> RealReference:
        """From the signals of several real videos (NaN entries dropped)."""
        columns = {name: np.array([r[name] for r in rows], float) for name in SIGNALS}
        return cls({name: np.sort(x[np.isfinite(x)]) for name, x in columns.items()})

    def to_dict(self) -> dict[str, list[float]]:
        return {name: [round(float(v), 6) for v in x] for name, x in self.values.items()}

    def percentile(self, name: str, value: float) -> float:
        """Share of real recordings below `value` (ties count half); NaN without a value or a
        reference."""
        real = self.values.get(name)
        if real is None or len(real) == 0 or not math.isfinite(value):
            return float("nan")
        below = np.searchsorted(real, value, "left")
        at_or_below = np.searchsorted(real, value, "right")
        return float((below + at_or_below) / 2 / len(real))

    def median(self, name: str) -> float:
        """The real recordings' median (NaN without a reference)."""
        real = self.values.get(name)
        return float(np.median(real)) if real is not None and len(real) else float("nan")

    def distance(self, name: str, value: float) -> float:
        """|value - real median| in real interquartile ranges (NaN without a reference)."""
        real = self.values.get(name)
        if real is None or len(real) < 4 or not math.isfinite(value):
            return float("nan")
        q1, median, q3 = np.quantile(real, [0.25, 0.5, 0.75])
        spread = q3 - q1 if q3 > q1 else max(abs(median), 1e-6)
        return float(abs(value - median) / spread)

    def oriented(self, name: str, value: float) -> float:
        """The signal turned so that higher is better: itself, its negative, or its negative
        distance from real recordings, by its direction."""
        direction = SIGNALS[name].direction
        if direction == "higher":
            return value
        if direction == "lower":
            return -value
        return -self.distance(name, value)

    def describe(self, values: dict[str, float]) -> dict[str, dict[str, float | str | None]]:
        """Per signal: its value, direction, percentile among real recordings and distance from
        them (None where not measurable), for `score --json` and reports."""

        def rounded(x: float) -> float | None:
            return round(x, 4) if math.isfinite(x) else None

        return {
            name: {
                "value": rounded(values[name]),
                "better": SIGNALS[name].direction,
                "real_percentile": rounded(self.percentile(name, values[name])),
                "real_distance": rounded(self.distance(name, values[name])),
            }
            for name in SIGNALS
        }


@cache
def real_reference(path: Path = REFERENCE) -> RealReference:
    """The bundled reference (empty, so every comparison is NaN, when the file is absent)."""
    if not path.is_file():
        return RealReference({})
    data = json.loads(path.read_text())
    return RealReference({k: np.sort(np.array(v, float)) for k, v in data["signals"].items()})
