"""Building blocks of the advanced model: projections, encoders, temporal and cross attention."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def feed_forward(
    dim: int, hidden: int, dropout: float, out_dim: int | None = None
) -> nn.Sequential:
    """Linear -> GELU -> Dropout -> Linear."""
    return nn.Sequential(
        nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim or dim)
    )


def key_padding_mask(valid: Tensor) -> Tensor:
    """Attention key mask (True = ignore) from a validity mask `[B, T]`.

    Rows with no valid position attend to everything instead of nothing, which would give NaN;
    their inputs are zeros and their outputs are masked out downstream.
    """
    empty = ~valid.any(dim=1, keepdim=True)
    return ~valid & ~empty


class AdaptiveProjection(nn.Module):
    """A Linear to `dim` for every input size seen, created on first sight and kept.

    The projections are registered submodules (`by_size["<D_in>"]`), so they are saved and
    loaded with the checkpoint; `ModelConfig.input_dims` lists them for rebuilding.
    """

    def __init__(self, dim: int, sizes: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.dim = dim
        self.by_size = nn.ModuleDict()
        for size in sizes:
            self.add(size)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(sorted(int(k) for k in self.by_size))

    def add(self, size: int, like: Tensor | None = None) -> nn.Linear:
        """The projection for `size`, created (on `like`'s device and dtype) if new."""
        key = str(size)
        if key not in self.by_size:
            layer = nn.Linear(size, self.dim)
            if like is not None:
                layer = layer.to(device=like.device, dtype=like.dtype)
            self.by_size[key] = layer
        return self.by_size[key]

    def forward(self, x: Tensor, like: Tensor) -> Tensor:
        return self.add(x.shape[-1], like)(x)


class ResidualMLPEncoder(nn.Module):
    """`layers` x (Linear -> LayerNorm -> GELU -> Dropout), each with a residual connection."""

    def __init__(self, dim: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(dim, dim), nn.LayerNorm(dim), nn.GELU(), nn.Dropout(dropout))
            for _ in range(layers)
        )

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = x + block(x)
        return x


class TemporalBlock(nn.Module):
    """Masked multi-head self-attention over frames + FFN (4D), each a pre-norm residual."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm_attn = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm_ffn = nn.LayerNorm(dim)
        self.ffn = feed_forward(dim, 4 * dim, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, valid: Tensor) -> Tensor:
        h = self.norm_attn(x)
        h, _ = self.attn(h, h, h, key_padding_mask=key_padding_mask(valid), need_weights=False)
        x = x + self.drop(h)
        return x + self.drop(self.ffn(self.norm_ffn(x)))


class CrossModalBlock(nn.Module):
    """Frames of one stream attend to the frames of another within +-`window` frames.

    Attention logits carry a learned bias per head and relative lag, so heads can focus on
    "the other stream at the same moment" or at a given lag: the model can tell whether the
    mouth moves with the sound, which pooled vectors cannot. Pre-norm residual, then an FFN.
    """

    def __init__(self, dim: int, heads: int, window: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.window, self.dropout = heads, window, dropout
        self.norm_query = nn.LayerNorm(dim)
        self.norm_context = nn.LayerNorm(dim)
        self.query = nn.Linear(dim, dim)
        self.key_value = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        # locality prior (ALiBi-style): head h starts with bias -|lag| / 2^h, so one head looks at
        # the same moment and the others progressively wider; training reshapes it freely
        lags = torch.arange(-window, window + 1).abs().float()
        slopes = 0.5 ** torch.arange(heads).float()
        self.lag_bias = nn.Parameter(-slopes[:, None] * lags[None, :])
        self.norm_ffn = nn.LayerNorm(dim)
        self.ffn = feed_forward(dim, 4 * dim, dropout)
        self.drop = nn.Dropout(dropout)

    def _split(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x: Tensor, context: Tensor, x_valid: Tensor, context_valid: Tensor) -> Tensor:
        b, t, d = x.shape
        q = self._split(self.query(self.norm_query(x)))
        k, v = self.key_value(self.norm_context(context)).chunk(2, dim=-1)
        k, v = self._split(k), self._split(v)
        steps = torch.arange(t, device=x.device)
        lag = steps[None, :] - steps[:, None]  # [T, S]: key time minus query time
        bias = self.lag_bias[:, lag.clamp(-self.window, self.window) + self.window]  # [H, T, S]
        allowed = (lag.abs() <= self.window)[None, None] & context_valid[:, None, None, :]
        floor = torch.finfo(q.dtype).min
        mask = bias.to(q.dtype)[None].masked_fill(~allowed, floor)
        h = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )
        h = h.transpose(1, 2).reshape(b, t, d)
        reached = allowed[:, 0].any(dim=-1) & x_valid  # [B, T]: a valid frame with context
        x = x + self.drop(self.out(h)) * reached[..., None].to(x.dtype)
        has_context = context_valid.any(dim=1)[:, None, None].to(x.dtype)  # else: identity
        return x + self.drop(self.ffn(self.norm_ffn(x))) * has_context


class MaskedPooling(nn.Module):
    """Masked mean and max over time, concatenated, Linear -> `[B, D]`; no valid frame gives 0."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(2 * dim, dim)

    def forward(self, x: Tensor, valid: Tensor) -> Tensor:
        weight = valid[..., None].to(x.dtype)
        mean = (x * weight).sum(1) / weight.sum(1).clamp(min=1.0)
        peak = x.masked_fill(~valid[..., None], -math.inf).amax(1)
        any_valid = valid.any(1, keepdim=True)
        peak = torch.where(any_valid, peak, torch.zeros_like(peak))
        return self.proj(torch.cat([mean, peak], dim=-1)) * any_valid.to(x.dtype)
