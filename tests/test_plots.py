"""Training figures: every plot writes a real, non-blank PNG and leaves matplotlib's state alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from matplotlib import image as mpimg

from talkscore.tasks import TASKS
from talkscore.training.plots import (
    labelled_tasks,
    plot_correlation_heatmap,
    plot_learning_curves,
    plot_scatter,
    plot_task_weights,
    write_training_plots,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def make_history(epochs: int = 4, validation: bool = True, tasks=TASKS) -> list[dict]:
    rng = np.random.default_rng(0)
    history = []
    for epoch in range(1, epochs + 1):
        record = {
            "epoch": epoch,
            "loss": 2.0 / epoch,
            "nll": 1.5 / epoch,
            "consistency": 0.1 / epoch,
            "lr": 1e-3,
            "task_loss": {t: float(rng.random()) for t in tasks},
            "task_weight": {t: float(1 + 0.1 * epoch * k) for k, t in enumerate(tasks)},
            "monitor": -2.0 / epoch,
        }
        if validation:
            record["val"] = {
                t: {
                    "n": 20,
                    "plcc": 0.1 * epoch,
                    "srcc": 0.1 * epoch + 0.02 * k,
                    "krcc": 0.1,
                    "rmse": 1.0,
                    "mae": 0.8,
                }
                for k, t in enumerate(tasks)
            }
            matrix = np.corrcoef(rng.normal(size=(30, len(tasks))), rowvar=False)
            record["prediction_correlation"] = matrix
        history.append(record)
    return history


def make_predictions(n: int = 40, tasks=TASKS, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.uniform(1, 5, size=(n, len(tasks)))
    scores = labels + rng.normal(scale=0.5, size=labels.shape)
    labels[rng.random(labels.shape) < 0.2] = np.nan
    return scores, labels


def assert_png(path) -> np.ndarray:
    assert path.is_file() and path.stat().st_size > 0
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = mpimg.imread(path)
    assert pixels.std() > 0, f"{path.name} is a single flat colour"
    return pixels


@pytest.mark.parametrize("validation", [True, False])
def test_learning_curves(tmp_path, validation):
    path = plot_learning_curves(make_history(validation=validation), tmp_path / "curves.png")
    pixels = assert_png(path)
    # The SRCC panel doubles the width; without "val" only the loss panel is drawn.
    height, width = pixels.shape[:2]
    assert (width > 1.6 * height) == validation


def test_learning_curves_reject_empty_history(tmp_path):
    with pytest.raises(ValueError, match="history is empty"):
        plot_learning_curves([], tmp_path / "curves.png")


def test_task_weights(tmp_path):
    assert_png(plot_task_weights(make_history(validation=False), tmp_path / "weights.png"))


def test_correlation_heatmap(tmp_path):
    matrix = make_history(epochs=1)[0]["prediction_correlation"]
    path = plot_correlation_heatmap(matrix, TASKS, tmp_path / "sub" / "corr.png", title="corr")
    assert_png(path)


def test_correlation_heatmap_checks_shape(tmp_path):
    with pytest.raises(ValueError, match="expected"):
        plot_correlation_heatmap(np.eye(3), TASKS, tmp_path / "corr.png")


def test_scatter_skips_unlabelled_task(tmp_path):
    tasks = TASKS[:3]
    scores, labels = make_predictions(tasks=tasks)
    full = assert_png(plot_scatter(scores, labels, tasks, tmp_path / "full.png"))
    labels[:, 1] = np.nan
    assert labelled_tasks(labels, tasks) == [tasks[0], tasks[2]]
    skipped = assert_png(plot_scatter(scores, labels, tasks, tmp_path / "skipped.png"))
    # One panel fewer in the same single row: a narrower image.
    assert skipped.shape[1] < 0.8 * full.shape[1]


def test_scatter_treats_minus_one_as_missing(tmp_path):
    scores, labels = make_predictions(tasks=TASKS[:2])
    labels[:, 0] = -1.0
    assert labelled_tasks(labels, TASKS[:2]) == [TASKS[1]]
    assert_png(plot_scatter(scores, labels, TASKS[:2], tmp_path / "scatter.png"))


def test_write_training_plots(tmp_path):
    scores, labels = make_predictions()
    written = write_training_plots(tmp_path, make_history(), scores, labels, TASKS)
    assert set(written) == {
        "learning_curves",
        "task_weights",
        "prediction_correlation",
        "scatter",
    }
    for name, path in written.items():
        assert path == tmp_path / f"{name}.png"
        assert_png(path)


def test_write_training_plots_without_validation_or_labels(tmp_path):
    scores, labels = make_predictions()
    labels[:] = np.nan
    history = make_history(validation=False)
    written = write_training_plots(tmp_path, history, scores, labels, TASKS)
    assert set(written) == {"learning_curves", "task_weights"}
    assert not (tmp_path / "scatter.png").exists()
    assert not (tmp_path / "prediction_correlation.png").exists()


def test_import_and_plotting_leave_global_backend_alone(tmp_path):
    script = f"""
import json, sys
import matplotlib
before = matplotlib.rcParams["backend"]
import talkscore.training.plots
from talkscore.training.plots import plot_task_weights
plot_task_weights([{{"epoch": 1, "task_weight": {{"a": 1.0}}}}], {str(tmp_path / "w.png")!r})
print(json.dumps({{
    "before": before,
    "after": matplotlib.rcParams["backend"],
    "backend": matplotlib.get_backend(),
    "pyplot": "matplotlib.pyplot" in sys.modules,
}}))
"""
    env = {**os.environ, "MPLBACKEND": "svg"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    state = json.loads(result.stdout.strip().splitlines()[-1])
    assert state["before"] == state["after"] == state["backend"] == "svg"
    assert not state["pyplot"]
