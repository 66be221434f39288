"""Feature-extraction speed of the default backends: per-stage time and real-time factor.

Run from the repository root:

    python benchmarks/extract_speed.py                    # default: an 8 s 512x512 25 fps clip
    python benchmarks/extract_speed.py VIDEO --json

Stages are timed one by one on the same clip (decode, face tracking, quality features, spectral
features, DNSMOS, offset diagnostic, learned sync scorer), then the whole `Extractor` call, which
is also given as a ratio to the floor of the design (decoding plus face tracking alone);
model loading is timed separately. The whole call runs DNSMOS and the visual backend in
threads beside the face tracking, so it takes less than the sum of the stages. Real-time
factor = processing time / clip duration (below 1 is faster than real time).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np

from talkscore.decoding import iter_frames, probe, read_audio
from talkscore.extraction import SAMPLE_RATE, ExtractionSettings, Extractor
from talkscore.extractors.dnsmos import dnsmos, dnsmos_windows
from talkscore.extractors.face import FaceTracker, resolve_face_model
from talkscore.extractors.quality import QualityBackend
from talkscore.extractors.spectral import SpectralBackend
from talkscore.runtime import configure_threads
from talkscore.sync.correlation import estimate_offset, mouth_signals, speech_envelope
from talkscore.sync.scorer import SyncScorer

DATA = Path(os.environ.get("TALKSCORE_DATA", Path(__file__).resolve().parents[2] / "shared/data"))
DEFAULT_CLIP = DATA / "clips/real/sadtalker_ref_WDA_AlexandriaOcasioCortez_000.mp4"


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", default=str(DEFAULT_CLIP))
    parser.add_argument("--face-model", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    configure_threads()  # as the CLI does
    settings = ExtractionSettings()
    info = probe(args.video)
    face_model = resolve_face_model(args.face_model)
    stages: dict[str, float] = {}
    frames, stages["decode"] = timed(lambda: list(iter_frames(args.video, settings.fps)))
    audio, stages["decode_audio"] = timed(lambda: read_audio(args.video, SAMPLE_RATE))
    n = len(frames)

    def track_faces():
        with FaceTracker(face_model) as tracker:
            boxes = [tracker.add(f.image, f.time) for f in frames]
            return tracker.finish(), boxes

    (track, boxes), stages["face"] = timed(track_faces)
    quality = QualityBackend()

    def visual():
        quality.reset()
        for frame, box in zip(frames, boxes, strict=True):
            quality.add(frame.image, box)
        return quality.finish()

    _, stages["visual_quality"] = timed(visual)
    spectral = SpectralBackend()
    _, stages["audio_spectral"] = timed(lambda: spectral.extract(audio, SAMPLE_RATE, n, 25.0))
    _, stages["dnsmos_clip"] = timed(lambda: dnsmos(audio, SAMPLE_RATE))
    _, stages["dnsmos_windows"] = timed(
        lambda: dnsmos_windows(audio, SAMPLE_RATE, settings.dnsmos_window_s, settings.dnsmos_hop_s)
    )

    def sync():
        envelope, has_audio = speech_envelope(audio, SAMPLE_RATE, n, settings.fps)
        return estimate_offset(mouth_signals(track), track.mask, envelope, has_audio, 25.0)

    _, stages["sync"] = timed(sync)
    scorer, stages["sync_scorer_load"] = timed(SyncScorer.load)
    _, stages["sync_scorer"] = timed(lambda: scorer.score(track, audio, SAMPLE_RATE, settings.fps))
    extractor, load_s = timed(lambda: Extractor(settings, face_model))
    _, total_s = timed(lambda: extractor(args.video))
    duration = info.duration
    floor_s = stages["decode"] + stages["face"]
    report = {
        "video": str(args.video),
        "duration_s": duration,
        "frames": n,
        "size": [info.width, info.height],
        "stages_s": {k: round(v, 3) for k, v in stages.items()},
        "stages_rtf": {k: round(v / duration, 3) for k, v in stages.items()},
        "model_load_s": round(load_s, 3),
        "total_s": round(total_s, 3),
        "real_time_factor": round(total_s / duration, 3),
        "floor_s": round(floor_s, 3),
        "ratio_to_floor": round(total_s / floor_s, 2),
        "cpu_count": os.cpu_count(),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for name, seconds in report["stages_s"].items():
        print(f"{name:16s} {seconds:7.3f} s  ({seconds / duration:.3f} x real time)")
    print(
        f"whole extraction {total_s:.2f} s for {duration:.2f} s of video: "
        f"{report['real_time_factor']:.3f} x real time (model load {load_s:.2f} s), "
        f"peak RSS {report['peak_rss_mib']} MiB; frames {n}, {np.prod(report['size'])} px"
    )
    print(
        f"floor (decode + face tracking) {floor_s:.2f} s: the whole extraction takes "
        f"{report['ratio_to_floor']:.2f} x the floor"
    )


if __name__ == "__main__":
    main()
