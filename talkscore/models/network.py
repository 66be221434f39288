"""`TalkingFaceQualityModel`: the advanced multi-task model.

Per modality: adaptive projection -> residual MLP encoder -> shared TemporalBlock; optionally
frame-level cross-modal attention between modality pairs; masked mean+max pooling -> u_m;
optional sigmoid gates on u_m. Fusion: Path B (TransformerEncoder over the modality tokens, mean
over present ones) and Path A (MLP over the concatenated u_m), averaged, then one head per task
giving a score in [score_min, score_max] and a log-variance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from talkscore.models.config import ModelConfig
from talkscore.models.layers import (
    AdaptiveProjection,
    CrossModalBlock,
    MaskedPooling,
    ResidualMLPEncoder,
    TemporalBlock,
    feed_forward,
    key_padding_mask,
)


@dataclass
class ModelOutput:
    """What the model predicts for a batch."""

    scores: Tensor  # [B, K] in [score_min, score_max], K = len(config.tasks)
    log_var: Tensor  # [B, K] predicted log-variance of each score (squared score units)
    gates: Tensor  # [B, M] modality gates in [0, 1]; 0 for absent modalities
    embedding: Tensor  # [B, D] fused representation fed to the heads

    @property
    def std(self) -> Tensor:
        """Predicted standard deviation of each score."""
        return torch.exp(0.5 * self.log_var)


def _pair_key(a: str, b: str) -> str:
    return f"{a}__{b}"


class TalkingFaceQualityModel(nn.Module):
    """Scores a batch of modality sequences on every task of `config.tasks`."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or ModelConfig()
        dim, heads, drop = config.encoder_dim, config.num_heads, config.dropout
        self.projections = nn.ModuleDict(
            {m: AdaptiveProjection(dim, config.input_dims.get(m, ())) for m in config.modalities}
        )
        self.encoders = nn.ModuleDict(
            {m: ResidualMLPEncoder(dim, config.encoder_layers, drop) for m in config.modalities}
        )
        self.temporal = TemporalBlock(dim, heads, drop)
        self.cross = nn.ModuleDict()
        if config.cross_modal:
            for a, b in config.cross_modal_pairs:
                for query, context in ((a, b), (b, a)):
                    self.cross[_pair_key(query, context)] = CrossModalBlock(
                        dim, heads, config.cross_modal_window, drop
                    )
        self.pooling = nn.ModuleDict({m: MaskedPooling(dim) for m in config.modalities})
        n_mod = len(config.modalities)
        self.gate = nn.Linear(n_mod * dim, n_mod) if config.gating else None
        self.modality_embedding = nn.Parameter(torch.randn(n_mod, dim) * 0.02)
        fusion_layer = nn.TransformerEncoderLayer(
            dim, heads, 4 * dim, drop, activation="gelu", batch_first=True, norm_first=True
        )
        self.path_b = nn.TransformerEncoder(
            fusion_layer, config.fusion_layers, enable_nested_tensor=False
        )
        self.path_a = feed_forward(n_mod * dim, config.d_ff, drop, out_dim=dim)
        self.heads = nn.ModuleDict(
            {t: feed_forward(dim, dim // 2, drop, out_dim=2) for t in config.tasks}
        )

    # -- adaptive input sizes -------------------------------------------------------------

    def input_dims(self) -> dict[str, tuple[int, ...]]:
        """Input sizes each modality has a projection for (what a checkpoint must rebuild)."""
        return {m: p.sizes for m, p in self.projections.items() if p.sizes}

    def add_input_dims(self, dims: Mapping[str, int]) -> None:
        """Create projections for these input sizes now (before building an optimizer)."""
        like = self.modality_embedding
        for modality, size in dims.items():
            self._check_modality(modality)
            self.projections[modality].add(int(size), like)

    def last_shared_parameters(self) -> list[nn.Parameter]:
        """Weights of the last layers shared by all tasks (GradNorm measures gradients here)."""
        return [self.path_a[-1].weight, self.path_b.layers[-1].linear2.weight]

    # -- forward --------------------------------------------------------------------------

    def _check_modality(self, modality: str) -> None:
        if modality not in self.config.modalities:
            raise ValueError(
                f"unknown modality {modality!r}; this model reads {list(self.config.modalities)}"
            )

    def _masks(
        self,
        features: Mapping[str, Tensor],
        frame_masks: Mapping[str, Tensor] | None,
        present: Tensor | None,
    ) -> dict[str, Tensor]:
        """Per-modality validity `[B, T]` on the model's device: frame mask AND modality present."""
        device = self.modality_embedding.device
        masks = {}
        for i, modality in enumerate(self.config.modalities):
            if modality not in features:
                continue
            x = features[modality]
            if x.dim() != 3:
                raise ValueError(f"{modality} must be [batch, time, dim], got {tuple(x.shape)}")
            valid = torch.ones(x.shape[:2], dtype=torch.bool, device=device)
            if frame_masks is not None and modality in frame_masks:
                valid = frame_masks[modality].to(device=device, dtype=torch.bool)
            if present is not None:
                valid = valid & present[:, i, None].to(device=device, dtype=torch.bool)
            masks[modality] = valid
        return masks

    def forward(
        self,
        features: Mapping[str, Tensor],
        frame_masks: Mapping[str, Tensor] | None = None,
        present: Tensor | None = None,
    ) -> ModelOutput:
        """Score a batch.

        features: modality name -> `[B, T, D_m]`; a modality left out counts as absent.
        frame_masks: modality name -> `[B, T]` bool, False for padding and frames without a face.
        present: `[B, M]` bool, False where a sample lacks a modality (order of config.modalities).
        Values at masked positions are never read: they may be anything, NaN included.
        """
        for modality in features:
            self._check_modality(modality)
        if not features:
            raise ValueError("features is empty: pass at least one modality")
        if present is not None and present.shape[-1] != len(self.config.modalities):
            raise ValueError(
                f"present must be [batch, {len(self.config.modalities)}] (one column per "
                f"modality: {list(self.config.modalities)}), got {tuple(present.shape)}"
            )
        masks = self._masks(features, frame_masks, present)
        like = self.modality_embedding
        streams = {}
        for modality, valid in masks.items():
            x = features[modality].to(device=like.device, dtype=like.dtype)
            x = torch.where(valid[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))
            x = self.encoders[modality](self.projections[modality](x, like))
            streams[modality] = self.temporal(x, valid)
        streams = self._cross_attend(streams, masks)
        return self._fuse_and_score(streams, masks)

    def _cross_attend(self, streams: dict[str, Tensor], masks: dict[str, Tensor]) -> dict:
        updated = dict(streams)
        for key, block in self.cross.items():
            query, context = key.split("__")
            if query in streams and context in streams:
                if streams[query].shape[1] != streams[context].shape[1]:
                    raise ValueError(
                        f"{query} and {context} must share one timeline (same number of frames)"
                    )
                updated[query] = block(
                    updated[query], streams[context], masks[query], masks[context]
                )
        return updated

    def _fuse_and_score(self, streams: dict[str, Tensor], masks: dict[str, Tensor]) -> ModelOutput:
        cfg, like = self.config, self.modality_embedding
        batch = next(iter(streams.values())).shape[0]
        pooled, present = [], []
        for modality in cfg.modalities:
            if modality in streams:
                pooled.append(self.pooling[modality](streams[modality], masks[modality]))
                present.append(masks[modality].any(dim=1))
            else:
                pooled.append(like.new_zeros(batch, cfg.encoder_dim))
                present.append(torch.zeros(batch, dtype=torch.bool, device=like.device))
        u = torch.stack(pooled, dim=1)  # [B, M, D]
        here = torch.stack(present, dim=1)  # [B, M]
        weight = here.to(u.dtype)
        if self.gate is not None:
            gates = torch.sigmoid(self.gate(u.flatten(1))) * weight
        else:
            gates = weight
        u = u * gates[..., None]

        tokens = self.path_b(u + like, src_key_padding_mask=key_padding_mask(here))
        fused_mean = (tokens * weight[..., None]).sum(1) / weight.sum(1, keepdim=True).clamp(min=1)
        multi_scale = self.path_a((u * weight[..., None]).flatten(1))
        final = (fused_mean + multi_scale) / 2

        raw = torch.stack([self.heads[t](final) for t in cfg.tasks], dim=1)  # [B, K, 2]
        span = cfg.score_max - cfg.score_min
        scores = cfg.score_min + span * torch.sigmoid(raw[..., 0])
        low, high = cfg.log_var_range
        log_var = low + (high - low) * torch.sigmoid(raw[..., 1])
        return ModelOutput(scores=scores, log_var=log_var, gates=gates, embedding=final)
