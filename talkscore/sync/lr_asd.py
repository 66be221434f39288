"""LR-ASD, a pixel-level audio-visual network: is this face speaking this audio, frame by frame?

LR-ASD (Liao et al., "LR-ASD: Lightweight and Robust Network for Active Speaker Detection",
IJCV 2025; MIT licence, weights pretrained on AVA-ActiveSpeaker) reads 25 fps grayscale face
crops and 13 MFCC per 10 ms of 16 kHz audio and gives a per-frame speaking logit. The layers
below are written to load its authors' state dict as published (`lr_asd_ava.model`, opened with
`torch.load(weights_only=True)`: tensors only, nothing unpickled), found like the face bundle
(a path, `TALKSCORE_LR_ASD_MODEL`, the user cache, else downloaded from the authors' repository
and checked by sha256; `talkscore models fetch lr-asd`). Unlike the landmark sync scorer it sees
pixels (teeth, tongue, lip texture), and its score falls when the audio is moved in time. Not in
the scoring path: as a lip signal it did not beat the landmark sync scorer (docs/experiments.md).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
import torch
from torch import nn

from talkscore.extractors.mel import dct
from talkscore.paths import LR_ASD_MODEL, ModelFile, resolve_model

CROP_SIZE = 112  # the centre of a 224 x 224 face crop
CROP_SCALE = 0.4  # the authors' margin around the face box
MFCC_PER_FRAME = 4  # 100 MFCC frames per second, 25 video frames per second


class _Fusion(nn.Module):
    """Channel attention over the concatenation of two sequences."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.attention = nn.Conv1d(channels, channels, kernel_size=1, bias=False)
        self.bn = nn.BatchNorm1d(channels, momentum=0.01, eps=0.001)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        x = torch.cat((a, b), 2).transpose(1, 2)
        return (x * torch.sigmoid(self.bn(self.attention(x)))).transpose(1, 2)


