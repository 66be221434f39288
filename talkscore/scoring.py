"""Scoring videos with a trained checkpoint (default: the bundled one): `load_scorer()`, then
call the `Scorer` on any number of videos; `score_video(path)` for one.

`load_scorer` is the one place that opens a checkpoint for scoring (model or ensemble, feature
reducer, the extraction settings it was trained with, schema and backend checks) and
`Scorer.predict` the one forward pass: `score`, `batch`, `report`, the Ray actors and `evaluate`
all go through them. `VideoScore.to_dict()` is the documented JSON form.

Inputs that cannot carry a task leave its score `None` with the reason in `unscored`
(`TASK_NEEDS`): no audio track, a silent track, no face (or a face in under 0.5 s of frames).
Videos shorter than `MIN_SECONDS` are refused; videos longer than `SEGMENT_S` are scored in
equal segments of at most that length and averaged, so memory stays bounded.

The tasks of the checkpoint's `calibration.json` are scored from the named signals
(`talkscore.signals`), and lip_sync is held under the ceiling of a confidently measured
audio-visual offset (`talkscore.sync.perception`, ITU-R BT.1359): both also per timeline window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from talkscore import __version__, spans
from talkscore.bands import band, interval
from talkscore.checkpoint import (
    BUNDLED_MODELS,
    CheckpointError,
    checkpoint_folder,
    load_model,
    load_reducer,
    model_label,
    weights_digest,
)
from talkscore.decoding import probe
from talkscore.errors import TalkscoreError
from talkscore.extraction import (
    FEATURE_SCHEMA_VERSION,
    ExtractionSettings,
    Extractor,
    VideoFeatures,
)
from talkscore.models.calibration import NETWORK_INPUT, load_calibration
from talkscore.runtime import resolve_device
from talkscore.samples import Sample, collate
from talkscore.signals import REALISM, measure_signals, real_reference
from talkscore.sync.perception import offset_ceiling, sync_verdict
from talkscore.sync.scorer import lag_summary, mean_curve
from talkscore.timeline import Timeline

MIN_SECONDS = 0.5  # shorter videos are refused
MIN_FACE_SECONDS = 0.5  # fewer frames with a face leave the face tasks unscored
SILENT_DBFS = -60.0  # an audio track whose peak is below this is silent
PARTIAL_FACE = 0.8  # face coverage below this gets a warning
AUDIO_MISMATCH_S = 1.0  # audio and video lengths differing by more get a warning
SEGMENT_S = 30.0  # longer videos are scored in equal segments of at most this length
_SAMPLES_PER_STEP = 8  # segments or timeline windows per forward pass

#: What each task needs to be judged; without it the task's score is None, with the reason.
TASK_NEEDS: dict[str, tuple[str, ...]] = {
    "lip_sync": ("face", "speech"),
    "cross_modal": ("face", "speech"),
    "expression": ("face",),
    "audio_quality": ("audio",),
    "overall": ("face",),
}


@dataclass
class VideoScore:
    """Scores of one video on the checkpoint's tasks, on `score_range` (1..5 by default)."""

    video: str
    model: str  # what produced it: "default" (bundled) or the checkpoint's path
    scores: dict[str, float | None]  # task -> score (None: see `unscored`)
    std: dict[str, float | None]  # task -> predicted standard deviation (score units)
    gates: dict[str, float]  # modality -> gate in [0, 1] (0: absent)
    diagnostics: dict[str, Any] = field(default_factory=dict)
    unscored: dict[str, str] = field(default_factory=dict)  # task -> why it has no score
    warnings: list[str] = field(default_factory=list)  # what may make the scores less reliable
    timeline: list[dict[str, Any]] | None = None  # per window, when asked (`talkscore.timeline`)
    score_range: tuple[float, float] = (1.0, 5.0)  # (worst, best) of every score
    higher_is_better: dict[str, bool] = field(default_factory=dict)  # task -> direction
    versions: dict[str, str] = field(default_factory=dict)  # talkscore and model, to reproduce
    # task -> signal -> score points it adds against a typical real recording, for the tasks
    # the checkpoint scores from the named signals (its calibration.json)
    explanations: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def bands(self) -> dict[str, str | None]:
        """Task -> poor / fair / good / excellent (`talkscore.bands`), None where unscored."""
        return {t: band(v, self.score_range) for t, v in self.scores.items()}

    @property
    def intervals(self) -> dict[str, tuple[float, float] | None]:
        """Task -> the 95% interval, clipped to the scale; None where unscored."""
        return {t: interval(v, self.std.get(t), self.score_range) for t, v in self.scores.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "video": self.video,
            "model": self.model,
            "versions": self.versions,
            "score_range": list(self.score_range),
            "higher_is_better": self.higher_is_better,
            "scores": self.scores,
            "bands": self.bands,
            "intervals": {t: None if i is None else list(i) for t, i in self.intervals.items()},
            "std": self.std,
            "gates": self.gates,
            "diagnostics": self.diagnostics,
            "unscored": self.unscored,
            "warnings": self.warnings,
            "explanations": self.explanations,
            "timeline": self.timeline,
        }


