"""Peak memory and time of `talkscore score` on a long 1080p video (default: 10 minutes).

Run from the repository root:

    python benchmarks/long_video.py                 # writes the video once into the cache
    python benchmarks/long_video.py --minutes 2 --json

The video is a real 512x512 clip looped, scaled to 1920x1080 (H.264, CRF 23, AAC), written once
into `~/.cache/talkscore/benchmarks/`. It is then scored by a fresh
`talkscore score VIDEO --json` process; peak RSS is that process's maximum resident set size
(`getrusage` of the child), so it includes Python, torch, MediaPipe and the model.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import time
from pathlib import Path

import av
import cv2
import numpy as np

from talkscore.decoding import iter_frames, read_audio
from talkscore.paths import cache_dir

DATA = Path(os.environ.get("TALKSCORE_DATA", Path(__file__).resolve().parents[2] / "shared/data"))
SOURCE = DATA / "clips/real/sadtalker_src_RD_Radio2_000.mp4"
SIZE = (1920, 1080)
FPS = 25


def write_long_video(path: Path, minutes: float) -> None:
    """`SOURCE` looped for `minutes`, pillar-boxed into 1920x1080, streamed to disk."""
    frames = [_pillar_box(f.image) for f in iter_frames(SOURCE, FPS, None)]
    audio = read_audio(SOURCE, 16000)
    total = int(minutes * 60 * FPS)
    tmp = path.with_suffix(".partial.mp4")
    with av.open(str(tmp), "w") as container:
        video = container.add_stream("libx264", rate=FPS, options={"crf": "23", "preset": "fast"})
        video.width, video.height, video.pix_fmt = *SIZE, "yuv420p"
        sound = container.add_stream("aac", rate=16000, layout="mono")
        for index in range(total):
            frame = av.VideoFrame.from_ndarray(frames[index % len(frames)], format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode())
        samples = np.tile(audio, -(-total * 640 // len(audio)))[: total * 640]
        block = av.AudioFrame.from_ndarray(samples[None].astype(np.float32), "flt", "mono")
        block.sample_rate, block.pts = 16000, 0
        container.mux(sound.encode(block))
        container.mux(sound.encode())
    tmp.replace(path)


def _pillar_box(image: np.ndarray) -> np.ndarray:
    height = SIZE[1]
    scaled = cv2.resize(image, (height * image.shape[1] // image.shape[0], height))
    canvas = np.zeros((height, SIZE[0], 3), np.uint8)
    left = (SIZE[0] - scaled.shape[1]) // 2
    canvas[:, left : left + scaled.shape[1]] = scaled
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    path = cache_dir() / "benchmarks" / f"long_{args.minutes:g}min_1080p.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file():
        write_long_video(path, args.minutes)
    start = time.perf_counter()
    run = subprocess.run(
        ["talkscore", "score", str(path), "--json"], capture_output=True, text=True, check=True
    )
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    report = json.loads(run.stdout)
    result = {
        "video": str(path),
        "minutes": args.minutes,
        "resolution": f"{SIZE[0]}x{SIZE[1]}",
        "score_s": round(seconds, 1),
        "real_time_factor": round(seconds / (args.minutes * 60), 3),
        "peak_rss_mib": round(peak_mib),
        "overall": report["scores"]["overall"],
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{args.minutes:g} min 1080p: scored in {result['score_s']} s "
            f"({result['real_time_factor']}x real time), peak RSS {result['peak_rss_mib']} MiB"
        )


if __name__ == "__main__":
    main()
