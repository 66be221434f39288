"""Dynamic task weighting: how per-task losses combine into one training loss.

`create_weighting(name, num_tasks, ...)` builds one of:
- `fixed`: constant weights (default all 1).
- `learned`: w_t = sigmoid(a_t) + 1e-4, a_t trained with the model. Note that minimising
  sum w_t L_t drives every w_t towards its floor; it is kept because the design names it.
- `uncertainty` (Kendall, Gal & Cipolla 2018): sum exp(-s_t) L_t + s_t, s_t clamped to [-5, 5];
  the weight exp(-s_t) settles near 1 / L_t, so noisy tasks get less weight.
- `gradnorm` (Chen et al. 2018): weights trained by their own optimiser to equalise the
  gradient norms of the weighted task losses at the last shared layer, scaled by each task's
  relative inverse training rate to the power alpha; renormalised to sum to the task count.

Each strategy's `combine(losses, has_labels)` gives the loss to back-propagate (tasks without
labels in the batch are left out); `update(...)` is GradNorm's own step (a no-op for the others).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

WEIGHTINGS = ("fixed", "learned", "uncertainty", "gradnorm")


class TaskWeighting(nn.Module):
    """Base class: combines per-task losses `[K]` with the current weights."""

    def __init__(self, num_tasks: int) -> None:
        super().__init__()
        self.num_tasks = num_tasks

    def weights(self) -> Tensor:
        """Current weight of each task `[K]` (detached)."""
        raise NotImplementedError

    def combine(self, losses: Tensor, has_labels: Tensor) -> Tensor:
        """Weighted sum over the tasks that have labels in this batch."""
        return (self.weights() * losses * has_labels.to(losses.dtype)).sum()

    def update(self, losses: Tensor, has_labels: Tensor, shared: Sequence[Tensor]) -> None:
        """Strategy-specific step after the losses are known (GradNorm only)."""

    def trainable_with_model(self) -> list[nn.Parameter]:
        """Parameters the model's optimiser trains (GradNorm trains its own)."""
        return list(self.parameters())


class FixedWeighting(TaskWeighting):
    def __init__(self, num_tasks: int, weights: Sequence[float] | None = None) -> None:
        super().__init__(num_tasks)
        values = torch.ones(num_tasks) if weights is None else torch.tensor(weights, dtype=float)
        if values.shape != (num_tasks,):
            raise ValueError(f"fixed weights need {num_tasks} values, got {list(values)}")
        self.register_buffer("fixed", values.float())

    def weights(self) -> Tensor:
        return self.fixed


class LearnedWeighting(TaskWeighting):
    def __init__(self, num_tasks: int) -> None:
        super().__init__(num_tasks)
        self.logits = nn.Parameter(torch.zeros(num_tasks))

    def _live_weights(self) -> Tensor:
        return torch.sigmoid(self.logits) + 1e-4

    def weights(self) -> Tensor:
        return self._live_weights().detach()

    def combine(self, losses: Tensor, has_labels: Tensor) -> Tensor:
        return (self._live_weights() * losses * has_labels.to(losses.dtype)).sum()


class UncertaintyWeighting(TaskWeighting):
    def __init__(self, num_tasks: int) -> None:
        super().__init__(num_tasks)
        self.log_vars = nn.Parameter(torch.zeros(num_tasks))

    def _s(self) -> Tensor:
        return self.log_vars.clamp(-5.0, 5.0)

    def weights(self) -> Tensor:
        return torch.exp(-self._s()).detach()

    def combine(self, losses: Tensor, has_labels: Tensor) -> Tensor:
        s = self._s()
        return ((torch.exp(-s) * losses + s) * has_labels.to(losses.dtype)).sum()


class GradNormWeighting(TaskWeighting):
    """GradNorm with its own Adam optimiser on the task weights."""

    def __init__(self, num_tasks: int, alpha: float = 1.5, lr: float = 0.025) -> None:
        super().__init__(num_tasks)
        self.alpha = alpha
        self.task_weights = nn.Parameter(torch.ones(num_tasks))
        self.register_buffer("initial_losses", torch.full((num_tasks,), float("nan")))
        self.optimizer = torch.optim.Adam([self.task_weights], lr=lr)

    def weights(self) -> Tensor:
        return self.task_weights.detach().clone()  # a copy: update() changes them in place

    def trainable_with_model(self) -> list[nn.Parameter]:
        return []

    def gradient_norms(self, losses: Tensor, shared: Sequence[Tensor]) -> Tensor:
        """||grad_W (w_t L_t)|| for each task `[K]`, W = the shared parameters (graph kept)."""
        norms = []
        for t in range(self.num_tasks):
            grads = torch.autograd.grad(
                losses[t], list(shared), retain_graph=True, allow_unused=True
            )
            flat = torch.cat([g.flatten() for g in grads if g is not None] or [losses.new_zeros(1)])
            norms.append(flat.norm())
        return self.task_weights * torch.stack(norms)

    def update(self, losses: Tensor, has_labels: Tensor, shared: Sequence[Tensor]) -> None:
        """One GradNorm step on the weights; the model's graph is left intact."""
        live = has_labels & torch.isfinite(losses)
        if live.sum() < 2:
            return
        detached = losses.detach()
        first = torch.isnan(self.initial_losses) & live
        self.initial_losses[first] = detached[first].clamp(min=1e-8)
        norms = self.gradient_norms(losses, shared)[live]
        ratio = detached[live] / self.initial_losses[live]
        inverse_rate = ratio / ratio.mean()
        target = (norms.mean() * inverse_rate.pow(self.alpha)).detach()
        grad_loss = (norms - target).abs().sum()
        self.optimizer.zero_grad(set_to_none=True)
        (weight_grad,) = torch.autograd.grad(grad_loss, [self.task_weights], retain_graph=True)
        self.task_weights.grad = weight_grad
        self.optimizer.step()
        with torch.no_grad():
            self.task_weights.clamp_(min=1e-4)
            self.task_weights.mul_(self.num_tasks / self.task_weights.sum())


def create_weighting(
    name: str,
    num_tasks: int,
    *,
    fixed_weights: Sequence[float] | None = None,
    gradnorm_alpha: float = 1.5,
    gradnorm_lr: float = 0.025,
) -> TaskWeighting:
    """The weighting strategy called `name` (one of WEIGHTINGS)."""
    if name == "fixed":
        return FixedWeighting(num_tasks, fixed_weights)
    if name == "learned":
        return LearnedWeighting(num_tasks)
    if name == "uncertainty":
        return UncertaintyWeighting(num_tasks)
    if name == "gradnorm":
        return GradNormWeighting(num_tasks, gradnorm_alpha, gradnorm_lr)
    raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {name!r}")
