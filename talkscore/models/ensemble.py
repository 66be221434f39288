"""`ModelEnsemble`: several `TalkingFaceQualityModel`s of one config (trained with different
seeds on the same data) that score as one model.

Scores are the members' mean; the variance is the law of total variance over members, the mean
of their predicted variances plus the variance of their scores, so disagreement between members
widens the confidence interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from talkscore.models.config import ModelConfig
from talkscore.models.network import ModelOutput, TalkingFaceQualityModel


class ModelEnsemble(nn.Module):
    """Members of one config and input sizes, averaged at inference (never trained as one)."""

    def __init__(self, members: Sequence[TalkingFaceQualityModel]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        first = members[0]
        for member in members[1:]:
            if member.config != first.config or member.input_dims() != first.input_dims():
                raise ValueError("ensemble members must share one config and input sizes")
        self.members = nn.ModuleList(members)

    @classmethod
    def build(cls, config: ModelConfig, size: int) -> ModelEnsemble:
        """`size` freshly initialised members of `config` (weights to be loaded next)."""
        return cls([TalkingFaceQualityModel(config) for _ in range(size)])

    @property
    def config(self) -> ModelConfig:
        return self.members[0].config

    def input_dims(self) -> dict[str, tuple[int, ...]]:
        return self.members[0].input_dims()

    def forward(
        self,
        features: Mapping[str, Tensor],
        frame_masks: Mapping[str, Tensor] | None = None,
        present: Tensor | None = None,
    ) -> ModelOutput:
        """Score a batch as `TalkingFaceQualityModel.forward` does; `embedding` is the members'
        embeddings side by side `[B, members * D]`."""
        outputs = [member(features, frame_masks, present) for member in self.members]
        scores = torch.stack([o.scores for o in outputs])
        variance = torch.stack([o.log_var.exp() for o in outputs]).mean(0)
        variance = variance + scores.var(0, unbiased=False)
        low, high = self.config.log_var_range
        return ModelOutput(
            scores=scores.mean(0),
            log_var=variance.log().clamp(low, high),
            gates=torch.stack([o.gates for o in outputs]).mean(0),
            embedding=torch.cat([o.embedding for o in outputs], dim=-1),
        )
