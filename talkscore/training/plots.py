"""PNG figures of a training run: learning curves, task weights, correlations and scatter plots.

Uses matplotlib's object-oriented API with the Agg canvas only, so importing this module never
changes the user's global matplotlib backend and no pyplot state is left behind.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

try:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator
except ImportError as error:  # pragma: no cover - matplotlib is an optional extra
    raise ImportError(
        "talkscore.training.plots needs matplotlib; install it with `pip install matplotlib`"
    ) from error

from talkscore.tasks import MISSING_LABEL
from talkscore.training.metrics import regression_metrics

#: Resolution of every written PNG.
DPI = 100

#: File names written by `write_training_plots`, keyed by the name it returns them under.
PLOT_FILES = {
    "learning_curves": "learning_curves.png",
    "task_weights": "task_weights.png",
    "prediction_correlation": "prediction_correlation.png",
    "scatter": "scatter.png",
}


def _save(figure: Figure, path: str | Path) -> Path:
    """Render `figure` to `path` as PNG through a private Agg canvas; create the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(path, format="png", dpi=DPI, bbox_inches="tight")
    figure.clear()
    return path


def _epoch_axis(axes) -> None:
    """Whole-number epoch ticks and a light grid."""
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)


def _epochs(history: Sequence[dict[str, Any]]) -> list[int]:
    return [int(record.get("epoch", i + 1)) for i, record in enumerate(history)]


def _check_history(history: Sequence[dict[str, Any]]) -> None:
    if not history:
        raise ValueError("history is empty: train for at least one epoch before plotting")


def _series(history: Sequence[dict[str, Any]], key: str) -> list[float]:
    return [float(record.get(key, math.nan)) for record in history]


def _task_series(history: Sequence[dict[str, Any]], key: str, field: str | None = None):
    """`{task: [value per epoch]}` of a per-task dict in each record (NaN where absent)."""
    tasks: list[str] = []
    for record in history:
        tasks += [t for t in record.get(key, {}) if t not in tasks]
    series = {}
    for task in tasks:
        values = []
        for record in history:
            value = record.get(key, {}).get(task, math.nan)
            if field is not None:
                value = value.get(field, math.nan) if isinstance(value, dict) else math.nan
            values.append(float(value))
        series[task] = values
    return series