class _Block(nn.Module):
    """Two spatial (or spectral) convolutions, then two temporal ones, each with batch norm."""

    def __init__(self, dims: int, c_in: int, c_out: int, down: bool = False) -> None:
        super().__init__()
        conv, norm = (nn.Conv3d, nn.BatchNorm3d) if dims == 3 else (nn.Conv2d, nn.BatchNorm2d)
        half = c_out // 2

        def kernel(size: int, temporal: bool) -> tuple:
            if dims == 3:  # (time, height, width)
                return (size, 1, 1) if temporal else (1, size, size)
            return (1, size) if temporal else (size, 1)  # (mfcc, time)

        def layer(a: int, b: int, size: int, temporal: bool, stride=1) -> nn.Module:
            k = kernel(size, temporal)
            return conv(a, b, k, stride=stride, padding=tuple(s // 2 for s in k), bias=False)

        stride = (1, 2, 2) if down else 1
        first, second = ("s", "s") if dims == 3 else ("m", "m")
        self.add_module(f"{first}_1", layer(c_in, half, 5, False, stride))
        self.add_module(f"{first}_norm_1", norm(half, momentum=0.01, eps=0.001))
        self.add_module(f"{second}_2", layer(half, c_out, 3, False))
        self.add_module(f"{second}_norm_2", norm(c_out, momentum=0.01, eps=0.001))
        self.t_1 = layer(c_out, c_out, 5, True)
        self.t_norm_1 = norm(c_out, momentum=0.01, eps=0.001)
        self.t_2 = layer(c_out, c_out, 3, True)
        self.t_norm_2 = norm(c_out, momentum=0.01, eps=0.001)
        self._order = [f"{first}_1", f"{first}_norm_1", f"{second}_2", f"{second}_norm_2"]
        self._order += ["t_1", "t_norm_1", "t_2", "t_norm_2"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv_name, norm_name in zip(self._order[::2], self._order[1::2], strict=True):
            x = torch.relu(getattr(self, norm_name)(getattr(self, conv_name)(x)))
        return x


class VisualEncoder(nn.Module):
    """Three blocks of `block(dims, c_in, c_out, down)` (LR-ASD's, or Light-ASD's), pooled."""

    def __init__(self, block: type[nn.Module] = _Block) -> None:
        super().__init__()
        self.block1 = block(3, 1, 32, down=True)
        self.block2 = block(3, 32, 64)
        self.block3 = block(3, 64, 128)
        self.pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`[B, T, 112, 112]` gray levels -> `[B, T, 128]`."""
        x = ((x / 255 - 0.4161) / 0.1688).unsqueeze(1)
        x = self.block3(self.pool(self.block2(self.pool(self.block1(x)))))
        return x.amax(dim=(3, 4)).transpose(1, 2)


class AudioEncoder(nn.Module):
    """Three blocks of `block(dims, c_in, c_out)` over the MFCC, pooled along time."""

    def __init__(self, block: type[nn.Module] = _Block) -> None:
        super().__init__()
        self.block1 = block(2, 1, 32)
        self.block2 = block(2, 32, 64)
        self.block3 = block(2, 64, 128)
        self.pool = nn.MaxPool2d((1, 3), stride=(1, 2), padding=(0, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`[B, 4T, 13]` MFCC -> `[B, T, 128]`."""
        x = x.unsqueeze(1).transpose(2, 3)
        x = self.block3(self.pool(self.block2(self.pool(self.block1(x)))))
        return x.mean(dim=2).transpose(1, 2)


class _Detector(nn.Module):
    def __init__(self, channels: int = 256) -> None:
        super().__init__()
        self.gru_forward = nn.GRU(channels, channels // 4, batch_first=True)
        self.gru_backward = nn.GRU(channels, channels // 4, batch_first=True)
        self.attention = _Fusion(channels // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ahead, _ = self.gru_forward(x)
        behind, _ = self.gru_backward(torch.flip(x, dims=[1]))
        return self.attention(ahead, torch.flip(behind, dims=[1]))


class _Backbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.visualEncoder = VisualEncoder()  # noqa: N815 (the authors' state dict keys)
        self.audioEncoder = AudioEncoder()  # noqa: N815
        self.fusion = _Fusion(256)
        self.detector = _Detector(256)

    def forward(self, mfcc: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
        """`[B, T, 128]` features of both inputs, fused by channel attention and the GRUs."""
        fused = self.fusion(self.audioEncoder(mfcc), self.visualEncoder(faces))
        return self.detector(fused)


class Head(nn.Module):
    """The authors' classifier: speaking / not speaking from 128 channels."""

    def __init__(self) -> None:
        super().__init__()
        self.FC = nn.Linear(128, 2)  # noqa: N815


class SpeakerNetwork(nn.Module):
    """An active speaker network laid out as its authors saved it: `model` (the backbone),
    `lossAV` (its audio-visual head) and `lossV` (the visual-only head: loaded, not used);
    `forward(mfcc [B, 4T, 13], faces [B, T, 112, 112])` -> speaking logits `[B, T]`."""

    #: the published weights `load` finds or downloads without a path
    WEIGHTS: ClassVar[ModelFile]

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.model = backbone
        self.lossAV = Head()  # noqa: N815 (the authors' state dict keys)
        self.lossV = Head()  # noqa: N815

    def forward(self, mfcc: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
        return self.lossAV.FC(self.model(mfcc, faces))[..., 1]

    @classmethod
    def load(
        cls, path: str | Path | None = None, device: str | torch.device = "cpu"
    ) -> SpeakerNetwork:
        """The published weights, in eval mode on `device`: `path` as given, else `WEIGHTS`
        found by its environment variable or in the user cache, or downloaded there, checked
        by sha256 (a state dict of tensors only, opened with `weights_only=True`; every key
        and shape must match)."""
        model = cls()
        source = path if path is not None else resolve_model(cls.WEIGHTS)
        model.load_state_dict(torch.load(source, map_location="cpu", weights_only=True))
        return model.eval().to(device)


class LRASD(SpeakerNetwork):
    """LR-ASD: channel attention over the audio and face features, then two small GRUs."""

    WEIGHTS = LR_ASD_MODEL

    def __init__(self) -> None:
        super().__init__(_Backbone())


def speech_mfcc(audio: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """`[frames, 13]` MFCC every 10 ms as the authors compute them (python_speech_features'
    defaults: 25 ms rectangular windows, pre-emphasis 0.97, 26 mel filters over a 512-point FFT,
    cepstral lifter 22, the first coefficient replaced by the log frame energy), from float audio
    in [-1, 1] taken as 16-bit samples."""
    signal = np.asarray(audio, np.float64) * 32768.0
    signal = np.append(signal[:1], signal[1:] - 0.97 * signal[:-1])
    length, step = round(0.025 * sample_rate), round(0.010 * sample_rate)
    count = 1 + int(np.ceil(max(len(signal) - length, 0) / step))
    padded = np.pad(signal, (0, (count - 1) * step + length - len(signal)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, length)[::step][:count]
    power = np.abs(np.fft.rfft(frames, 512)) ** 2 / 512
    eps = np.finfo(float).eps
    energy = np.maximum(power.sum(axis=1), eps)
    features = np.log(np.maximum(power @ _filterbank(sample_rate).T, eps))
    cepstra = dct(features, 13) * (1 + 11 * np.sin(np.pi * np.arange(13) / 22))
    cepstra[:, 0] = np.log(energy)
    return cepstra.astype(np.float32)


@functools.lru_cache(maxsize=4)
def _filterbank(sample_rate: int, filters: int = 26, n_fft: int = 512) -> np.ndarray:
    """python_speech_features' triangular mel filters `[filters, n_fft // 2 + 1]` (HTK mel
    scale, edges rounded down to FFT bins, peak 1)."""
    top = 2595 * np.log10(1 + (sample_rate / 2) / 700)
    hz = 700 * (10 ** (np.linspace(0, top, filters + 2) / 2595) - 1)
    bins = np.floor((n_fft + 1) * hz / sample_rate).astype(int)
    bank = np.zeros((filters, n_fft // 2 + 1))
    for j in range(filters):
        low, mid, high = bins[j : j + 3]
        bank[j, low:mid] = (np.arange(low, mid) - low) / (mid - low)
        bank[j, mid:high] = (high - np.arange(mid, high)) / (high - mid)
    return bank


def face_crop(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The authors' crop of one RGB frame: a square of the face box's larger half-side `s`,
    from s above the centre to 1.8 s below it and 1.4 s either side (grey 110 beyond the
    image), resized to 224 x 224, gray, its central 112 x 112 kept."""
    x0, y0, x1, y1 = (float(v) for v in box)
    s = max(y1 - y0, x1 - x0) / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    pad = int(s * (1 + 2 * CROP_SCALE))
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    framed = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=110)
    top, left = int(cy + pad - s), int(cx + pad - s * (1 + CROP_SCALE))
    bottom, right = int(cy + pad + s * (1 + 2 * CROP_SCALE)), int(cx + pad + s * (1 + CROP_SCALE))
    face = cv2.resize(framed[top:bottom, left:right], (224, 224))
    edge = (224 - CROP_SIZE) // 2
    return face[edge : edge + CROP_SIZE, edge : edge + CROP_SIZE]


def smooth_boxes(boxes: np.ndarray, kernel: int = 13) -> np.ndarray:
    """`[T, 4]` face boxes through a running median of `kernel` frames (edges repeated), as the
    authors smooth their detections before cropping."""
    half = kernel // 2
    padded = np.pad(np.asarray(boxes, float), ((half, half), (0, 0)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel, axis=0)
    return np.median(windows, axis=-1)


def speaking_logits(
    model: SpeakerNetwork, faces: np.ndarray, mfcc: np.ndarray, lags: tuple[int, ...] = (0,)
) -> np.ndarray:
    """`[lags, T]` per-frame speaking logits of `faces` `[T, 112, 112]` (`LRASD` or
    `talkscore.sync.light_asd.LightASD`, which read the same inputs) with the audio features
    moved by each lag in frames (> 0: the audio heard later than the face moves; the MFCC rows
    rolled), over the frames both cover."""
    frames = min(len(faces), len(mfcc) // MFCC_PER_FRAME)
    visual = torch.from_numpy(np.ascontiguousarray(faces[:frames])).float()[None]
    audio = mfcc[: frames * MFCC_PER_FRAME]
    rows = []
    with torch.no_grad():
        for lag in lags:
            moved = torch.from_numpy(np.roll(audio, lag * MFCC_PER_FRAME, axis=0))[None]
            rows.append(model(moved, visual)[0].numpy())
    return np.stack(rows)