def summarise(features: VideoFeatures) -> dict[str, Any]:
    """The diagnostics a user reads beside the scores."""
    d = features.diagnostics
    learned = d.get("sync_scorer") or {}
    signals = real_reference().describe(d["signals"]) if "signals" in d else None
    return {
        "duration_s": d["duration_s"],
        "video_duration_s": d["video"]["duration"],
        "fps": d["fps"],
        "face_coverage": d["face_coverage"],
        "max_faces_seen": d.get("max_faces_seen"),
        "has_audio": d["has_audio"],
        "audio_peak_dbfs": d.get("audio_peak_dbfs"),
        "av_offset_ms": d["sync"]["offset_ms"] if d["has_audio"] else None,
        "av_offset_confidence": d["sync"]["confidence"] if d["has_audio"] else None,
        **learned,
        "sync_verdict": sync_verdict(
            learned.get("sync_scorer_offset_ms"), learned.get("sync_scorer_confidence")
        ).to_dict(),
        "dnsmos": d.get("dnsmos"),
        "signals": signals,
        "realism": None if signals is None else {n: signals[n] for n in REALISM},
        "backends": {"visual": features.settings["visual"], "audio": features.settings["audio"]},
    }


def missing_inputs(diagnostics: dict[str, Any]) -> dict[str, str]:
    """The needs of `TASK_NEEDS` that a video does not meet: need -> reason."""
    d = diagnostics
    missing = {}
    face_frames = round(d["face_coverage"] * d["num_frames"])
    if face_frames == 0:
        missing["face"] = "no face found (a face that is tiny in the frame or in profile is missed)"
    elif face_frames < MIN_FACE_SECONDS * d["fps"]:
        missing["face"] = f"a face in only {face_frames} frames (needs {MIN_FACE_SECONDS} s)"
    if not d["has_audio"]:
        missing["audio"] = missing["speech"] = "no audio track"
    elif (d.get("audio_peak_dbfs") or 0.0) < SILENT_DBFS:
        missing["speech"] = "the audio track is silent"
    return missing


def input_warnings(diagnostics: dict[str, Any]) -> list[str]:
    """What about a video makes its scored tasks less reliable (shown beside them)."""
    d = diagnostics
    warnings = []
    if "face" not in missing_inputs(d) and d["face_coverage"] < PARTIAL_FACE:
        warnings.append(
            f"a face in {d['face_coverage']:.0%} of the frames; face scores rest on those"
        )
    if d.get("max_faces_seen", 0) > 1:
        warnings.append(f"{d['max_faces_seen']} faces seen; one is followed (the largest at first)")
    gap = d.get("audio_seconds", 0.0) - d["duration_s"]
    if d["has_audio"] and abs(gap) > AUDIO_MISMATCH_S:
        longer = "longer" if gap > 0 else "shorter"
        warnings.append(f"the audio is {abs(gap):.1f} s {longer} than the video")
    if d["video"]["duration"] - d["duration_s"] > 1.0 / d["fps"]:
        warnings.append(
            f"scored the first {d['duration_s']:.1f} s of {d['video']['duration']:.1f} s"
        )
    return warnings


