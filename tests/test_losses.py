"""Tests for the masked task loss, the Gaussian NLL, the consistency regularisers and the
pairwise ranking loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from talkscore.models.losses import (
    CONSISTENCY_MODES,
    L1_WEIGHT,
    consistency_loss,
    gaussian_nll,
    pairwise_ranking_loss,
    task_losses,
    valid_labels,
)

MISSING_MARKERS = (float("nan"), -1.0)
SPAN = 4.0  # the default 1..5 scale

# 3 samples x 4 tasks; the last task has no label at all, the others miss some.
SCORES = np.array(
    [
        [2.0, 3.5, 1.2, 4.0],
        [4.5, 1.0, 2.8, 2.0],
        [3.0, 2.2, 4.9, 3.3],
    ],
    dtype=np.float32,
)
LABELS = np.array(
    [
        [1.0, 4.0, np.nan, np.nan],
        [5.0, -1.0, 3.0, -1.0],
        [-1.0, 2.0, 4.0, np.nan],
    ],
    dtype=np.float32,
)

# 4 samples x 3 tasks, columns deliberately different in spread and direction.
PREDICTIONS = np.array(
    [
        [1.0, 2.0, 4.5],
        [2.5, 2.0, 3.0],
        [3.0, 4.5, 2.0],
        [4.0, 3.5, 1.5],
    ]
)


def _with_marker(labels: np.ndarray, marker: float) -> np.ndarray:
    """The same labels with every missing entry written as `marker`."""
    out = labels.copy()
    out[~np.isfinite(labels) | (labels == -1.0)] = marker
    return out


def _hand_task_losses(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    losses, has = [], []
    for k in range(scores.shape[1]):
        valid = np.isfinite(labels[:, k]) & (labels[:, k] != -1.0)
        err = scores[valid, k].astype(float) - labels[valid, k]
        losses.append(np.mean(err**2 + 0.1 * np.abs(err)) if valid.any() else 0.0)
        has.append(bool(valid.any()))
    return np.array(losses), np.array(has)


def _upper(matrix: np.ndarray) -> np.ndarray:
    return matrix[np.triu_indices(matrix.shape[0], k=1)]


# -- task_losses ---------------------------------------------------------------------------


@pytest.mark.parametrize("marker", MISSING_MARKERS, ids=["nan", "minus-one"])
def test_valid_labels_rejects_marker_and_nan(marker: float) -> None:
    labels = torch.tensor([1.0, marker, 5.0, float("inf"), 0.0])
    assert valid_labels(labels).tolist() == [True, False, True, False, True]


@pytest.mark.parametrize("marker", MISSING_MARKERS, ids=["nan", "minus-one"])
def test_task_losses_match_hand_computed_mse_plus_l1(marker: float) -> None:
    labels = _with_marker(LABELS, marker)
    losses, has_labels = task_losses(torch.tensor(SCORES), torch.tensor(labels))
    expected, expected_has = _hand_task_losses(SCORES, LABELS)
    assert L1_WEIGHT == 0.1
    np.testing.assert_allclose(losses.numpy(), expected, rtol=1e-6, atol=1e-7)
    assert has_labels.tolist() == expected_has.tolist() == [True, True, True, False]


@pytest.mark.parametrize("marker", MISSING_MARKERS, ids=["nan", "minus-one"])
def test_unlabelled_task_has_zero_loss_and_no_gradient(marker: float) -> None:
    scores = torch.tensor(SCORES, requires_grad=True)
    labels = torch.tensor(_with_marker(LABELS, marker))
    losses, has_labels = task_losses(scores, labels)

    assert losses[3].item() == 0.0
    assert not has_labels[3]
    losses.sum().backward()
    grad = scores.grad
    assert torch.equal(grad[:, 3], torch.zeros(3))
    # a missing entry of a labelled task also gets no gradient; valid entries do
    missing = ~valid_labels(labels)
    assert torch.equal(grad[missing], torch.zeros(int(missing.sum())))
    assert (grad[~missing].abs() > 1e-4).all()
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("batch", [1, 5])
def test_task_losses_are_zero_at_perfect_prediction(batch: int) -> None:
    labels = torch.linspace(1, 5, batch * 3).reshape(batch, 3)
    scores = labels.clone().requires_grad_(True)
    losses, has_labels = task_losses(scores, labels)
    assert torch.equal(losses, torch.zeros(3))
    assert has_labels.all()


# -- gaussian_nll --------------------------------------------------------------------------


@pytest.mark.parametrize("marker", MISSING_MARKERS, ids=["nan", "minus-one"])
def test_gaussian_nll_matches_formula_over_valid_entries(marker: float) -> None:
    log_var = np.array(
        [[0.5, -1.0, 2.0, 0.0], [-2.0, 1.5, 0.3, -0.7], [1.0, 0.0, -0.4, 3.0]], dtype=np.float32
    )
    labels = _with_marker(LABELS, marker)
    nll = gaussian_nll(torch.tensor(SCORES), torch.tensor(log_var), torch.tensor(labels))

    valid = np.isfinite(LABELS) & (LABELS != -1.0)
    err = SCORES[valid].astype(float) - LABELS[valid]
    lv = log_var[valid].astype(float)
    expected = np.mean(0.5 * (lv + err**2 * np.exp(-lv)))
    assert nll.item() == pytest.approx(expected, rel=1e-6)


def test_gaussian_nll_trains_only_log_var() -> None:
    scores = torch.tensor(SCORES, requires_grad=True)
    # exp(0.3) is no squared error of the example, so no valid entry sits at its optimum
    log_var = torch.full_like(scores, 0.3, requires_grad=True)
    labels = torch.tensor(LABELS)
    gaussian_nll(scores, log_var, labels).backward()

    assert scores.grad is None or torch.equal(scores.grad, torch.zeros_like(scores))
    valid = valid_labels(labels)
    assert (log_var.grad[valid].abs() > 1e-4).all()
    assert torch.equal(log_var.grad[~valid], torch.zeros(int((~valid).sum())))


@pytest.mark.parametrize("error", [0.1, 0.5, 2.0])
def test_gaussian_nll_is_minimised_at_log_squared_error(error: float) -> None:
    optimum = math.log(error**2)
    scores = torch.full((3, 1), 3.0, dtype=torch.float64)
    labels = scores + error
    offsets = torch.tensor([-0.5, 0.0, 0.5], dtype=torch.float64)
    log_var = (optimum + offsets)[:, None].clone().requires_grad_(True)
    # one row each at, below and above the optimum; the sum keeps per-row gradients apart
    gaussian_nll(scores, log_var, labels).mul(3).backward()
    grad = log_var.grad[:, 0]
    assert grad[0] < -1e-3  # below the optimum the loss still falls
    assert abs(grad[1].item()) < 1e-5
    assert grad[2] > 1e-3

    # and plain gradient descent from far away settles there
    fitted = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.SGD([fitted], lr=1.0)
    for _ in range(200):
        optimiser.zero_grad()
        gaussian_nll(scores[:1], fitted, labels[:1]).backward()
        optimiser.step()
    assert fitted.item() == pytest.approx(optimum, abs=1e-3)


# -- consistency_loss ----------------------------------------------------------------------


def _hand_consistency(predictions: np.ndarray, mode: str, span: float) -> float:
    half = span / 2
    if mode == "std":
        return float(np.std(predictions, axis=1, ddof=0).mean() / half)
    if mode == "cov":
        return float(-_upper(np.cov(predictions, rowvar=False, bias=True)).mean() / half**2)
    if mode == "corr":
        return float(1.0 - _upper(np.corrcoef(predictions, rowvar=False)).mean())
    raise AssertionError(mode)


@pytest.mark.parametrize("mode", ["std", "corr", "cov"])
@pytest.mark.parametrize("span", [4.0, 10.0])
def test_consistency_matches_docstring_formula(mode: str, span: float) -> None:
    expected = _hand_consistency(PREDICTIONS, mode, span)
    loss = consistency_loss(torch.tensor(PREDICTIONS), mode, span)
    assert loss.item() == pytest.approx(expected, rel=1e-9, abs=1e-12)
    # the hand matrix must exercise the formula, not hit a trivial value
    assert abs(expected) > 1e-3


@pytest.mark.parametrize("mode", ["std", "corr", "cov"])
def test_consistency_is_differentiable(mode: str) -> None:
    predictions = torch.tensor(PREDICTIONS, requires_grad=True)
    consistency_loss(predictions, mode, SPAN).backward()
    assert torch.isfinite(predictions.grad).all()
    assert predictions.grad.abs().sum() > 1e-3


@pytest.mark.parametrize("batch", [1, 4])
def test_consistency_none_is_zero(batch: int) -> None:
    loss = consistency_loss(torch.tensor(PREDICTIONS[:batch]), "none", SPAN)
    assert loss.item() == 0.0


@pytest.mark.parametrize("mode", ["std", "corr"])
def test_identical_columns_have_zero_loss(mode: str) -> None:
    column = PREDICTIONS[:, :1]
    identical = torch.tensor(np.repeat(column, 3, axis=1))
    assert consistency_loss(identical, mode, SPAN).item() == pytest.approx(0.0, abs=1e-7)


def test_identical_columns_give_the_lowest_cov_loss() -> None:
    column = PREDICTIONS[:, 0]
    identical = torch.tensor(np.repeat(column[:, None], 3, axis=1))
    expected = -np.var(column) / (SPAN / 2) ** 2
    loss = consistency_loss(identical, "cov", SPAN).item()
    assert loss == pytest.approx(expected, rel=1e-9)
    assert loss < consistency_loss(torch.tensor(PREDICTIONS), "cov", SPAN).item()


@pytest.mark.parametrize("mode", ["corr", "cov"])
def test_batch_of_one_gives_zero_for_pairwise_modes(mode: str) -> None:
    assert consistency_loss(torch.tensor(PREDICTIONS[:1]), mode, SPAN).item() == 0.0


def test_batch_of_one_std_is_spread_across_tasks() -> None:
    row = PREDICTIONS[:1]
    expected = np.std(row) / (SPAN / 2)
    assert consistency_loss(torch.tensor(row), "std", SPAN).item() == pytest.approx(expected)


@pytest.mark.parametrize("mode", CONSISTENCY_MODES)
def test_single_task_gives_zero(mode: str) -> None:
    assert consistency_loss(torch.tensor(PREDICTIONS[:, :1]), mode, SPAN).item() == 0.0


@pytest.mark.parametrize("mode", ["", "STD", "pearson"])
def test_unknown_mode_raises(mode: str) -> None:
    with pytest.raises(ValueError, match="consistency mode must be one of"):
        consistency_loss(torch.tensor(PREDICTIONS), mode, SPAN)


def test_ranking_loss_is_bradley_terry_cross_entropy() -> None:
    a, b = torch.tensor([3.0, 1.0, 2.0]), torch.tensor([2.0, 2.5, 2.0])
    share, scale = torch.tensor([0.9, 0.3, 0.5]), 0.5
    p = 1 / (1 + np.exp(-(a.numpy() - b.numpy()) / scale))
    s = share.numpy()
    expected = -np.mean(s * np.log(p) + (1 - s) * np.log(1 - p))
    assert float(pairwise_ranking_loss(a, b, share, scale)) == pytest.approx(expected, rel=1e-5)


def test_ranking_loss_weighs_each_pair() -> None:
    a, b = torch.tensor([3.0, 1.0]), torch.tensor([2.0, 2.5])
    share = torch.tensor([0.9, 0.8])
    first = pairwise_ranking_loss(a[:1], b[:1], share[:1], 0.5)
    weighted = pairwise_ranking_loss(a, b, share, 0.5, torch.tensor([4.0, 0.0]))
    assert float(weighted) == pytest.approx(float(first) * 4 / 2, rel=1e-6)
