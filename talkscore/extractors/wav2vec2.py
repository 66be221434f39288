"""Self-supervised speech features (wav2vec 2.0 and kin) through `transformers` (optional).

Weights come from a local folder, the Hugging Face hub cache or (online) the hub, through
`talkscore.extractors.hub.load_pretrained`, which never waits on an unreachable network.
"""

from __future__ import annotations

import numpy as np
import soxr
import torch

from talkscore.extractors.hub import load_pretrained, require_transformers
from talkscore.runtime import resolve_device

SAMPLE_RATE = 16000


class Wav2Vec2Backend:
    """Hidden states of one transformer layer, interpolated onto the video frame timeline."""

    name = "wav2vec2"

    def __init__(
        self,
        model: str = "facebook/wav2vec2-base",
        device: str = "auto",
        layer: int = -1,
        batch_seconds: float = 20.0,
    ):
        if batch_seconds <= 0:
            raise ValueError(f"batch_seconds must be positive, got {batch_seconds}")
        self.model_name = model
        self.layer = layer
        self.batch_seconds = batch_seconds
        self.device = resolve_device(device)
        self.model = _load(model).float().to(self.device).eval()
        config = self.model.config
        num_states = config.num_hidden_layers + 1
        if not -num_states <= layer < num_states:
            raise ValueError(f"layer must be in [{-num_states}, {num_states - 1}], got {layer}")
        self.hop, self.receptive_field = _conv_geometry(config.conv_kernel, config.conv_stride)

    def settings_dict(self) -> dict:
        """What determines the features (the device does not)."""
        return {
            "model": self.model_name,
            "layer": self.layer,
            "batch_seconds": self.batch_seconds,
            "hidden_size": self.dim,
        }

    @property
    def dim(self) -> int:
        """Number of features per frame (the model's hidden size)."""
        return int(self.model.config.hidden_size)

    def feature_names(self) -> list[str]:
        """One name per output column."""
        return [f"w2v_{i:04d}" for i in range(self.dim)]

    def extract(
        self, audio: np.ndarray, sample_rate: int, num_frames: int, fps: float
    ) -> np.ndarray:
        """Hidden states at t_k = k / fps, float32 [num_frames, hidden_size].

        The waveform is normalised to zero mean and unit variance (as the feature extractor
        does), padded with silence to the video's length and run in chunks of at most
        `batch_seconds`; frames past the audio therefore get the features of silence.
        """
        audio = _prepare(audio, sample_rate)
        total = max(audio.size, round(num_frames / fps * SAMPLE_RATE), self.receptive_field)
        audio = np.pad(audio, (0, total - audio.size))
        states, times = self._hidden_states(audio)
        return _interpolate(states, times, np.arange(num_frames) / fps).astype(np.float32)

    def _hidden_states(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Layer outputs [T, hidden] and their centre times [T] (s), chunk by chunk."""
        chunk = max(round(self.batch_seconds * SAMPLE_RATE), self.receptive_field)
        states, times = [], []
        for start in range(0, audio.size, chunk):
            piece = audio[start : start + chunk]
            if piece.size < self.receptive_field:  # a sliver at the end: no full model frame
                break
            tensor = torch.from_numpy(piece)[None].to(self.device)
            with torch.inference_mode():
                result = self.model(tensor, output_hidden_states=True)
            hidden = result.hidden_states[self.layer][0].cpu().numpy()
            states.append(hidden)
            offsets = start + np.arange(len(hidden)) * self.hop + self.receptive_field / 2
            times.append(offsets / SAMPLE_RATE)
        return np.concatenate(states), np.concatenate(times)


def _prepare(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float32 at 16 kHz, zero mean and unit variance."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"audio must be mono [samples], got shape {audio.shape}")
    if sample_rate != SAMPLE_RATE and audio.size:
        audio = soxr.resample(audio, sample_rate, SAMPLE_RATE).astype(np.float32)
    if audio.size:
        audio = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
    return audio


def _conv_geometry(kernels, strides) -> tuple[int, int]:
    """(hop, receptive field) in samples of the convolutional feature encoder."""
    hop, field = 1, 1
    for kernel, stride in zip(kernels, strides, strict=True):
        field += (kernel - 1) * hop
        hop *= stride
    return hop, field


def _interpolate(values: np.ndarray, times: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Row-wise linear interpolation of values [T, D] given at times onto targets (clamped)."""
    position = np.clip(np.interp(targets, times, np.arange(len(times))), 0, len(times) - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, len(times) - 1)
    weight = (position - low)[:, None]
    return values[low] * (1 - weight) + values[high] * weight


def _load(model: str):
    """The model from a local folder or a hub id; BackendUnavailable when it cannot be had."""
    model_class = require_transformers("wav2vec2", "AutoModel")
    return load_pretrained(model_class, model, what="wav2vec2", option="--audio-model")
