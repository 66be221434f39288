"""Agreement between predicted scores and labels: PLCC, SRCC, KRCC, RMSE, MAE per task."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from talkscore.tasks import MISSING_LABEL

METRICS = ("n", "plcc", "srcc", "krcc", "rmse", "mae")


def _correlation(fn, a: np.ndarray, b: np.ndarray) -> float:
    """A scipy correlation, NaN where it is undefined (fewer than 2 values, or constant)."""
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(fn(a, b)[0])


def regression_metrics(predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Metrics of one task over its valid labels (finite and not -1)."""
    predictions, labels = np.asarray(predictions, float), np.asarray(labels, float)
    valid = np.isfinite(labels) & (labels != MISSING_LABEL) & np.isfinite(predictions)
    p, y = predictions[valid], labels[valid]
    if len(p) == 0:
        return {"n": 0, **{m: float("nan") for m in METRICS[1:]}}
    return {
        "n": int(len(p)),
        "plcc": _correlation(stats.pearsonr, p, y),
        "srcc": _correlation(stats.spearmanr, p, y),
        "krcc": _correlation(stats.kendalltau, p, y),
        "rmse": float(np.sqrt(np.mean((p - y) ** 2))),
        "mae": float(np.mean(np.abs(p - y))),
    }


def task_metrics(
    predictions: np.ndarray, labels: np.ndarray, tasks: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    """`{task: metrics}` for `[N, K]` predictions and labels; tasks without labels are left out."""
    result = {}
    for k, task in enumerate(tasks):
        metrics = regression_metrics(predictions[:, k], labels[:, k])
        if metrics["n"]:
            result[task] = metrics
    return result


def mean_metric(per_task: dict[str, dict[str, float]], name: str) -> float:
    """Mean of one metric over the tasks where it is defined (NaN when none)."""
    values = [m[name] for m in per_task.values() if np.isfinite(m[name])]
    return float(np.mean(values)) if values else float("nan")
