"""Training logs: one JSON object per line (`log.jsonl`) and TensorBoard events (`tensorboard/`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from talkscore.jsonable import jsonable

JSONL_FILE = "log.jsonl"
TENSORBOARD_DIR = "tensorboard"


def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested dict as `{"a/b/c": value}`."""
    flat: dict[str, float] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}/"))
        elif isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(
            value, bool
        ):
            flat[name] = float(value)
    return flat


def correlation_image(matrix: np.ndarray, cell: int = 24) -> np.ndarray:
    """A `[3, H, W]` uint8 heatmap of a correlation matrix: blue -1, white 0, red +1."""
    m = np.clip(np.nan_to_num(np.asarray(matrix, float)), -1.0, 1.0)
    pos, neg = np.clip(m, 0, 1), np.clip(-m, 0, 1)
    rgb = np.stack([1 - neg, 1 - pos - neg, 1 - pos], axis=0)  # white fades to red or blue
    rgb = np.kron(rgb, np.ones((1, cell, cell)))
    return (rgb * 255).round().astype(np.uint8)


class RunLog:
    """Writes epoch records to JSON lines and TensorBoard under `folder`."""

    def __init__(self, folder: str | Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._jsonl = (self.folder / JSONL_FILE).open("a", encoding="utf-8")
        self._tensorboard = SummaryWriter(str(self.folder / TENSORBOARD_DIR))

    def write(self, record: dict[str, Any], step: int) -> None:
        """Append `record` as one JSON line and its numeric fields as TensorBoard scalars."""
        self._jsonl.write(json.dumps(jsonable(record), allow_nan=False) + "\n")
        self._jsonl.flush()
        for name, value in flatten(record).items():
            if np.isfinite(value):
                self._tensorboard.add_scalar(name, value, step)

    def correlation(self, matrix: np.ndarray, tasks: Sequence[str], step: int) -> None:
        """The task-by-task prediction correlation matrix as an image (tasks in config order)."""
        self._tensorboard.add_image(
            f"prediction_correlation ({', '.join(tasks)})", correlation_image(matrix), step
        )

    def close(self) -> None:
        self._jsonl.close()
        self._tensorboard.close()
