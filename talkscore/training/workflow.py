"""Train and evaluate on labelled videos: labels -> features (cached) -> reduction -> model.

`train_from_labels(config, out)` is what `talkscore train` runs; `evaluate_model(...)` is what
`talkscore evaluate` runs. Options come from a TOML file with the sections of `RunConfig`
([data], [extraction], [reduction], [model], [training]); CLI flags override single keys.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from talkscore.batch.features import extract_videos
from talkscore.errors import TalkscoreError
from talkscore.extraction import ExtractionSettings, VideoFeatures
from talkscore.jsonable import jsonable
from talkscore.models import ModelConfig, TalkingFaceQualityModel
from talkscore.paths import cache_dir
from talkscore.reduction import Reducer, ReductionSettings
from talkscore.samples import Sample
from talkscore.scoring import load_scorer
from talkscore.settings import Settings
from talkscore.tasks import TASKS
from talkscore.training.datasets import (
    DEFAULT_DIMENSION_TASKS,
    LabelledVideo,
    LabelsError,
    LabelSet,
    PreferencePair,
    preference_agreement,
    read_labels,
    read_preferences,
)
from talkscore.training.engine import RankingPair, TrainConfig, Trainer
from talkscore.training.metrics import task_metrics

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class DataConfig(Settings):
    """Where the labels, preferences, videos and cached features are."""

    # labels CSV (talkscore columns, or THQA-NTIRE `Video,Score`)
    labels: str | None = None
    # folder the CSVs' video paths are relative to (default: each CSV's own folder)
    videos: str | None = None
    # pairwise preferences CSV (dimension, video_a, video_b, votes_a, votes_b)
    preferences: str | None = None
    # preference dimension -> task
    dimension_tasks: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_DIMENSION_TASKS))
    # feature cache folder (default: <user cache>/features)
    features: str | None = None
    # shares of labelled videos held out (group-aware) when the CSV has no split column
    val_fraction: float = 0.2
    test_fraction: float = 0.0
    # score scale of the labels (default: taken from the data)
    score_range: tuple[float, float] | None = None
    # train on the videos that exist instead of refusing when some are missing
    skip_missing: bool = False
    # face_landmarker.task (default: environment variable, then user cache)
    face_model: str | None = None
    # extraction worker processes
    workers: int = 1


@dataclass(frozen=True)
class RunConfig:
    """Every option of one training run."""

    data: DataConfig = field(default_factory=DataConfig)
    extraction: ExtractionSettings = field(default_factory=ExtractionSettings)
    reduction: ReductionSettings = field(default_factory=ReductionSettings)
    model: dict[str, Any] = field(default_factory=dict)  # ModelConfig fields to override
    training: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "data": asdict(self.data),
                "extraction": asdict(self.extraction),
                "reduction": self.reduction.to_dict(),
                "model": self.model,
                "training": asdict(self.training),
            }
        )


_SECTIONS = {
    "data": DataConfig,
    "extraction": ExtractionSettings,
    "reduction": ReductionSettings,
    "training": TrainConfig,
}


def load_run_config(
    path: str | Path | None = None, overrides: dict[str, dict[str, Any]] | None = None
) -> RunConfig:
    """A `RunConfig` from a TOML file (optional) with `overrides[section][key]` on top.

    None values in `overrides` are ignored (an option the user did not give). Unknown sections
    or keys raise ValueError naming them.
    """
    values: dict[str, dict[str, Any]] = {}
    if path is not None:
        try:
            values = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"cannot read config {path}: {exc}") from None
    for section, options in (overrides or {}).items():
        values.setdefault(section, {}).update({k: v for k, v in options.items() if v is not None})
    unknown = set(values) - {*_SECTIONS, "model"}
    if unknown:
        raise ValueError(f"unknown config sections {sorted(unknown)}; use {[*_SECTIONS, 'model']}")
    built = {name: _section(cls, name, values.get(name, {})) for name, cls in _SECTIONS.items()}
    model = values.get("model", {})
    _section(ModelConfig, "model", model)  # validates the keys and values now
    return RunConfig(model=model, **built)


def _section(cls, name: str, options: dict[str, Any]):
    known = {f.name for f in fields(cls)}
    unknown = set(options) - known
    if unknown:
        raise ValueError(f"unknown [{name}] options {sorted(unknown)}")
    if cls is ReductionSettings:
        return ReductionSettings.from_dict({**ReductionSettings().to_dict(), **options})
    if cls is ModelConfig:
        return ModelConfig.from_dict(options)
    typed = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    return cls(**typed)


# -- features ------------------------------------------------------------------------------


def video_features(
    videos: Sequence[Path],
    settings: ExtractionSettings,
    data: DataConfig,
    progress: Progress | None = None,
) -> dict[Path, VideoFeatures]:
    """Features of every video from the cache, extracting the missing ones first.

    Raises TalkscoreError listing the videos that could not be extracted.
    """
    folder = Path(data.features) if data.features else cache_dir() / "features"
    unique = list(dict.fromkeys(videos))
    done = 0

    def advance(_result) -> None:
        nonlocal done
        done += 1
        if progress:
            progress("features", done, len(unique))

    results = extract_videos(unique, folder, settings, data.face_model, data.workers, advance)
    failed = [f"{r.video} ({r.error})" for r in results if r.status == "failed"]
    if failed:
        raise TalkscoreError(f"{len(failed)} video(s) could not be extracted: {_listed(failed)}")
    return {Path(r.video): VideoFeatures.load(r.features) for r in results}


def _listed(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(map(str, items[:limit]))
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


# -- training ------------------------------------------------------------------------------


def _labels(data: DataConfig) -> LabelSet:
    labels = read_labels(data.labels, data.videos, data.score_range)
    missing = labels.missing_videos()
    if missing and not data.skip_missing:
        raise LabelsError(
            f"{len(missing)} of {len(labels.rows)} videos in {data.labels} do not exist: "
            f"{_listed([str(p) for p in missing])} (fix the paths, pass --videos DIR, or set "
            "skip_missing)"
        )
    return labels.present() if missing else labels


def train_from_labels(
    config: RunConfig,
    out: str | Path,
    progress: Progress | None = None,
    on_epoch: Callable[[dict], None] | None = None,
) -> dict[str, Any]:
    """Extract (or reuse) features, fit the reducer on the training split, train, and write the
    run folder: checkpoint/, metrics.json, config.json, log.jsonl, tensorboard/, PNG plots."""
    from talkscore.training.plots import write_training_plots

    data, out = config.data, Path(out)
    if not data.labels:
        raise LabelsError("no labels CSV given: pass --labels CSV (or [data] labels in the config)")
    labels = _labels(data)
    splits = labels.split(data.val_fraction, data.test_fraction, config.training.seed)
    preferences = (
        read_preferences(data.preferences, data.videos, data.dimension_tasks)
        if data.preferences
        else []
    )
    videos = [row.video for row in labels.rows]
    videos += [v for p in preferences for v in (p.video_a, p.video_b)]
    features = video_features(videos, config.extraction, data, progress)
    reducer = Reducer.fit(
        [(features[r.video].streams, features[r.video].masks) for r in splits["train"]],
        config.reduction,
    )

    def samples(rows: Sequence[LabelledVideo]) -> list[Sample]:
        return [features[r.video].to_sample(r.labels, str(r.video), reducer) for r in rows]

    pairs = _ranking_pairs(preferences, features, reducer)
    low, high = labels.score_range
    model_config = ModelConfig.from_dict(
        {**config.model, "score_min": float(low), "score_max": float(high)}
    )
    metadata = {
        "extraction": config.extraction.key(),
        "reduction": {"explained_variance": reducer.explained_variance()},
        "data": {"labels": str(data.labels), "format": labels.source_format},
    }
    trainer = Trainer(
        TalkingFaceQualityModel(model_config), config.training, out, metadata, reducer
    )
    result = trainer.fit(samples(splits["train"]), samples(splits["val"]), pairs, on_epoch)
    val = trainer.predict(samples(splits["val"]))
    report = {
        "best_epoch": result.best_epoch,
        "val": result.best_metrics,
        "test": trainer.evaluate(samples(splits["test"])) if splits["test"] else {},
        "explained_variance": reducer.explained_variance(),
        "sizes": {name: len(rows) for name, rows in splits.items()} | {"pairs": len(pairs)},
        "checkpoint": str(result.checkpoint),
    }
    (out / "metrics.json").write_text(json.dumps(jsonable(report), indent=2) + "\n")
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    write_training_plots(out, result.history, val.scores, val.labels, model_config.tasks)
    return report


def _ranking_pairs(
    preferences: Sequence[PreferencePair], features: dict[Path, VideoFeatures], reducer: Reducer
) -> list[RankingPair]:
    unlabelled = np.full(len(TASKS), np.nan, np.float32)
    cache: dict[Path, Sample] = {}

    def sample(video: Path) -> Sample:
        if video not in cache:
            cache[video] = features[video].to_sample(unlabelled, str(video), reducer)
        return cache[video]

    return [
        RankingPair(sample(p.video_a), sample(p.video_b), TASKS.index(p.task), p.share_a)
        for p in preferences
    ]


# -- evaluation ----------------------------------------------------------------------------


def evaluate_model(
    model_path: str | Path,
    data: DataConfig,
    progress: Progress | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Per-task metrics on `data.labels`, preference agreement on `data.preferences`, and every
    video's predicted scores (each video whole, with the scorer's own forward pass)."""
    if not data.labels and not data.preferences:
        raise LabelsError("nothing to evaluate: pass --labels CSV and/or --preferences CSV")
    scorer = load_scorer(model_path, device, data.face_model)
    tasks = scorer.model.config.tasks
    labels = _labels(data) if data.labels else None
    preferences = (
        read_preferences(data.preferences, data.videos, data.dimension_tasks)
        if data.preferences
        else []
    )
    rows = labels.rows if labels else []
    videos = [r.video for r in rows] + [v for p in preferences for v in (p.video_a, p.video_b)]
    features = video_features(videos, scorer.extractor.settings, data, progress)
    order = list(features)
    predicted, _, _ = scorer.predict([scorer.sample(features[v], str(v)) for v in order])
    scores = dict(zip(order, predicted, strict=True))
    report: dict[str, Any] = {
        "model": str(model_path),
        "scores": {str(v): dict(zip(tasks, map(float, scores[v]), strict=True)) for v in order},
    }
    if rows:
        truth = np.stack([np.asarray(r.labels, np.float32) for r in rows])
        report["tasks"] = task_metrics(np.stack([scores[r.video] for r in rows]), truth, tasks)
    if preferences:
        task_index = {t: i for i, t in enumerate(tasks)}
        report["preferences"] = preference_agreement(
            preferences, lambda video, task: float(scores[video][task_index[task]])
        )
    return report
