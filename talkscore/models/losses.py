"""Losses: masked per-task regression, the confidence (Gaussian NLL) term, consistency regularisers.

A label that is NaN or -1 means "no label": it contributes nothing and sends no gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from talkscore.tasks import MISSING_LABEL

#: Weight of the L1 term in each task's regression loss (MSE + 0.1 * L1).
L1_WEIGHT = 0.1

CONSISTENCY_MODES = ("none", "std", "corr", "cov")


def valid_labels(labels: Tensor) -> Tensor:
    """Bool mask of labels that are usable (finite and not the -1 marker)."""
    return torch.isfinite(labels) & (labels != MISSING_LABEL)


def _masked_mean(values: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
    """Mean over the batch of each task's valid entries, and whether a task had any."""
    weight = valid.to(values.dtype)
    count = weight.sum(0)
    return (values * weight).sum(0) / count.clamp(min=1.0), count > 0


def task_losses(scores: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Per-task `MSE + 0.1 * L1` over valid labels.

    scores, labels: `[B, K]`. Returns (losses `[K]`, has_labels `[K]`); a task with no valid
    label in the batch has loss exactly 0 and no gradient.
    """
    valid = valid_labels(labels)
    error = scores - torch.where(valid, labels, scores.detach())
    return _masked_mean(error.pow(2) + L1_WEIGHT * error.abs(), valid)


def gaussian_nll(scores: Tensor, log_var: Tensor, labels: Tensor) -> Tensor:
    """Gaussian negative log-likelihood that trains the log-variance heads.

    `0.5 * (log_var + (y - score)^2 / exp(log_var))`, averaged over valid labels of all tasks.
    The score is detached: the regression loss alone fits the score, and this term only teaches
    each head how large its error tends to be (so `std = exp(log_var / 2)` is calibrated).
    """
    valid = valid_labels(labels)
    error = scores.detach() - torch.where(valid, labels, scores.detach())
    nll = 0.5 * (log_var + error.pow(2) * torch.exp(-log_var))
    weight = valid.to(nll.dtype)
    return (nll * weight).sum() / weight.sum().clamp(min=1.0)


def consistency_loss(predictions: Tensor, mode: str, score_span: float) -> Tensor:
    """Agreement regulariser over predicted scores `[B, K]` (the tasks except overall).

    - `std`: mean over samples of the population std across tasks, divided by span/2 (in [0, 1]).
    - `corr`: 1 - mean over task pairs of the Pearson correlation across the batch.
    - `cov`: minus the mean over task pairs of the population covariance across the batch,
      divided by (span/2)^2, the largest covariance two scores on the scale can have (in [-1, 1]).
    - `none`: 0.
    With fewer than two tasks (or two samples for `corr`/`cov`) the loss is 0.
    """
    if mode not in CONSISTENCY_MODES:
        raise ValueError(f"consistency mode must be one of {CONSISTENCY_MODES}, got {mode!r}")
    zero = predictions.new_zeros(())
    batch, tasks = predictions.shape
    if mode == "none" or tasks < 2:
        return zero
    half = score_span / 2
    if mode == "std":
        return predictions.std(dim=1, unbiased=False).mean() / half
    if batch < 2:
        return zero
    centred = predictions - predictions.mean(0, keepdim=True)
    cov = centred.T @ centred / batch
    rows, cols = torch.triu_indices(tasks, tasks, offset=1, device=predictions.device)
    if mode == "cov":
        return -cov[rows, cols].mean() / half**2
    std = cov.diagonal().clamp(min=1e-12).sqrt()
    corr = cov[rows, cols] / (std[rows] * std[cols])
    return 1.0 - corr.mean()


def pairwise_ranking_loss(
    score_a: Tensor, score_b: Tensor, share_a: Tensor, scale: float, weight: Tensor | None = None
) -> Tensor:
    """RankNet / Bradley-Terry loss on human preferences.

    P(a preferred over b) = sigmoid((score_a - score_b) / scale), fitted by binary cross-entropy
    to the share of votes that went to a (soft targets: 9 of 15 votes is 0.6, not 1); `weight`
    multiplies each pair's term before the mean over pairs.
    """
    logits = (score_a - score_b) / scale
    return F.binary_cross_entropy_with_logits(logits, share_a, weight=weight)
