"""Tests for PLCC/SRCC/KRCC/RMSE/MAE per task and their averages."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from talkscore.training.metrics import METRICS, mean_metric, regression_metrics, task_metrics

CORRELATIONS = ("plcc", "srcc", "krcc")


def _scipy_metrics(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return {
        "n": len(p),
        "plcc": stats.pearsonr(p, y)[0],
        "srcc": stats.spearmanr(p, y)[0],
        "krcc": stats.kendalltau(p, y)[0],
        "rmse": np.sqrt(np.mean((p - y) ** 2)),
        "mae": np.mean(np.abs(p - y)),
    }


def _assert_metrics_equal(got: dict[str, float], expected: dict[str, float]) -> None:
    assert set(got) == set(METRICS)
    assert got["n"] == expected["n"]
    for name in METRICS[1:]:
        assert got[name] == pytest.approx(expected[name], rel=1e-9, abs=1e-12), name


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n", [5, 40])
def test_regression_metrics_match_scipy_and_numpy(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.uniform(1, 5, size=n)
    predictions = labels + rng.normal(scale=0.8, size=n)
    got = regression_metrics(predictions, labels)
    _assert_metrics_equal(got, _scipy_metrics(predictions, labels))
    assert all(math.isfinite(got[m]) for m in METRICS)


def test_regression_metrics_handle_ties_like_scipy() -> None:
    labels = np.array([1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 5.0])
    predictions = np.array([1.5, 2.5, 2.5, 2.0, 4.5, 3.0, 3.0])
    _assert_metrics_equal(
        regression_metrics(predictions, labels), _scipy_metrics(predictions, labels)
    )


@pytest.mark.parametrize("marker", [float("nan"), -1.0], ids=["nan", "minus-one"])
def test_missing_labels_are_excluded(marker: float) -> None:
    rng = np.random.default_rng(3)
    labels = rng.uniform(1, 5, size=20)
    predictions = labels + rng.normal(scale=0.5, size=20)
    missing = np.zeros(20, dtype=bool)
    missing[[0, 4, 7, 13, 19]] = True
    # a wild prediction where the label is missing must not count
    predictions[missing] = 100.0
    masked = labels.copy()
    masked[missing] = marker

    got = regression_metrics(predictions, masked)
    assert got["n"] == 15
    _assert_metrics_equal(got, _scipy_metrics(predictions[~missing], labels[~missing]))


def test_mixed_markers_and_nan_predictions_are_excluded() -> None:
    labels = np.array([1.0, np.nan, 3.0, -1.0, 5.0, 2.0])
    predictions = np.array([1.2, 2.0, 2.9, 4.0, np.nan, 2.5])
    got = regression_metrics(predictions, labels)
    keep = [0, 2, 5]
    assert got["n"] == 3
    _assert_metrics_equal(got, _scipy_metrics(predictions[keep], labels[keep]))


def test_no_valid_labels_gives_n_zero_and_nan() -> None:
    got = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([np.nan, -1.0, np.nan]))
    assert got["n"] == 0
    assert all(math.isnan(got[m]) for m in METRICS[1:])


@pytest.mark.parametrize("constant", [1.0, 3.3])
def test_constant_predictions_give_nan_correlation_but_finite_errors(constant: float) -> None:
    labels = np.array([1.0, 2.0, 3.5, 4.0, 5.0])
    predictions = np.full(5, constant)
    got = regression_metrics(predictions, labels)
    assert got["n"] == 5
    for name in CORRELATIONS:
        assert math.isnan(got[name]), name
    assert got["rmse"] == pytest.approx(np.sqrt(np.mean((constant - labels) ** 2)), rel=1e-12)
    assert got["mae"] == pytest.approx(np.mean(np.abs(constant - labels)), rel=1e-12)


def test_single_valid_label_gives_nan_correlation() -> None:
    got = regression_metrics(np.array([2.0, 3.0]), np.array([2.5, np.nan]))
    assert got["n"] == 1
    assert all(math.isnan(got[name]) for name in CORRELATIONS)
    assert got["rmse"] == pytest.approx(0.5, rel=1e-12)


@pytest.mark.parametrize("marker", [float("nan"), -1.0], ids=["nan", "minus-one"])
def test_task_metrics_drops_tasks_without_labels(marker: float) -> None:
    rng = np.random.default_rng(4)
    tasks = ("a", "b", "c")
    labels = rng.uniform(1, 5, size=(12, 3))
    predictions = labels + rng.normal(scale=0.3, size=(12, 3))
    labels[:, 1] = marker
    labels[::3, 2] = marker

    got = task_metrics(predictions, labels, tasks)
    assert list(got) == ["a", "c"]
    _assert_metrics_equal(got["a"], _scipy_metrics(predictions[:, 0], labels[:, 0]))
    assert got["c"]["n"] == 8
    keep = np.arange(12) % 3 != 0
    _assert_metrics_equal(got["c"], _scipy_metrics(predictions[keep, 2], labels[keep, 2]))


def test_mean_metric_ignores_nan() -> None:
    per_task = {
        "a": {"srcc": 0.8, "rmse": 0.5},
        "b": {"srcc": float("nan"), "rmse": 1.5},
        "c": {"srcc": 0.4, "rmse": 1.0},
    }
    assert mean_metric(per_task, "srcc") == pytest.approx(0.6, rel=1e-12)
    assert mean_metric(per_task, "rmse") == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("per_task", [{}, {"a": {"srcc": float("nan")}}], ids=["empty", "all-nan"])
def test_mean_metric_without_values_is_nan(per_task: dict) -> None:
    assert math.isnan(mean_metric(per_task, "srcc"))
