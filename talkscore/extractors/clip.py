"""Optional visual backend: CLIP image embeddings of the face crop, through transformers.

The model is loaded as `CLIPVisionModelWithProjection` (from a vision-only or a full CLIP
checkpoint) and each frame's feature is its `image_embeds`, L2-normalised: the projected space
CLIP's text embeddings share, [T, projection_dim]. Preprocessing is done here in numpy/OpenCV
(no torchvision): the square face crop is resized to the model's `image_size` with INTER_AREA
(CLIP's own shortest-side resize + centre crop reduces to this for a square crop), scaled to
0..1 and normalised with `image_mean` / `image_std` from `preprocessor_config.json` when the
model folder (or hub cache) has one, else CLIP's standard constants.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from talkscore.extractors.crops import Box, check_rgb, face_crop
from talkscore.extractors.hub import load_pretrained, require_transformers
from talkscore.runtime import resolve_device

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# the face box's longer side is enlarged by this fraction on each side before cropping
CROP_MARGIN = 0.25


class ClipBackend:
    """Streaming CLIP embeddings of face crops, run in batches of `batch_size` as frames come."""

    name = "clip"

    def __init__(
        self,
        model: str = "openai/clip-vit-base-patch32",
        device: str = "auto",
        batch_size: int = 32,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model
        self.batch_size = batch_size
        self._device = resolve_device(device)
        self._network = _load_network(model).float().to(self._device).eval()
        self._image_size = int(self._network.config.image_size)
        mean, std = _normalisation(model)
        self._scale = (1.0 / (255.0 * std)).astype(np.float32)
        self._offset = (-mean / std).astype(np.float32)
        self.reset()

    def settings_dict(self) -> dict:
        """Settings that determine the features (stored with a trained model)."""
        return {
            "model": self.model,
            "image_size": self._image_size,
            "crop_margin": CROP_MARGIN,
            "output": "image_embeds",
        }

    @property
    def dim(self) -> int:
        return int(self._network.visual_projection.out_features)

    def feature_names(self) -> list[str]:
        return [f"clip_{i:03d}" for i in range(self.dim)]

    def reset(self) -> None:
        """Start a new video."""
        self._has_face: list[bool] = []
        self._pending: list[np.ndarray] = []
        self._embeddings: list[np.ndarray] = []

    def add(self, image: np.ndarray, face_box: Box | None) -> None:
        """Queue one RGB uint8 frame's face crop; runs the model when a batch is full."""
        check_rgb(image)
        self._has_face.append(face_box is not None)
        if face_box is None:
            return
        self._pending.append(face_crop(image, face_box, self._image_size, CROP_MARGIN))
        if len(self._pending) >= self.batch_size:
            self._flush()

    def finish(self) -> np.ndarray:
        """Embeddings of the frames added since `reset`, [T, dim] float32, NaN rows without face."""
        self._flush()
        features = np.full((len(self._has_face), self.dim), np.nan, dtype=np.float32)
        if self._embeddings:
            features[np.asarray(self._has_face)] = np.concatenate(self._embeddings)
        return features

    def _flush(self) -> None:
        if not self._pending:
            return
        import torch

        pixels = np.stack(self._pending).astype(np.float32) * self._scale + self._offset
        batch = torch.from_numpy(pixels.transpose(0, 3, 1, 2).copy()).to(self._device)
        with torch.inference_mode():
            embeds = self._network(pixel_values=batch).image_embeds
            embeds = torch.nn.functional.normalize(embeds, dim=-1)
        self._embeddings.append(embeds.float().cpu().numpy())
        self._pending.clear()


def _load_network(model: str) -> Any:
    """`CLIPVisionModelWithProjection` from a folder, the hub cache, or a hub download."""
    model_class = require_transformers("CLIP visual", "CLIPVisionModelWithProjection")
    return load_pretrained(model_class, model, what="CLIP", option="--visual-model")


def _normalisation(model: str) -> tuple[np.ndarray, np.ndarray]:
    """`image_mean` and `image_std` from the model's preprocessor config, else CLIP's."""
    path = _preprocessor_config(model)
    values = json.loads(path.read_text()) if path else {}
    mean = np.asarray(values.get("image_mean", CLIP_MEAN), dtype=np.float64)
    std = np.asarray(values.get("image_std", CLIP_STD), dtype=np.float64)
    return mean, std


def _preprocessor_config(model: str) -> Path | None:
    folder = Path(model).expanduser()
    if folder.is_dir():
        path = folder / "preprocessor_config.json"
        return path if path.is_file() else None
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(model, "preprocessor_config.json")
    return Path(cached) if isinstance(cached, str) else None