def unscored_tasks(tasks: Sequence[str], missing: dict[str, str]) -> dict[str, str]:
    """Task -> reason, for the tasks whose `TASK_NEEDS` are `missing` (need -> reason)."""
    return {
        task: missing[need]
        for task in tasks
        for need in TASK_NEEDS.get(task, ())
        if need in missing
    }


def by_task(
    tasks: Sequence[str], values: np.ndarray, unscored: dict[str, str]
) -> dict[str, float | None]:
    """Task -> value, None for unscored tasks."""
    return {t: None if t in unscored else float(v) for t, v in zip(tasks, values, strict=True)}


def available_models() -> list[str]:
    """The names of the models bundled with talkscore (`load_scorer(name)`)."""
    return list(BUNDLED_MODELS)


def load_scorer(
    name_or_path: str | Path | None = None,
    device: str | torch.device | None = "auto",
    face_model: str | Path | None = None,
    visual: str | None = None,
    audio: str | None = None,
    name: str | None = None,
) -> Scorer:
    """A `Scorer` for a bundled model (`available_models()`; None: "default") or a checkpoint
    folder written by `talkscore train`, on `device` ("auto": CUDA when available, else CPU).

    `visual`/`audio`, when given, must be the backends the checkpoint was trained on; `name` is
    what results call the model (default: the bundled name or the checkpoint's path).
    """
    return Scorer(name_or_path, device, face_model, visual=visual, audio=audio, name=name)


