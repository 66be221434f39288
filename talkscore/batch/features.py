"""Extract many videos into a feature cache in worker processes; a bad file never stops the rest."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from talkscore.batch.jobs import error_line, run_jobs
from talkscore.extraction import ExtractionSettings, Extractor, FeatureCache, VideoFeatures
from talkscore.extractors.face import resolve_face_model
from talkscore.files import unpack
from talkscore.paths import FACE_MODEL


@dataclass
class ExtractResult:
    """What happened to one input."""

    video: str
    status: str  # "extracted", "cached" or "failed"
    features: str | None = None  # path of the cached .npz
    error: str | None = None  # one line, for failed inputs
    summary: dict[str, Any] | None = None  # frames, face coverage, offset, DNSMOS OVRL


def _summary(features) -> dict[str, Any]:
    d = features.diagnostics
    return {
        "frames": d["num_frames"],
        "face_coverage": d["face_coverage"],
        "has_audio": d["has_audio"],
        "offset_frames": d["sync"]["offset_frames"],
        "dnsmos_ovrl": d.get("dnsmos", {}).get("ovrl"),
    }


class _Job:
    """Extracts into the cache with one Extractor (one per process)."""

    def __init__(
        self, out: str, settings: ExtractionSettings, face_model: str | None, device: str = "auto"
    ):
        self.extractor = Extractor(settings, face_model, device)
        self.cache = FeatureCache(out, self.extractor.describe())

    def __call__(self, video: str) -> ExtractResult:
        try:
            target = self.cache.path_for(video)
            if target.is_file():
                summary = _summary(VideoFeatures.load(target))
                return ExtractResult(video, "cached", str(target), summary=summary)
            features = self.extractor(video)
            self.cache.folder.mkdir(parents=True, exist_ok=True)
            features.save(target)
            return ExtractResult(video, "extracted", str(target), summary=_summary(features))
        except Exception as exc:  # one bad file never stops the batch
            return ExtractResult(video, "failed", error=error_line(exc))


@dataclass(frozen=True)
class _ShippedJob:
    """Builds a `_Job` from a face model that travels with it as bytes (Ray's object store)."""

    out: str
    settings: ExtractionSettings
    face_model: bytes
    device: str = "auto"

    def __call__(self) -> _Job:
        folder = unpack({FACE_MODEL.filename: self.face_model})
        return _Job(self.out, self.settings, str(folder / FACE_MODEL.filename), self.device)


def extract_videos(
    videos: list[Path],
    out: str | Path,
    settings: ExtractionSettings | None = None,
    face_model: str | Path | None = None,
    workers: int = 1,
    on_result: Callable[[ExtractResult], None] | None = None,
    engine: Callable[..., Iterator[ExtractResult]] = run_jobs,
    ship_face_model: bool = False,
    device: str = "auto",
) -> list[ExtractResult]:
    """Extract every video into `out` (skipping cached ones); results in input order,
    `on_result` called as each finishes.

    Backends are loaded once per worker process. Setup errors (no face model, unknown backend)
    raise before any video is touched; a worker process that dies fails only its video.
    `engine` runs the jobs: `jobs.run_jobs` here, or a `RayEngine` (then `out` and the videos
    must be at the same paths on every node; `ship_face_model` sends the face model with the
    job, once, instead). `device` runs the sync scorer and CLIP/wav2vec2 ("auto": CUDA when
    available); face tracking and DNSMOS run on the CPU.
    """
    settings = settings or ExtractionSettings()
    face = str(face_model) if face_model else None
    make = partial(_Job, str(out), settings, face, device)
    if ship_face_model:
        make = _ShippedJob(str(out), settings, resolve_face_model(face).read_bytes(), device)
    order = {str(v): i for i, v in enumerate(videos)}
    results = []
    for result in engine(make, list(order), workers, _crashed):
        results.append(result)
        if on_result:
            on_result(result)
    return sorted(results, key=lambda r: order[r.video])


def _crashed(video: str, message: str) -> ExtractResult:
    return ExtractResult(video, "failed", error=message)
