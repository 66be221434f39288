"""Cutting a timeline (frames or samples) into spans, `[start, end)` index pairs: long videos into
segments, timelines and DNSMOS audio into sliding windows."""

from __future__ import annotations

import numpy as np


def sliding(length: int, window: int, hop: int) -> list[tuple[int, int]]:
    """Windows of `window` every `hop`; the last one is moved to end at `length`, so the
    windows cover everything; a timeline no longer than `window` is one window."""
    if length <= window:
        return [(0, length)]
    starts = list(range(0, length - window + 1, hop))
    if starts[-1] + window < length:
        starts.append(length - window)
    return [(s, s + window) for s in starts]


def equal(length: int, most: int) -> list[tuple[int, int]]:
    """The fewest equal windows of at most `most` that cover the timeline."""
    count = max(1, -(-length // most))
    bounds = np.linspace(0, length, count + 1).round().astype(int)
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))