def plot_learning_curves(history: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Training loss (and NLL, consistency when non-zero) per epoch; validation SRCC per task.

    The SRCC panel is drawn only when some record has "val".
    """
    _check_history(history)
    epochs = _epochs(history)
    validation = _task_series(history, "val", "srcc")
    panels = 2 if validation else 1
    figure = Figure(figsize=(6.5 * panels, 4.5))
    loss_axes = figure.add_subplot(1, panels, 1)
    loss_axes.plot(epochs, _series(history, "loss"), marker="o", label="total loss")
    for key in ("nll", "consistency"):
        values = _series(history, key)
        if any(np.isfinite(v) and v != 0 for v in values):
            loss_axes.plot(epochs, values, marker=".", linestyle="--", label=key)
    loss_axes.set(title="Training loss", xlabel="epoch", ylabel="loss")
    _epoch_axis(loss_axes)
    loss_axes.legend()
    if validation:
        srcc_axes = figure.add_subplot(1, panels, 2)
        for task, values in validation.items():
            srcc_axes.plot(epochs, values, marker="o", label=task)
        srcc_axes.set(title="Validation SRCC", xlabel="epoch", ylabel="SRCC", ylim=(-1.05, 1.05))
        srcc_axes.axhline(0, color="grey", linewidth=0.8)
        _epoch_axis(srcc_axes)
        srcc_axes.legend(fontsize="small")
    figure.tight_layout()
    return _save(figure, path)


def plot_task_weights(history: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """The loss weight of each task per epoch."""
    _check_history(history)
    epochs = _epochs(history)
    figure = Figure(figsize=(6.5, 4.5))
    axes = figure.add_subplot()
    for task, values in _task_series(history, "task_weight").items():
        axes.plot(epochs, values, marker="o", label=task)
    axes.set(title="Task weights", xlabel="epoch", ylabel="weight")
    _epoch_axis(axes)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small")
    figure.tight_layout()
    return _save(figure, path)


def plot_correlation_heatmap(
    matrix: np.ndarray,
    tasks: Sequence[str],
    path: str | Path,
    title: str = "Correlation between task predictions",
) -> Path:
    """A `[K, K]` correlation matrix as an annotated heatmap on a fixed -1..1 diverging scale."""
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2 or matrix.shape != (len(tasks), len(tasks)):
        raise ValueError(
            f"matrix has shape {matrix.shape}; expected ({len(tasks)}, {len(tasks)}) "
            f"for tasks {list(tasks)}"
        )
    size = 1.2 + 1.1 * len(tasks)
    figure = Figure(figsize=(size + 1.5, size))
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    ticks = range(len(tasks))
    axes.set_xticks(ticks, labels=list(tasks), rotation=35, ha="right")
    axes.set_yticks(ticks, labels=list(tasks))
    for i in ticks:
        for j in ticks:
            value = matrix[i, j]
            color = "white" if np.isfinite(value) and abs(value) > 0.6 else "black"
            axes.text(j, i, f"{value:.2f}", ha="center", va="center", color=color)
    axes.set_title(title)
    figure.tight_layout()
    return _save(figure, path)


def _valid_labels(labels: np.ndarray) -> np.ndarray:
    return np.isfinite(labels) & (labels != MISSING_LABEL)


def labelled_tasks(labels: np.ndarray, tasks: Sequence[str]) -> list[str]:
    """The tasks with at least one valid label (finite and not -1) in `labels [N, K]`."""
    labels = np.asarray(labels, dtype=float)
    return [task for k, task in enumerate(tasks) if _valid_labels(labels[:, k]).any()]


def _check_arrays(scores: np.ndarray, labels: np.ndarray, tasks: Sequence[str]) -> None:
    if scores.ndim != 2 or scores.shape != labels.shape or scores.shape[1] != len(tasks):
        raise ValueError(
            f"scores {scores.shape} and labels {labels.shape} must both be [N, {len(tasks)}] "
            f"for tasks {list(tasks)}"
        )


def plot_scatter(
    scores: np.ndarray, labels: np.ndarray, tasks: Sequence[str], path: str | Path
) -> Path:
    """Predicted score against label, one panel per task with any label, PLCC/SRCC in the title.

    Missing labels (NaN or -1) are left out; tasks without any label get no panel.
    """
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=float)
    _check_arrays(scores, labels, tasks)
    shown = labelled_tasks(labels, tasks)
    if not shown:
        raise ValueError("no task has a label: there is nothing to scatter")
    columns = 2 if len(shown) == 4 else min(len(shown), 3)
    rows = math.ceil(len(shown) / columns)
    figure = Figure(figsize=(4.2 * columns, 4.0 * rows))
    for index, task in enumerate(shown, start=1):
        k = list(tasks).index(task)
        valid = _valid_labels(labels[:, k]) & np.isfinite(scores[:, k])
        x, y = labels[valid, k], scores[valid, k]
        metrics = regression_metrics(y, x)
        axes = figure.add_subplot(rows, columns, index)
        axes.scatter(x, y, s=14, alpha=0.7, edgecolors="none")
        values = np.concatenate([x, y])
        low, high = (values.min(), values.max()) if values.size else (0.0, 1.0)
        margin = 0.05 * (high - low or 1.0)
        limits = (low - margin, high + margin)
        axes.plot(limits, limits, color="grey", linestyle="--", linewidth=1)
        axes.set(xlim=limits, ylim=limits, xlabel="label", ylabel="predicted")
        axes.set_aspect("equal")
        axes.grid(alpha=0.3)
        axes.set_title(
            f"{task} (n={metrics['n']})\nPLCC {metrics['plcc']:.3f}  SRCC {metrics['srcc']:.3f}",
            fontsize="medium",
        )
    figure.tight_layout()
    return _save(figure, path)


def write_training_plots(
    folder: str | Path,
    history: Sequence[dict[str, Any]],
    predictions_scores: np.ndarray,
    predictions_labels: np.ndarray,
    tasks: Sequence[str],
) -> dict[str, Path]:
    """Write every training figure into `folder`; returns `{name: path}` of what was written.

    The correlation heatmap comes from the last record with "prediction_correlation" and is
    skipped when there is none; the scatter plot is skipped when no task has a label.
    """
    folder = Path(folder)
    written = {
        "learning_curves": plot_learning_curves(history, folder / PLOT_FILES["learning_curves"]),
        "task_weights": plot_task_weights(history, folder / PLOT_FILES["task_weights"]),
    }
    correlations = [r["prediction_correlation"] for r in history if "prediction_correlation" in r]
    if correlations:
        written["prediction_correlation"] = plot_correlation_heatmap(
            correlations[-1], tasks, folder / PLOT_FILES["prediction_correlation"]
        )
    scores = np.asarray(predictions_scores, dtype=float)
    labels = np.asarray(predictions_labels, dtype=float)
    _check_arrays(scores, labels, tasks)
    if labelled_tasks(labels, tasks):
        written["scatter"] = plot_scatter(scores, labels, tasks, folder / PLOT_FILES["scatter"])
    return written
