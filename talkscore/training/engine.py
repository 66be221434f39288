"""The training engine: `Trainer(model, TrainConfig(...)).fit(train, val)`.

AdamW with linear warm-up and cosine decay, gradient clipping, AMP on CUDA, seeded shuffling,
early stopping and best-checkpoint on a validation metric. The loss is the task weighting's
combination of per-task `MSE + 0.1 L1`, plus `nll_weight` x the Gaussian NLL that trains the
log-variance heads, plus `consistency_lambda` x the consistency regulariser, plus
`ranking_weight` x the RankNet loss on human preference pairs (mixed into every step).
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from talkscore.checkpoint import save_checkpoint
from talkscore.models import TalkingFaceQualityModel
from talkscore.models.losses import (
    CONSISTENCY_MODES,
    consistency_loss,
    gaussian_nll,
    pairwise_ranking_loss,
    task_losses,
)
from talkscore.models.weighting import WEIGHTINGS, create_weighting
from talkscore.reduction import Reducer
from talkscore.runtime import resolve_device, seed_everything
from talkscore.samples import Batch, Sample, collate, input_dims
from talkscore.settings import Settings
from talkscore.training.metrics import mean_metric, task_metrics
from talkscore.training.run_log import RunLog

log = logging.getLogger(__name__)

HIGHER_IS_BETTER = {"srcc": True, "plcc": True, "krcc": True, "rmse": False, "mae": False}
CHECKPOINT_DIR = "checkpoint"


@dataclass(frozen=True)
class TrainConfig(Settings):
    """Options of one training run (the CLI's `train` flags carry the same names)."""

    # passes over the training set (early stopping may end sooner)
    epochs: int = 50
    # samples per optimiser step
    batch_size: int = 32
    # AdamW peak learning rate and weight decay (decay only on matrices)
    lr: float = 3e-4
    weight_decay: float = 0.01
    # share of all steps spent warming the learning rate up linearly; cosine decay after
    warmup_fraction: float = 0.05
    # max global gradient norm (0 disables clipping)
    grad_clip: float = 1.0
    # task weighting: fixed, learned, uncertainty or gradnorm
    weighting: str = "uncertainty"
    # per-task weights for `fixed` (default all 1)
    fixed_weights: tuple[float, ...] | None = None
    # learning rate of the weighting's own parameters (learned, uncertainty, gradnorm)
    weighting_lr: float = 0.025
    # GradNorm's asymmetry alpha (0: equal gradient norms; larger: favour slow tasks)
    gradnorm_alpha: float = 1.5
    # consistency regulariser over the non-overall tasks: none, std, corr or cov
    consistency: str = "none"
    consistency_lambda: float = 0.1
    # weight of the Gaussian NLL term that trains the confidence (log-variance) heads
    nll_weight: float = 0.1
    # weight of the pairwise ranking loss on human preferences, pairs per step, and the score
    # difference that makes a preference 73% likely (sigmoid(1)): P(a > b) = sigmoid(diff/scale)
    ranking_weight: float = 1.0
    # per-task multipliers of the ranking loss, in the model's task order (default all 1)
    ranking_task_weights: tuple[float, ...] | None = None
    ranking_pairs: int = 16
    ranking_scale: float = 0.5
    # seed for initialisation, shuffling and dropout
    seed: int = 0
    # auto (CUDA when available), cpu or cuda[:N]
    device: str = "auto"
    # mixed precision on CUDA (bf16 where supported, else fp16 with loss scaling)
    amp: bool = True
    # validation metric that picks the best epoch: srcc, plcc, krcc (higher), rmse, mae (lower)
    monitor: str = "srcc"
    # stop after this many epochs without improvement (0: never stop early)
    patience: int = 10

    def validate(self) -> None:
        """Raise ValueError naming the option to fix."""
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {self.weighting!r}")
        if self.consistency not in CONSISTENCY_MODES:
            raise ValueError(
                f"consistency must be one of {CONSISTENCY_MODES}, got {self.consistency!r}"
            )
        if self.monitor not in HIGHER_IS_BETTER:
            raise ValueError(f"monitor must be one of {tuple(HIGHER_IS_BETTER)}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("epochs, batch_size and lr must be positive")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError("warmup_fraction must be in [0, 1)")


@dataclass
class Predictions:
    """Model outputs over a data set, as arrays in sample order."""

    scores: np.ndarray  # [N, K]
    std: np.ndarray  # [N, K]
    gates: np.ndarray  # [N, M]
    labels: np.ndarray  # [N, K], NaN where missing
    names: list[str]


@dataclass
class TrainResult:
    """What `fit` found: the best epoch, its validation metrics and the whole history."""

    best_epoch: int
    best_metrics: dict[str, dict[str, float]]
    history: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: Path | None = None


@dataclass
class RankingPair:
    """A human preference between two videos on one task (`share_a`: votes for a / all votes)."""

    a: Sample
    b: Sample
    task: int
    share_a: float


EpochCallback = Callable[[dict[str, Any]], None]


class Trainer:
    """Trains a `TalkingFaceQualityModel`; writes logs and the best checkpoint to `out_dir`.

    `metadata` and `reducer` go into every checkpoint it writes.
    """

    def __init__(
        self,
        model: TalkingFaceQualityModel,
        config: TrainConfig | None = None,
        out_dir: str | Path | None = None,
        metadata: dict[str, Any] | None = None,
        reducer: Reducer | None = None,
    ) -> None:
        self.config = config = config or TrainConfig()
        self.device = resolve_device(config.device)
        self.model = model.to(self.device)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.metadata, self.reducer = metadata or {}, reducer
        tasks = model.config.tasks
        self.weighting = create_weighting(
            config.weighting,
            len(tasks),
            fixed_weights=config.fixed_weights,
            gradnorm_alpha=config.gradnorm_alpha,
            gradnorm_lr=config.weighting_lr,
        ).to(self.device)
        self.consistency_index = [tasks.index(t) for t in model.config.consistency_tasks]
        task_weights = config.ranking_task_weights or (1.0,) * len(tasks)
        if len(task_weights) != len(tasks):
            raise ValueError(f"ranking_task_weights needs one weight per task: {tasks}")
        self.ranking_task_weights = torch.tensor(task_weights, device=self.device)
        amp = config.amp and self.device.type == "cuda"
        bf16 = amp and torch.cuda.is_bf16_supported()
        self.amp_dtype = (torch.bfloat16 if bf16 else torch.float16) if amp else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp and not bf16)

    # -- data -----------------------------------------------------------------------------

    def _loader(self, samples: Sequence[Sample], shuffle: bool, generator=None) -> DataLoader:
        return DataLoader(
            list(samples),
            batch_size=self.config.batch_size,
            shuffle=shuffle,
            generator=generator,
            collate_fn=partial(collate, modalities=self.model.config.modalities),
        )

    def _forward(self, batch: Batch):
        with torch.autocast(
            self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None
        ):
            return self.model(batch.features, batch.frame_masks, batch.present)

    # -- training -------------------------------------------------------------------------

    def _optimizer(self) -> torch.optim.Optimizer:
        params = list(self.model.parameters())
        decay = self.config.weight_decay
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
            {
                "params": self.weighting.trainable_with_model(),
                "weight_decay": 0.0,
                "lr": self.config.weighting_lr,
            },
        ]
        return torch.optim.AdamW(groups, lr=self.config.lr)

    def _schedule(self, optimizer: torch.optim.Optimizer, total_steps: int):
        warmup = max(1, int(self.config.warmup_fraction * total_steps))

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
            return 0.5 * (1.0 + math.cos(math.pi * progress))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

    def loss_terms(
        self, batch: Batch, pairs: Sequence[RankingPair] = ()
    ) -> dict[str, torch.Tensor]:
        """Every term of the training loss for one batch (`total` is back-propagated)."""
        cfg = self.config
        batch = batch.to(self.device)
        out = self._forward(batch)
        scores, log_var = out.scores.float(), out.log_var.float()
        losses, has_labels = task_losses(scores, batch.labels)
        weighted = self.weighting.combine(losses, has_labels)
        nll = gaussian_nll(scores, log_var, batch.labels)
        span = self.model.config.score_max - self.model.config.score_min
        consistency = consistency_loss(scores[:, self.consistency_index], cfg.consistency, span)
        ranking = self._ranking_loss(pairs) if pairs else scores.new_zeros(())
        total = (
            weighted
            + cfg.nll_weight * nll
            + cfg.consistency_lambda * consistency
            + cfg.ranking_weight * ranking
        )
        return {
            "total": total,
            "task_losses": losses,
            "has_labels": has_labels,
            "nll": nll.detach(),
            "consistency": consistency.detach(),
            "ranking": ranking.detach(),
        }

    def _ranking_loss(self, pairs: Sequence[RankingPair]) -> torch.Tensor:
        """Both videos of every pair in one forward pass; RankNet loss on each pair's task,
        weighed by that task's `ranking_task_weights`."""
        samples = [p.a for p in pairs] + [p.b for p in pairs]
        batch = collate(samples, self.model.config.modalities).to(self.device)
        scores = self._forward(batch).scores.float()
        n = len(pairs)
        task = torch.tensor([p.task for p in pairs], device=self.device)
        share = torch.tensor([p.share_a for p in pairs], device=self.device)
        rows = torch.arange(n, device=self.device)
        return pairwise_ranking_loss(
            scores[rows, task],
            scores[rows + n, task],
            share,
            self.config.ranking_scale,
            self.ranking_task_weights[task],
        )

    def _step(
        self, batch: Batch, pairs: Sequence[RankingPair], optimizer, schedule
    ) -> dict[str, torch.Tensor]:
        terms = self.loss_terms(batch, pairs)
        shared = self.model.last_shared_parameters()
        self.weighting.update(terms["task_losses"], terms["has_labels"], shared)
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(terms["total"]).backward()
        if self.config.grad_clip > 0:
            self.scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.scaler.step(optimizer)
        self.scaler.update()
        schedule.step()
        return terms

    def fit(
        self,
        train: Sequence[Sample],
        val: Sequence[Sample] | None = None,
        pairs: Sequence[RankingPair] = (),
        on_epoch: EpochCallback | None = None,
    ) -> TrainResult:
        """Train on `train` (and the preference `pairs`); pick the best epoch on `val` (or the
        last one without `val`). `on_epoch(record)` is called after every epoch."""
        cfg = self.config
        if not train:
            raise ValueError("the training set is empty")
        generator = seed_everything(cfg.seed)
        self.model.add_input_dims(input_dims([*train, *(p.a for p in pairs)]))
        loader = self._loader(train, shuffle=True, generator=generator)
        optimizer = self._optimizer()
        schedule = self._schedule(optimizer, cfg.epochs * len(loader))
        run_log = RunLog(self.out_dir) if self.out_dir else None
        if run_log and self.metadata:
            run_log.write({"run": self.metadata}, 0)
        result = TrainResult(best_epoch=0, best_metrics={})
        best_value, best_state, stale = None, None, 0
        try:
            for epoch in range(1, cfg.epochs + 1):
                record = self._train_epoch(loader, pairs, generator, optimizer, schedule)
                record["epoch"] = epoch
                value = self._validate(val, record, run_log, epoch) if val else -record["loss"]
                record["monitor"] = value
                result.history.append(record)
                if run_log:
                    run_log.write(record, epoch)
                log.info("epoch %d: %s", epoch, {k: record[k] for k in ("loss", "monitor")})
                if on_epoch:
                    on_epoch(record)
                if best_value is None or self._improves(value, best_value):
                    best_value, stale = value, 0
                    best_state = copy.deepcopy(self.model.state_dict())
                    result.best_epoch, result.best_metrics = epoch, record.get("val", {})
                else:
                    stale += 1
                    if cfg.patience and stale >= cfg.patience:
                        break
        finally:
            if run_log:
                run_log.close()
        self.model.load_state_dict(best_state)
        self.model.eval()
        if self.out_dir:
            result.checkpoint = self._save(result)
        return result

    def _train_epoch(
        self, loader: DataLoader, pairs: Sequence[RankingPair], generator, optimizer, schedule
    ) -> dict[str, Any]:
        self.model.train()
        tasks = self.model.config.tasks
        sums = torch.zeros(len(tasks))
        counts = torch.zeros(len(tasks))
        total = nll = consistency = ranking = 0.0
        for batch in loader:
            chosen = self._sample_pairs(pairs, generator)
            terms = self._step(batch, chosen, optimizer, schedule)
            has = terms["has_labels"].cpu()
            sums += terms["task_losses"].detach().cpu() * has
            counts += has
            total += float(terms["total"].detach())
            nll += float(terms["nll"])
            consistency += float(terms["consistency"])
            ranking += float(terms["ranking"])
        steps = len(loader)
        per_task = (sums / counts.clamp(min=1)).tolist()
        return {
            "loss": total / steps,
            "nll": nll / steps,
            "consistency": consistency / steps,
            "ranking": ranking / steps,
            "lr": optimizer.param_groups[0]["lr"],
            "task_loss": {t: v for t, v, c in zip(tasks, per_task, counts, strict=True) if c > 0},
            "task_weight": dict(zip(tasks, self.weighting.weights().cpu().tolist(), strict=True)),
        }

    def _sample_pairs(self, pairs: Sequence[RankingPair], generator) -> list[RankingPair]:
        if not pairs:
            return []
        count = min(self.config.ranking_pairs, len(pairs))
        return [pairs[i] for i in torch.randperm(len(pairs), generator=generator)[:count]]

    def _validate(self, val, record: dict, run_log: RunLog | None, epoch: int) -> float:
        predictions = self.predict(val)
        tasks = self.model.config.tasks
        record["val"] = task_metrics(predictions.scores, predictions.labels, tasks)
        correlation = prediction_correlation(predictions.scores)
        record["prediction_correlation"] = correlation
        if run_log:
            run_log.correlation(correlation, tasks, epoch)
        return mean_metric(record["val"], self.config.monitor)

    def _improves(self, value: float, best: float) -> bool:
        if not np.isfinite(value):
            return False
        if not np.isfinite(best):
            return True
        return value > best if HIGHER_IS_BETTER[self.config.monitor] else value < best

    def _save(self, result: TrainResult) -> Path:
        metadata = {
            **self.metadata,
            "training": {
                "config": asdict(self.config),
                "best_epoch": result.best_epoch,
                "val_metrics": result.best_metrics,
                "task_weights": dict(
                    zip(
                        self.model.config.tasks,
                        self.weighting.weights().cpu().tolist(),
                        strict=True,
                    )
                ),
            },
        }
        return save_checkpoint(
            self.out_dir / CHECKPOINT_DIR, self.model, metadata, reducer=self.reducer
        )

    # -- inference ------------------------------------------------------------------------

    @torch.no_grad()
    def predict(self, samples: Sequence[Sample]) -> Predictions:
        """Scores, standard deviations and gates for every sample, in order."""
        self.model.eval()
        parts: dict[str, list] = {"scores": [], "std": [], "gates": [], "labels": []}
        names: list[str] = []
        for batch in self._loader(samples, shuffle=False):
            out = self._forward(batch.to(self.device))
            parts["scores"].append(out.scores.float().cpu())
            parts["std"].append(out.std.float().cpu())
            parts["gates"].append(out.gates.float().cpu())
            parts["labels"].append(batch.labels)
            names += batch.names
        arrays = {k: torch.cat(v).numpy() for k, v in parts.items()}
        return Predictions(names=names, **arrays)

    def evaluate(self, samples: Sequence[Sample]) -> dict[str, dict[str, float]]:
        """PLCC, SRCC, KRCC, RMSE and MAE per task that has labels."""
        predictions = self.predict(samples)
        return task_metrics(predictions.scores, predictions.labels, self.model.config.tasks)


def prediction_correlation(scores: np.ndarray) -> np.ndarray:
    """Pearson correlation between the tasks' predictions `[K, K]` (0 where undefined)."""
    if len(scores) < 2:
        return np.eye(scores.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        matrix = np.corrcoef(scores, rowvar=False)
    return np.nan_to_num(matrix)
