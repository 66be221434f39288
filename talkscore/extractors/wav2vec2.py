"""Self-supervised speech features (wav2vec 2.0 and kin) through `transformers` (optional).

Weights come from a local folder or the Hugging Face hub cache. Nothing here waits on an
unreachable network: a hub id is first looked up in the cache only, and a download is tried
only when the hub endpoint answers a TCP connection within a few seconds.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import soxr
import torch

from talkscore.errors import BackendUnavailable
from talkscore.runtime import resolve_device

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
_OPTION = "--audio-model"
_PROBE_TIMEOUT_S = 3.0


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
    try:
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging
    except ImportError as error:
        raise BackendUnavailable(
            "the wav2vec2 backend needs transformers: pip install talkscore[hub]"
        ) from error
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # library code draws nothing on the terminal
    try:
        return _load_quietly(AutoModel, model)
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def _load_quietly(auto_model, model: str):
    folder = Path(model).expanduser()
    if folder.is_dir():
        return _from_pretrained(auto_model, str(folder), f"the model folder {str(folder)!r}")
    if _looks_like_path(model):
        raise BackendUnavailable(
            f"wav2vec2 model folder {model!r} does not exist; pass {_OPTION} /path/to/folder"
        )
    try:
        return auto_model.from_pretrained(model, local_files_only=True)
    except OSError:
        logger.debug("%s is not in the hub cache", model)
    if _offline() or not _hub_reachable():
        raise BackendUnavailable(
            f"wav2vec2 weights for {model!r} are not available offline; download them once "
            f"or pass {_OPTION} /path/to/local/folder"
        )
    logger.info("downloading %s from the Hugging Face hub", model)
    return _from_pretrained(auto_model, model, f"the hub model {model!r}")


def _from_pretrained(auto_model, source: str, what: str):
    try:
        return auto_model.from_pretrained(source)
    except (OSError, ValueError) as error:
        reason = (str(error).splitlines() or [type(error).__name__])[0]
        raise BackendUnavailable(
            f"cannot load wav2vec2 weights from {what}: {reason}; pass {_OPTION} with a folder "
            "written by save_pretrained"
        ) from error


def _looks_like_path(model: str) -> bool:
    """Paths (absolute, relative with ./ or ../, ~, or more than one /) rather than hub ids."""
    if Path(model).is_absolute() or model.startswith((".", "~")):
        return True
    return "\\" in model or model.count("/") > 1


def _offline() -> bool:
    flags = (os.environ.get(n, "") for n in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return any(flag.strip().upper() in {"1", "ON", "YES", "TRUE"} for flag in flags)


def _hub_reachable() -> bool:
    """Whether the hub endpoint (or the configured HTTPS proxy) accepts a TCP connection soon."""
    from huggingface_hub import constants

    target = urlparse(os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy") or "")
    if not target.hostname:
        target = urlparse(constants.ENDPOINT)
    address = (target.hostname, target.port or (443 if target.scheme == "https" else 80))
    done, reached = threading.Event(), []

    def probe() -> None:
        try:
            socket.create_connection(address, timeout=_PROBE_TIMEOUT_S).close()
            reached.append(True)
        except OSError:
            pass
        finally:
            done.set()

    threading.Thread(target=probe, daemon=True).start()
    done.wait(_PROBE_TIMEOUT_S)
    return bool(reached)
