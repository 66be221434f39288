"""What a score means: its band on the scale, and its 95% interval kept on the scale.

On the default 1..5 scale: 1-2 poor, 2-3 fair, 3-4 good, 4-5 excellent (a score on a border
takes the band above it); other scales are cut into the same four equal quarters.
"""

from __future__ import annotations

#: The bands from the bottom of the scale to its top, each a quarter of it.
BANDS: tuple[str, ...] = ("poor", "fair", "good", "excellent")
#: Standard deviations each side of a score in its 95% interval.
Z95 = 1.96


def band(score: float | None, score_range: tuple[float, float] = (1.0, 5.0)) -> str | None:
    """The band of `score` on `score_range`; None for no score."""
    if score is None:
        return None
    low, high = score_range
    quarter = int((score - low) / (high - low) * len(BANDS))
    return BANDS[min(max(quarter, 0), len(BANDS) - 1)]


def interval(
    score: float | None, std: float | None, score_range: tuple[float, float] = (1.0, 5.0)
) -> tuple[float, float] | None:
    """The 95% interval score +- 1.96 std, clipped to `score_range`; None for no score."""
    if score is None or std is None:
        return None
    low, high = score_range
    return max(low, score - Z95 * std), min(high, score + Z95 * std)
