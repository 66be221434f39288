"""One video's modality streams (`Sample`) and padded batches of them (`Batch`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor


@dataclass
class Sample:
    """The per-frame streams of one video on one timeline, and its labels.

    features: modality -> `[T, D]` float array; a modality the video lacks is left out.
    labels: `[K]` in task order; NaN or -1 means no label.
    frame_masks: modality -> `[T]` bool, False for frames without a face (default: all valid).
    """

    features: dict[str, np.ndarray]
    labels: np.ndarray
    frame_masks: dict[str, np.ndarray] = field(default_factory=dict)
    name: str = ""

    @property
    def num_frames(self) -> int:
        return max((len(x) for x in self.features.values()), default=0)

    def cut(self, start: int, end: int) -> Sample:
        """Frames [start, end) of this sample (same labels and name)."""
        return Sample(
            {m: x[start:end] for m, x in self.features.items()},
            self.labels,
            {m: mask[start:end] for m, mask in self.frame_masks.items()},
            name=self.name,
        )


@dataclass
class Batch:
    """Samples padded to one length: what the model and the losses read."""

    features: dict[str, Tensor]  # modality -> [B, T, D]
    frame_masks: dict[str, Tensor]  # modality -> [B, T] bool (padding and faceless frames False)
    present: Tensor  # [B, M] bool in model modality order
    labels: Tensor  # [B, K], NaN where missing
    names: list[str]

    def to(self, device: torch.device) -> Batch:
        return Batch(
            {m: x.to(device, non_blocking=True) for m, x in self.features.items()},
            {m: x.to(device, non_blocking=True) for m, x in self.frame_masks.items()},
            self.present.to(device),
            self.labels.to(device),
            self.names,
        )


def collate(samples: Sequence[Sample], modalities: Sequence[str]) -> Batch:
    """Pad every modality of every sample to the longest timeline in the batch."""
    length = max(max(s.num_frames for s in samples), 1)
    features, masks = {}, {}
    present = torch.zeros(len(samples), len(modalities), dtype=torch.bool)
    for j, modality in enumerate(modalities):
        dims = {s.features[modality].shape[1] for s in samples if modality in s.features}
        if not dims:
            continue
        if len(dims) > 1:
            raise ValueError(f"{modality} features differ in size within a batch: {sorted(dims)}")
        x = torch.zeros(len(samples), length, dims.pop())
        valid = torch.zeros(len(samples), length, dtype=torch.bool)
        for i, sample in enumerate(samples):
            if modality not in sample.features:
                continue
            frames = torch.as_tensor(np.asarray(sample.features[modality], dtype=np.float32))
            x[i, : len(frames)] = frames
            mask = sample.frame_masks.get(modality)
            valid[i, : len(frames)] = True if mask is None else torch.as_tensor(mask, dtype=bool)
            present[i, j] = bool(valid[i].any())
        features[modality], masks[modality] = x, valid
    labels = torch.as_tensor(np.stack([np.asarray(s.labels, np.float32) for s in samples]))
    return Batch(features, masks, present, labels, [s.name for s in samples])


def input_dims(samples: Sequence[Sample]) -> dict[str, int]:
    """The feature size of each modality found in `samples`."""
    dims: dict[str, int] = {}
    for sample in samples:
        for modality, x in sample.features.items():
            dims.setdefault(modality, int(np.shape(x)[1]))
    return dims
