"""A learned audio-visual sync scorer (SyncNet-style): two small window encoders and InfoNCE.

The mouth encoder reads `window` frames of mouth features (pose-normalised lip and jaw
landmarks, mouth blendshapes, their velocities); the audio encoder reads the same frames of
log-mel (4 sub-frames per video frame). Both map to unit vectors; their dot product / temperature
is the sync logit.

Training uses InfoNCE rather than binary cross-entropy: for a mouth window the candidates are the
audio windows of the same clip at every lag in +-max_lag (lag 0 positive; lags +-1 are left out
as near-positives) plus the aligned audio windows of the other clips in the batch. That is
exactly the decision made at scoring time (which lag fits best), and it needs no threshold or
positive/negative balance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from talkscore.settings import Settings


@dataclass(frozen=True)
class SyncConfig(Settings):
    """Sizes of the sync scorer (stored with its weights)."""

    # input sizes per video frame
    mouth_dim: int = 372
    audio_dim: int = 160
    # frames per window (7 frames = 0.28 s at 25 fps)
    window: int = 7
    # hidden and embedding sizes
    hidden: int = 256
    embedding: int = 64
    dropout: float = 0.1
    # candidate lags at training and scoring time
    max_lag: int = 15
    # softmax temperature of the similarities
    temperature: float = 0.07

    def validate(self) -> None:
        """Raise ValueError naming the field to fix."""
        if self.window < 1 or self.window % 2 == 0:
            raise ValueError(f"window must be a positive odd number of frames, got {self.window}")
        if min(self.mouth_dim, self.audio_dim, self.hidden, self.embedding, self.max_lag) < 1:
            raise ValueError("mouth_dim, audio_dim, hidden, embedding and max_lag must be >= 1")
        if not 0 <= self.dropout < 1 or not self.temperature > 0:
            raise ValueError("dropout must be in [0, 1) and temperature positive")


def _encoder(in_dim: int, config: SyncConfig) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_dim * config.window, config.hidden),
        nn.LayerNorm(config.hidden),
        nn.GELU(),
        nn.Dropout(config.dropout),
        nn.Linear(config.hidden, config.hidden),
        nn.GELU(),
        nn.Linear(config.hidden, config.embedding),
    )


class SyncNet(nn.Module):
    """Embeds mouth and audio windows; aligned pairs end up close."""

    def __init__(self, config: SyncConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or SyncConfig()
        self.mouth = _encoder(config.mouth_dim, config)
        self.audio = _encoder(config.audio_dim, config)

    def embed_mouth(self, windows: Tensor) -> Tensor:
        """`[N, window, mouth_dim]` -> unit vectors `[N, embedding]`."""
        return F.normalize(self.mouth(windows.flatten(1)), dim=-1)

    def embed_audio(self, windows: Tensor) -> Tensor:
        """`[N, window, audio_dim]` -> unit vectors `[N, embedding]`."""
        return F.normalize(self.audio(windows.flatten(1)), dim=-1)


def windows(stream: np.ndarray | Tensor, size: int) -> Tensor:
    """All windows of `size` frames centred on each frame `[T, size, D]` (edges repeated)."""
    x = torch.as_tensor(np.asarray(stream, np.float32))
    half = size // 2
    padded = torch.cat([x[:1].expand(half, -1), x, x[-1:].expand(half, -1)])
    return padded.unfold(0, size, 1).transpose(1, 2)


def lag_similarity(model: SyncNet, mouth: np.ndarray, audio: np.ndarray) -> np.ndarray:
    """`[T, 2 * max_lag + 1]` similarity of each mouth window with the audio window at t + lag
    (NaN where t + lag falls outside the clip)."""
    cfg = model.config
    device = next(model.parameters()).device
    with torch.no_grad():
        m = model.embed_mouth(windows(mouth, cfg.window).to(device)).cpu()
        a = model.embed_audio(windows(audio, cfg.window).to(device)).cpu()
    n = len(m)
    out = np.full((n, 2 * cfg.max_lag + 1), np.nan, np.float32)
    for i, lag in enumerate(range(-cfg.max_lag, cfg.max_lag + 1)):
        lo, hi = max(0, -lag), min(n, n - lag)
        if hi > lo:
            out[lo:hi, i] = (m[lo:hi] * a[lo + lag : hi + lag]).sum(-1).numpy()
    return out


def info_nce_loss(
    model: SyncNet, mouth: Tensor, audio_lags: Tensor, foreign_audio: Tensor
) -> Tensor:
    """InfoNCE for a batch of anchors.

    mouth: `[B, window, mouth_dim]`; audio_lags: `[B, 2L+1, window, audio_dim]` (index L is the
    aligned window); foreign_audio: `[B, window, audio_dim]` aligned audio of other clips (each
    anchor's own row is masked out). Lags +-1 are excluded from the candidates.
    """
    cfg = model.config
    b, n_lags = audio_lags.shape[:2]
    m = model.embed_mouth(mouth)  # [B, E]
    a = model.embed_audio(audio_lags.flatten(0, 1)).view(b, n_lags, -1)
    f = model.embed_audio(foreign_audio)  # [B, E]
    own = torch.einsum("be,ble->bl", m, a)
    other = m @ f.T
    centre = cfg.max_lag
    near = torch.zeros(n_lags, dtype=torch.bool, device=m.device)
    near[[centre - 1, centre + 1]] = True
    own = own.masked_fill(near, float("-inf"))
    other = other.masked_fill(torch.eye(b, dtype=torch.bool, device=m.device), float("-inf"))
    logits = torch.cat([own, other], dim=1) / cfg.temperature
    target = torch.full((b,), centre, dtype=torch.long, device=m.device)
    return F.cross_entropy(logits, target)
