"""End-to-end scoring speed with the bundled default model: `score` cold and warm, `batch` with
1 and 2 workers.

Run from the repository root:

    python benchmarks/score_speed.py            # an 8 s 512x512 clip; batch over 6 real clips
    python benchmarks/score_speed.py --json

cold: a fresh `talkscore score VIDEO --json` process (imports, model and backend loading,
extraction, scoring), wall time. warm: a second `Scorer` call on the same clip in this process.
batch: `talkscore batch` over the clips into a new CSV, wall time, with --workers 1 and 2.
Real-time factor = processing time / video duration (below 1 is faster than real time).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from talkscore.decoding import probe
from talkscore.scoring import Scorer

DATA = Path(os.environ.get("TALKSCORE_DATA", Path(__file__).resolve().parents[2] / "shared/data"))
DEFAULT_CLIP = DATA / "clips/real/sadtalker_ref_WDA_AlexandriaOcasioCortez_000.mp4"
BATCH_CLIPS = sorted((DATA / "clips/real").glob("pcavs_*.mp4"))[:6]


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", default=str(DEFAULT_CLIP))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    exe = shutil.which("talkscore") or "talkscore"
    duration = probe(args.video).duration
    result: dict = {"video": args.video, "duration_s": round(duration, 2)}
    result["cold_s"] = round(wall([exe, "score", args.video, "--json"]), 2)
    scorer = Scorer()
    scorer(args.video)
    start = time.perf_counter()
    scorer(args.video)
    result["warm_s"] = round(time.perf_counter() - start, 2)
    result["cold_rtf"] = round(result["cold_s"] / duration, 3)
    result["warm_rtf"] = round(result["warm_s"] / duration, 3)
    total = sum(probe(v).duration for v in BATCH_CLIPS)
    result["batch_videos"], result["batch_duration_s"] = len(BATCH_CLIPS), round(total, 1)
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            csv = str(Path(tmp) / "out.csv")
            command = [exe, "batch", *map(str, BATCH_CLIPS), "--csv", csv]
            seconds = wall([*command, "--workers", str(workers)])
        result[f"batch_{workers}_workers_s"] = round(seconds, 1)
        result[f"batch_{workers}_workers_rtf"] = round(seconds / total, 3)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"score {result['duration_s']} s clip: cold {result['cold_s']} s "
        f"({result['cold_rtf']}x real time), warm {result['warm_s']} s ({result['warm_rtf']}x); "
        f"batch of {len(BATCH_CLIPS)} clips ({total:.0f} s of video): "
        f"1 worker {result['batch_1_workers_s']} s ({result['batch_1_workers_rtf']}x), "
        f"2 workers {result['batch_2_workers_s']} s ({result['batch_2_workers_rtf']}x)"
    )


if __name__ == "__main__":
    main()
