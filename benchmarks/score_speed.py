"""End-to-end scoring speed with the bundled default model, against the floor of the design,
on a quiet machine and beside a busy process.

Run from the repository root:

    python benchmarks/score_speed.py            # an 8 s 512x512 clip; batch over 6 real clips
    python benchmarks/score_speed.py --json

The floor is what no scorer of this design can skip: decoding at 25 fps and MediaPipe's face
landmarks (VIDEO mode) over the same frames, nothing else. Each measurement is paired with its
floor measured the same way in the same run, and reported as a ratio:

- cold: a fresh `talkscore score VIDEO --json` process (imports, model and backend loading,
  extraction, scoring) against a fresh process that imports the decoder and MediaPipe, loads
  the landmarker and tracks the clip;
- warm: a second `Scorer` call in this process against a second decode + landmark pass;
- batch: `talkscore batch` over the clips with 1 and 2 workers against one fresh floor process
  over the same clips;
- busy: cold and its floor again while another process keeps one core busy.

`--baseline DIR` (a checkout of other talkscore code, e.g. `git worktree add /tmp/old REV`)
also runs the cold, busy and batch commands with that code, in the same run, for a
before/after table.

Real-time factor = processing time / video duration (below 1 is faster than real time). Wall
times on a shared machine vary by 10-20%: compare ratios from one run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from talkscore.decoding import iter_frames, probe
from talkscore.extractors.face import FaceTracker, resolve_face_model
from talkscore.runtime import configure_threads
from talkscore.scoring import load_scorer

DATA = Path(os.environ.get("TALKSCORE_DATA", Path(__file__).resolve().parents[2] / "shared/data"))
DEFAULT_CLIP = DATA / "clips/real/sadtalker_ref_WDA_AlexandriaOcasioCortez_000.mp4"
BATCH_CLIPS = sorted((DATA / "clips/real").glob("pcavs_*.mp4"))[:6]
FLOOR_SCRIPT = """
import sys
from talkscore.decoding import iter_frames
from talkscore.extractors.face import FaceTracker
for video in sys.argv[2:]:
    with FaceTracker(sys.argv[1]) as tracker:
        for frame in iter_frames(video, 25.0):
            tracker.add(frame.image, frame.time)
        tracker.finish()
"""


def wall(command: list[str], code: str | None = None) -> float:
    """Seconds `command` takes; `code`: a checkout whose talkscore it runs (None: this one)."""
    env = dict(os.environ, PYTHONPATH=code) if code else None
    with tempfile.TemporaryDirectory() as neutral:  # no talkscore/ in the working folder
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env, cwd=neutral)
        return time.perf_counter() - start


def talkscore(*args: str) -> list[str]:
    """The `talkscore` command line, run by this Python (so PYTHONPATH can choose the code)."""
    return [sys.executable, "-c", "from talkscore.cli import app; app()", *args]


def floor_process(face_model: Path, videos: list[str]) -> float:
    """A fresh process that decodes and tracks faces, nothing else."""
    return wall([sys.executable, "-c", FLOOR_SCRIPT, str(face_model), *videos])


def floor_in_process(face_model: Path, video: str) -> float:
    start = time.perf_counter()
    with FaceTracker(face_model) as tracker:
        for frame in iter_frames(video, 25.0):
            tracker.add(frame.image, frame.time)
        tracker.finish()
    return time.perf_counter() - start


@contextmanager
def busy_core() -> Iterator[None]:
    """Another process that keeps one core busy."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        spinner.kill()
        spinner.wait()


def pair(result: dict, name: str, seconds: float, floor: float, duration: float) -> None:
    result[name] = {
        "s": round(seconds, 2),
        "floor_s": round(floor, 2),
        "ratio_to_floor": round(seconds / floor, 2),
        "x_real_time": round(seconds / duration, 3),
        "floor_x_real_time": round(floor / duration, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", default=str(DEFAULT_CLIP))
    parser.add_argument("--face-model", default=None)
    parser.add_argument("--baseline", help="a checkout of other code to time beside this one")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    face_model = resolve_face_model(args.face_model)
    duration = probe(args.video).duration
    cold = talkscore("score", args.video, "--json", "--face-model", str(face_model))
    result: dict = {"video": args.video, "duration_s": round(duration, 2), "cores": os.cpu_count()}
    codes = {"": None, "baseline_": args.baseline} if args.baseline else {"": None}

    for prefix, code in codes.items():
        floor = floor_process(face_model, [args.video])
        pair(result, f"{prefix}cold", wall(cold, code), floor, duration)
    configure_threads()  # as the CLI does
    scorer = load_scorer(face_model=face_model)
    scorer(args.video)
    floor_in_process(face_model, args.video)
    start = time.perf_counter()
    scorer(args.video)
    warm = time.perf_counter() - start
    pair(result, "warm", warm, floor_in_process(face_model, args.video), duration)

    clips = [str(v) for v in BATCH_CLIPS]
    total = sum(probe(v).duration for v in clips)
    batch_floor = floor_process(face_model, clips)
    for (prefix, code), workers in itertools.product(codes.items(), (1, 2)):
        with tempfile.TemporaryDirectory() as tmp:
            command = talkscore("batch", *clips, "--csv", str(Path(tmp) / "out.csv"))
            command += ["--face-model", str(face_model), "--workers", str(workers)]
            pair(
                result, f"{prefix}batch_{workers}_workers", wall(command, code), batch_floor, total
            )
    result["batch_videos"], result["batch_duration_s"] = len(clips), round(total, 1)

    for prefix, code in codes.items():
        with busy_core():
            floor = floor_process(face_model, [args.video])
            pair(result, f"{prefix}cold_busy", wall(cold, code), floor, duration)

    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.video}: {duration:.1f} s; batch: {len(clips)} clips, {total:.0f} s of video")
    print(f"{'':26} {'seconds':>8} {'floor':>8} {'/ floor':>8} {'x real time':>12}")
    for name, row in result.items():
        if isinstance(row, dict):
            print(
                f"{name:26} {row['s']:8.2f} {row['floor_s']:8.2f} {row['ratio_to_floor']:8.2f} "
                f"{row['x_real_time']:12.3f}"
            )


if __name__ == "__main__":
    main()
