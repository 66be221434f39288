"""Per-window scores of a video (`talkscore score --timeline`): settings and the CSV form.

Each window is a dict: `start_s`, `end_s`, `scores` and `std` (task -> value, None where the
window cannot carry the task), `face_coverage`, `sync_scorer_offset_ms` and
`sync_scorer_confidence` (the learned scorer's lag search over the window), `dnsmos_ovrl`
(DNSMOS OVRL of the audio under the window). The CSV has one row per window with the
columns `TIMELINE_COLUMNS` (an unscored task is an empty cell).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from talkscore.files import atomic_write
from talkscore.settings import Settings
from talkscore.tasks import TASKS

WINDOW_FIELDS = ("face_coverage", "sync_scorer_offset_ms", "sync_scorer_confidence", "dnsmos_ovrl")
TIMELINE_COLUMNS = (
    "start_s", "end_s", *TASKS, *(f"{t}_std" for t in TASKS), *WINDOW_FIELDS,
)  # fmt: skip


@dataclass(frozen=True)
class Timeline(Settings):
    """Sliding windows of `window_s` seconds every `hop_s` (the last one ends at the end)."""

    window_s: float = 2.0
    hop_s: float = 1.0

    def validate(self) -> None:
        """Raise ValueError when the window or the hop is not positive."""
        if not (self.window_s > 0 and self.hop_s > 0):
            raise ValueError(f"window and hop must be positive, got {self.window_s}, {self.hop_s}")


def timeline_rows(windows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The CSV rows of a timeline (one per window)."""
    rows = []
    for w in windows:
        row = {"start_s": w["start_s"], "end_s": w["end_s"], **w["scores"]}
        row |= {f"{t}_std": v for t, v in w["std"].items()}
        row |= {k: w[k] for k in WINDOW_FIELDS}
        rows.append(row)
    return rows


def write_timeline_csv(windows: Sequence[dict[str, Any]], path: str | Path) -> None:
    """Write the timeline as CSV (atomically)."""

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, TIMELINE_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(timeline_rows(windows))

    atomic_write(path, write)
