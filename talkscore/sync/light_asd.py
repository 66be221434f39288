"""Light-ASD, the lighter sibling of LR-ASD: is this face speaking this audio, frame by frame?

Light-ASD (Liao et al., "A Light Weight Model for Active Speaker Detection", CVPR 2023; MIT
licence, about 1.0 M parameters; weights fine-tuned on TalkSet, `light_asd_talkset.model`) reads
the same inputs as LR-ASD (`talkscore.sync.lr_asd`: 25 fps gray 112 x 112 face crops, 13 MFCC
per 10 ms, prepared by the helpers there, and `speaking_logits` runs either network). Each encoder
block sums a 3-wide and a 5-wide branch (spatial or spectral, then temporal convolution); the
audio and visual embeddings are added and read by a forward and a backward GRU. The layers are
written to load its authors' state dict as published, opened with
`torch.load(weights_only=True)` (tensors only) and found like LR-ASD's (`TALKSCORE_LIGHT_ASD_MODEL`,
the user cache, or downloaded; `talkscore models fetch light-asd`): a measured candidate, not in
the scoring path. Its clip mean judges how speech-like the mouth moves rather than when: it scores a
clip with another clip's speech almost as high as with its own.
"""

from __future__ import annotations

import torch
from torch import nn

from talkscore.paths import LIGHT_ASD_MODEL
from talkscore.sync.lr_asd import AudioEncoder, SpeakerNetwork, VisualEncoder


class _Block(nn.Module):
    """A 3-wide and a 5-wide branch (across, then along time) summed, then a 1 x 1 mix."""

    def __init__(self, dims: int, c_in: int, c_out: int, down: bool = False) -> None:
        super().__init__()
        conv, norm = (nn.Conv3d, nn.BatchNorm3d) if dims == 3 else (nn.Conv2d, nn.BatchNorm2d)
        across = "s" if dims == 3 else "m"  # spatial (video) or spectral (MFCC) axis first

        def kernel(size: int, temporal: bool) -> tuple:
            if dims == 3:  # (time, height, width)
                return (size, 1, 1) if temporal else (1, size, size)
            return (1, size) if temporal else (size, 1)  # (mfcc, time)

        def layer(a: int, b: int, size: int, temporal: bool) -> nn.Module:
            k = kernel(size, temporal)
            stride = (1, 2, 2) if down and not temporal else 1
            return conv(a, b, k, stride=stride, padding=tuple(s // 2 for s in k), bias=False)

        self._branches = []
        for size in (3, 5):
            names = (f"{across}_{size}", f"bn_{across}_{size}", f"t_{size}", f"bn_t_{size}")
            self.add_module(names[0], layer(c_in, c_out, size, False))
            self.add_module(names[1], norm(c_out, momentum=0.01, eps=0.001))
            self.add_module(names[2], layer(c_out, c_out, size, True))
            self.add_module(names[3], norm(c_out, momentum=0.01, eps=0.001))
            self._branches.append(names)
        self.last = conv(c_out, c_out, (1,) * dims, bias=False)
        self.bn_last = norm(c_out, momentum=0.01, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = 0
        for first, first_norm, second, second_norm in self._branches:
            y = torch.relu(getattr(self, first_norm)(getattr(self, first)(x)))
            total = total + torch.relu(getattr(self, second_norm)(getattr(self, second)(y)))
        return torch.relu(self.bn_last(self.last(total)))


class _Detector(nn.Module):
    """A GRU forward, then one backward over its output, each followed by GELU."""

    def __init__(self, channels: int = 128) -> None:
        super().__init__()
        self.gru_forward = nn.GRU(channels, channels, batch_first=True)
        self.gru_backward = nn.GRU(channels, channels, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.gelu(self.gru_forward(x)[0])
        x = torch.flip(self.gru_backward(torch.flip(x, dims=[1]))[0], dims=[1])
        return nn.functional.gelu(x)


class _Backbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.visualEncoder = VisualEncoder(_Block)  # noqa: N815 (the authors' state dict keys)
        self.audioEncoder = AudioEncoder(_Block)  # noqa: N815
        self.GRU = _Detector()

    def forward(self, mfcc: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
        """`[B, T, 128]` features of both inputs, added and read by the GRUs."""
        return self.GRU(self.audioEncoder(mfcc) + self.visualEncoder(faces))


class LightASD(SpeakerNetwork):
    """Light-ASD: the audio and face features added, then a forward and a backward GRU."""

    WEIGHTS = LIGHT_ASD_MODEL

    def __init__(self) -> None:
        super().__init__(_Backbone())
