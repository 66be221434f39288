"""Is an active speaker network's speaking score a lip signal that transfers? Measured on
ADTH-QA's rated pairs.

    python examples/speaker_network_check.py [--network lr-asd|light-asd] [--weights PATH]

LR-ASD (`talkscore.sync.lr_asd`, the authors' AVA weights from ../shared/models/lr_asd_ava.model)
or Light-ASD (`talkscore.sync.light_asd`, their TalkSet weights, light_asd_talkset.model) scores
every ADTH-QA video frame by frame on face crops cut around MediaPipe's face boxes (the authors'
S3FD detector is not available here; boxes smoothed as theirs), with the audio as it is and moved
by -6, -3, +3 and +6 frames. Two readings per video, each compared on the common frames of a pair
like every signal: the mean speaking logit at lag 0, and lag 0 minus the mean of the moved lags
(how much the score depends on the timing). Prints the clear-pair agreement per dimension and
the CPU seconds per second of video; nothing fitted, so it holds for an unseen generator as it
does here. Logits are kept in the work folder ($TALKSCORE_WORK or
~/.cache/talkscore/speaker_network), one sub-folder per network.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_default_model as recipe  # noqa: E402  (the shared data layout)

WORK = Path(os.environ.get("TALKSCORE_WORK", Path.home() / ".cache/talkscore/speaker_network"))
LAGS = (-6, -3, 0, 3, 6)
IN_SYNC = LAGS.index(0)
READINGS = {
    "mean speaking logit at lag 0": lambda c: c[IN_SYNC].mean(),
    "lag 0 minus the moved lags": lambda c: c[IN_SYNC].mean() - np.delete(c, IN_SYNC, 0).mean(),
}


def logits_of(video: Path, model, face_model: Path, folder: Path) -> np.ndarray:
    """`[lags, T]` speaking logits of one video (cached in `folder`)."""
    from talkscore.decoding import iter_frames, read_audio
    from talkscore.extractors.face import FaceTracker
    from talkscore.sync.lr_asd import face_crop, smooth_boxes, speaking_logits, speech_mfcc

    cached = folder / f"{video.stem}.npy"
    if cached.is_file():
        return np.load(cached)
    frames, boxes = [], []
    with FaceTracker(face_model) as tracker:
        for frame in iter_frames(video, 25.0, 640, None):
            box = tracker.add(frame.image, frame.time)
            frames.append(frame.image)
            boxes.append(box if box is not None else (boxes[-1] if boxes else (0, 0, 1, 1)))
    faces = np.stack([face_crop(f, b) for f, b in zip(frames, smooth_boxes(boxes), strict=True)])
    logits = speaking_logits(model, faces, speech_mfcc(read_audio(video, 16000, None)), LAGS)
    np.save(cached, logits)
    return logits


def main() -> None:
    import torch

    from talkscore.extractors.face import resolve_face_model
    from talkscore.sync.light_asd import LightASD
    from talkscore.sync.lr_asd import LRASD
    from talkscore.training.datasets import CLEAR_MARGIN

    networks = {"lr-asd": LRASD, "light-asd": LightASD}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", choices=list(networks), default="lr-asd")
    parser.add_argument("--weights", type=Path, default=None)
    args = parser.parse_args()
    network = networks[args.network]
    folder = WORK / args.network
    folder.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    shared = recipe.DATA.parent / "models" / network.WEIGHTS.filename
    # the option, else the shared copy, else as talkscore finds it (variable, cache, download)
    model = network.load(args.weights or (shared if shared.is_file() else None))
    face_model = resolve_face_model()
    logits, seconds, duration = {}, 0.0, 0.0
    for video in recipe.adth_videos():
        started = time.process_time()
        logits[video] = logits_of(video, model, face_model, folder)
        spent = time.process_time() - started
        print(f"{video.name}: {logits[video].shape[1]} frames, {spent:.0f} s")
        if spent > 1:  # scored now, not read from the cache
            seconds, duration = seconds + spent, duration + logits[video].shape[1] / 25.0
    if duration:
        print(f"{seconds / duration:.2f} CPU-s per second of video ({len(LAGS)} lags, crops, MFCC)")
    for name, reading in READINGS.items():
        agreement = {}
        for dim in recipe.DIMENSION_TASKS:
            credit = []
            for p in recipe.preferences():
                if p.dimension != dim or abs(p.votes_a - p.votes_b) < CLEAR_MARGIN:
                    continue
                a, b = logits[p.video_a], logits[p.video_b]
                frames = min(a.shape[1], b.shape[1])
                margin = reading(a[:, :frames]) - reading(b[:, :frames])
                credit.append(
                    0.5 if margin == 0 else float((margin > 0) == (p.votes_a > p.votes_b))
                )
            agreement[dim] = f"{np.mean(credit):.2f} ({len(credit)} pairs)"
        print(f"{name}: {agreement}")


if __name__ == "__main__":
    main()
