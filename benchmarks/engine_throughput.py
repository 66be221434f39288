"""Batch throughput of the local engine against Ray on this machine (same number of workers).

Run from the repository root (Ray installed: pip install -e ".[ray]"):

    python benchmarks/engine_throughput.py              # 6 real clips, 2 workers each way
    python benchmarks/engine_throughput.py --workers 1 --json

Each engine scores the same clips into a new CSV with the bundled model; wall time includes
starting the workers (and, for Ray, a local Ray instance on the loopback interface) and loading
the model in each. Videos per minute and the real-time factor are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from talkscore.batch.jobs import run_jobs
from talkscore.batch.scores import ScoreJob, score_batch
from talkscore.decoding import probe

DATA = Path(os.environ.get("TALKSCORE_DATA", Path(__file__).resolve().parents[2] / "shared/data"))
CLIPS = sorted((DATA / "clips/real").glob("pcavs_*.mp4"))[:6]


def timed(engine, job, workers: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        summary = score_batch(CLIPS, Path(tmp) / "out.csv", job=job, workers=workers, engine=engine)
        seconds = time.perf_counter() - start
    assert summary["scored"] == len(CLIPS), summary
    return seconds


def main() -> None:
    from talkscore.batch.ray_engine import RayEngine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    total = sum(probe(v).duration for v in CLIPS)
    job = ScoreJob()
    result = {"videos": len(CLIPS), "video_seconds": round(total, 1), "workers": args.workers}
    result["local_s"] = round(timed(run_jobs, job, args.workers), 1)
    ray = RayEngine(local_cpus=os.cpu_count())
    result["ray_s"] = round(timed(ray, job.packed(), args.workers), 1)
    for name in ("local", "ray"):
        result[f"{name}_videos_per_min"] = round(60 * len(CLIPS) / result[f"{name}_s"], 1)
        result[f"{name}_rtf"] = round(result[f"{name}_s"] / total, 3)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{len(CLIPS)} clips ({total:.0f} s), {args.workers} workers: local "
            f"{result['local_s']} s ({result['local_rtf']}x), Ray {result['ray_s']} s "
            f"({result['ray_rtf']}x)"
        )


if __name__ == "__main__":
    main()
