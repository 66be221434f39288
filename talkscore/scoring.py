"""Scoring videos with a trained checkpoint (default: the bundled one): `score_video(path)`
and `Scorer`.

A `Scorer` loads the checkpoint (model + feature reducer + the extraction settings it was trained
with) once and scores any number of videos; `VideoScore.to_dict()` is the documented JSON form
(`video`, `model`, `scores`, `std`, `gates`, `diagnostics`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from talkscore.batching import collate
from talkscore.checkpoint import CheckpointError, load_model, load_reducer
from talkscore.errors import TalkscoreError
from talkscore.extraction import ExtractionSettings, Extractor, VideoFeatures


@dataclass
class VideoScore:
    """Scores of one video on the checkpoint's tasks (1..5 by default, higher is better)."""

    video: str
    model: str
    scores: dict[str, float]  # task -> score
    std: dict[str, float]  # task -> predicted standard deviation (score units)
    gates: dict[str, float]  # modality -> gate in [0, 1] (0: absent)
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "video": self.video,
            "model": self.model,
            "scores": self.scores,
            "std": self.std,
            "gates": self.gates,
            "diagnostics": self.diagnostics,
        }


def summarise(features: VideoFeatures) -> dict[str, Any]:
    """The diagnostics a user reads beside the scores."""
    d = features.diagnostics
    return {
        "duration_s": d["duration_s"],
        "fps": d["fps"],
        "face_coverage": d["face_coverage"],
        "has_audio": d["has_audio"],
        "av_offset_ms": d["sync"]["offset_ms"] if d["has_audio"] else None,
        "av_offset_confidence": d["sync"]["confidence"] if d["has_audio"] else None,
        **d.get("sync_scorer", {}),
        "dnsmos": d.get("dnsmos"),
        "backends": {"visual": features.settings["visual"], "audio": features.settings["audio"]},
    }


class Scorer:
    """A checkpoint ready to score videos (the backends are loaded once)."""

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        device: str | None = "cpu",
        face_model: str | Path | None = None,
    ) -> None:
        self.checkpoint = "default" if checkpoint is None else str(checkpoint)
        self.model = load_model(checkpoint, device)
        reducer = load_reducer(checkpoint)
        if reducer is None or "extraction" not in self.model.metadata:
            raise CheckpointError(
                f"{checkpoint} was not trained on videos (no reducer or extraction settings); "
                "train one with talkscore train"
            )
        self.reducer = reducer
        settings = ExtractionSettings.from_dict(self.model.metadata["extraction"])
        self.extractor = Extractor(settings, face_model)

    def __call__(self, video: str | Path) -> VideoScore:
        """Extract, reduce and score one video."""
        if not Path(video).is_file():
            raise TalkscoreError(f"{video} is not a file")
        features = self.extractor(video)
        return self.score_features(features, str(video))

    def score_features(self, features: VideoFeatures, name: str) -> VideoScore:
        """Score already extracted features (extracted with this checkpoint's settings)."""
        cfg = self.model.config
        labels = np.full(len(cfg.tasks), np.nan, np.float32)
        sample = features.to_sample(labels, name, self.reducer)
        batch = collate([sample], cfg.modalities).to(next(self.model.parameters()).device)
        with torch.no_grad():
            out = self.model(batch.features, batch.frame_masks, batch.present)
        return VideoScore(
            video=name,
            model=self.checkpoint,
            scores=dict(zip(cfg.tasks, out.scores[0].tolist(), strict=True)),
            std=dict(zip(cfg.tasks, out.std[0].tolist(), strict=True)),
            gates=dict(zip(cfg.modalities, out.gates[0].tolist(), strict=True)),
            diagnostics=summarise(features),
        )


def score_video(
    video: str | Path, model: str | Path | None = None, device: str | None = "cpu", face_model=None
) -> VideoScore:
    """Score one video with the checkpoint `model` (a folder written by `talkscore train`;
    None: the bundled default model)."""
    return Scorer(model, device, face_model)(video)