class Scorer:
    """A checkpoint ready to score videos (the backends are loaded once); see `load_scorer`."""

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        device: str | torch.device | None = "auto",
        face_model: str | Path | None = None,
        visual: str | None = None,
        audio: str | None = None,
        name: str | None = None,
    ) -> None:
        self.checkpoint = name or model_label(checkpoint)
        self.device = resolve_device(device)
        self.model = load_model(checkpoint, self.device)
        reducer = load_reducer(checkpoint)
        if reducer is None or "extraction" not in self.model.metadata:
            raise CheckpointError(
                f"{checkpoint} was not trained on videos (no reducer or extraction settings); "
                "train one with talkscore train"
            )
        self.reducer = reducer
        extraction = self.model.metadata["extraction"]
        _check_schema(self.checkpoint, extraction.get("schema", FEATURE_SCHEMA_VERSION))
        settings = ExtractionSettings.from_dict(extraction)
        _check_backends(self.checkpoint, settings, visual=visual, audio=audio)
        self.extractor = Extractor(settings, face_model, str(self.device))
        config = self.model.config
        self.score_range = (config.score_min, config.score_max)
        self.calibration = load_calibration(checkpoint_folder(checkpoint))
        self.versions = {
            "talkscore": __version__,
            "model_created": self.model.metadata.get("created", ""),
            "model_sha256": weights_digest(checkpoint),
        }

    def __call__(
        self,
        video: str | Path,
        progress: Callable[[int, int], None] | None = None,
        max_seconds: float | None = None,
        timeline: Timeline | None = None,
    ) -> VideoScore:
        """Extract, reduce and score one video (its first `max_seconds` when given; per
        window too when `timeline` is given); `progress(frames done, frames expected)` follows
        the extraction."""
        features = self.extract(video, progress, max_seconds)
        return self.score_features(features, str(video), timeline)

    def extract(
        self,
        video: str | Path,
        progress: Callable[[int, int], None] | None = None,
        max_seconds: float | None = None,
    ) -> VideoFeatures:
        """The features this checkpoint reads, extracted from `video`."""
        if not Path(video).is_file():
            kind = "a directory" if Path(video).is_dir() else "not found"
            raise TalkscoreError(f"{video}: {kind}, expected a video file")
        _check_length(str(video), probe(video).duration)
        return self.extractor(video, progress, max_seconds)

    def score_features(
        self, features: VideoFeatures, name: str, timeline: Timeline | None = None
    ) -> VideoScore:
        """Score already extracted features (extracted with this checkpoint's settings)."""
        d = features.diagnostics
        _check_length(name, features.num_frames / d["fps"])
        sample = self.sample(features, name)
        parts = spans.equal(features.num_frames, max(1, round(SEGMENT_S * d["fps"])))
        scores, std, gates = self.predict([sample.cut(a, b) for a, b in parts])
        weights = np.array([b - a for a, b in parts], np.float64)[:, None]
        weights /= weights.sum()
        tasks, modalities = self.model.config.tasks, self.model.config.modalities
        unscored = unscored_tasks(tasks, missing_inputs(d))
        signals = d.get("signals") or measure_signals(features)
        learned = d.get("sync_scorer") or {}
        offset = (learned.get("sync_scorer_offset_ms"), learned.get("sync_scorer_confidence"))
        network = (scores * weights).sum(axis=0)
        calibrated = self.calibrate(network, signals)
        capped = self.cap_lip_sync(calibrated, *offset)
        explanations = {
            task: c.contributions(self.calibration_inputs(task, network, signals), real_reference())
            for task, c in self.calibration.items()
            if task not in unscored
        }
        if "lip_sync" in tasks and "lip_sync" not in unscored:
            index = tasks.index("lip_sync")
            taken = float(capped[index] - calibrated[index])
            if taken < 0:
                explanations.setdefault("lip_sync", {})["av_offset"] = taken
        return VideoScore(
            video=name,
            model=self.checkpoint,
            scores=by_task(tasks, capped, unscored),
            std=by_task(tasks, (std * weights).sum(axis=0), unscored),
            gates=dict(zip(modalities, (gates * weights).sum(axis=0).tolist(), strict=True)),
            diagnostics=summarise(features),
            unscored=unscored,
            warnings=input_warnings(d),
            timeline=score_windows(self, features, sample, timeline) if timeline else None,
            score_range=self.score_range,
            higher_is_better=dict.fromkeys(tasks, True),
            versions=self.versions,
            explanations=explanations,
        )

    def calibration_inputs(
        self, task: str, network: np.ndarray, signals: dict[str, float]
    ) -> dict[str, float]:
        """What `task`'s calibration reads: the named signals and the network's score of it."""
        return {**signals, NETWORK_INPUT: float(network[self.model.config.tasks.index(task)])}

    def calibrate(self, network: np.ndarray, signals: dict[str, float]) -> np.ndarray:
        """`[tasks]` network scores with the calibrated tasks' scores put in their place."""
        out = np.array(network, np.float64)
        for task, calibration in self.calibration.items():
            inputs = self.calibration_inputs(task, network, signals)
            out[self.model.config.tasks.index(task)] = calibration.score(
                inputs, real_reference(), self.score_range
            )
        return out

    def cap_lip_sync(
        self, scores: np.ndarray, offset_ms: float | None, confidence: float | None
    ) -> np.ndarray:
        """`[tasks]` scores with lip_sync held under the ceiling of the measured audio-visual
        offset (`talkscore.sync.perception`: a gross offset reads as gross)."""
        out = np.array(scores, np.float64)
        if "lip_sync" in self.model.config.tasks:
            index = self.model.config.tasks.index("lip_sync")
            ceiling = offset_ceiling(offset_ms, confidence, self.score_range)
            out[index] = min(out[index], ceiling)
        return out

    def sample(self, features: VideoFeatures, name: str) -> Sample:
        """The reduced streams of `features`, ready for the model."""
        no_labels = np.full(len(self.model.config.tasks), np.nan, np.float32)
        try:
            return features.to_sample(no_labels, name, self.reducer)
        except ValueError as exc:  # features of another extractor profile
            raise CheckpointError(
                f"the features of {name} do not fit checkpoint {self.checkpoint} ({exc}); "
                "it was trained with other extraction settings"
            ) from exc

    def predict(self, samples: list[Sample]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Scores [N, tasks], std [N, tasks] and gates [N, modalities] of samples (windows)."""
        cfg = self.model.config
        outputs = []
        for start in range(0, len(samples), _SAMPLES_PER_STEP):
            part = samples[start : start + _SAMPLES_PER_STEP]
            batch = collate(part, cfg.modalities).to(self.device)
            with torch.no_grad():
                out = self.model(batch.features, batch.frame_masks, batch.present)
            outputs.append([t.float().cpu().numpy() for t in (out.scores, out.std, out.gates)])
        scores, std, gates = (np.concatenate(parts) for parts in zip(*outputs, strict=True))
        return scores, std, gates


def score_windows(
    scorer: Scorer, features: VideoFeatures, sample: Sample, timeline: Timeline
) -> list[dict[str, Any]]:
    """The timeline of one video (see `talkscore.timeline` for the fields)."""
    d, fps = features.diagnostics, features.diagnostics["fps"]
    tasks = scorer.model.config.tasks
    length, hop = (max(1, round(s * fps)) for s in (timeline.window_s, timeline.hop_s))
    parts = spans.sliding(features.num_frames, length, hop)
    scores, std, _ = scorer.predict([sample.cut(a, b) for a, b in parts])
    face = features.masks["keypoint"]
    similarity = features.extras.get("sync_scorer_similarity")
    names = features.feature_names.get("audio", [])
    ovrl = None
    if "dnsmos_ovrl" in names:
        ovrl = features.streams["audio"][:, names.index("dnsmos_ovrl")]
    rows = []
    for (a, b), window_scores, window_std in zip(parts, scores, std, strict=True):
        if scorer.calibration:
            window_scores = scorer.calibrate(window_scores, measure_signals(features.cut(a, b)))
        coverage = float(face[a:b].mean())
        unscored = unscored_tasks(
            tasks, missing_inputs({**d, "num_frames": b - a, "face_coverage": coverage})
        )
        sync = None if similarity is None else lag_summary(mean_curve(similarity[a:b]), fps)
        if sync is not None:
            window_scores = scorer.cap_lip_sync(
                window_scores, sync["offset_ms"], sync["confidence"]
            )
        heard = features.masks["audio"][a:b]
        rows.append(
            {
                "start_s": a / fps,
                "end_s": b / fps,
                "scores": by_task(tasks, window_scores, unscored),
                "std": by_task(tasks, window_std, unscored),
                "face_coverage": coverage,
                "sync_scorer_offset_ms": None if sync is None else sync["offset_ms"],
                "sync_scorer_confidence": None if sync is None else sync["confidence"],
                "dnsmos_ovrl": float(ovrl[a:b][heard].mean())
                if ovrl is not None and heard.any()
                else None,
            }
        )
    return rows


def _check_length(name: str, seconds: float) -> None:
    if seconds < MIN_SECONDS:
        raise TalkscoreError(
            f"{name}: {seconds:.2f} s of video (a still image or a few frames); talkscore needs "
            f"at least {MIN_SECONDS} s"
        )


def _check_schema(checkpoint: str, schema: int) -> None:
    if schema != FEATURE_SCHEMA_VERSION:
        raise CheckpointError(
            f"checkpoint {checkpoint} was trained on feature schema v{schema}, but this talkscore "
            f"extracts v{FEATURE_SCHEMA_VERSION}; retrain it with talkscore train, or score with "
            "the talkscore version that made it"
        )


def _check_backends(checkpoint: str, settings: ExtractionSettings, **wanted: str | None) -> None:
    """A clear error when asked for backends other than those the checkpoint was trained on."""
    for kind, name in wanted.items():
        trained = getattr(settings, kind)
        if name is not None and name != trained:
            raise CheckpointError(
                f"checkpoint {checkpoint} was trained on --{kind} {trained} features, not "
                f"{name}; pass a checkpoint trained with --{kind} {name} (talkscore train "
                f"--{kind} {name}) or leave --{kind} out"
            )


def score_video(
    video: str | Path,
    model: str | Path | None = None,
    device: str | torch.device | None = "auto",
    face_model: str | Path | None = None,
    max_seconds: float | None = None,
    timeline: bool | Timeline = False,
) -> VideoScore:
    """Score one video with `model` (a bundled name or a checkpoint folder; None: the bundled
    default model); `timeline=True` adds per-window scores (2 s windows, 1 s hop; a `Timeline`
    sets others). To score many videos, load once with `load_scorer`."""
    windows_wanted = Timeline() if timeline is True else (timeline or None)
    return load_scorer(model, device, face_model)(video, None, max_seconds, windows_wanted)
