"""Does a model judge the picture, or the audio track that came with it?

The generated versions of one ADTH-QA source carry the same speech, but each generator's pipeline
resampled and re-encoded it a little differently, and those small differences alone order people's
preferences (one audio feature, the spread of the first MFCC delta, orders all 20 clear render
pairs). This check scores each generated video twice: as it is, and remuxed with one shared audio
track (that source's Wav2Lip version's, packets copied, no re-encoding), then reports the clear-pair
agreement of both. A model that reads the face keeps its agreement; one that learnt the generators'
audio fingerprints loses it. Run from the repository root (about 5 minutes on two cores):

    python examples/audio_shortcut_check.py                 # the bundled model
    python examples/audio_shortcut_check.py --model CKPT    # a checkpoint of yours

The remuxed copies go to shared_audio/ in the default-model recipe's work folder
(~/.cache/talkscore/default_model; TALKSCORE_WORK sets another).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import av
from train_default_model import WORK, preferences

SHARED_AUDIO = "wav2lip"  # the generator whose audio track every version of a source gets


def remux(video: Path, audio_from: Path, out: Path) -> Path:
    """`video`'s video stream with `audio_from`'s audio stream, both copied packet by packet."""
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial.mp4")
    with (
        av.open(str(video)) as pictures,
        av.open(str(audio_from)) as sound,
        av.open(str(partial), "w") as muxed,
    ):
        inputs = (pictures.streams.video[0], sound.streams.audio[0])
        outputs = {stream: muxed.add_stream_from_template(stream) for stream in inputs}
        for stream in inputs:
            for packet in stream.container.demux(stream):
                if packet.dts is None:  # the demuxer's flush packet
                    continue
                packet.stream = outputs[stream]
                muxed.mux(packet)
    partial.replace(out)
    return out


def shared_audio_copy(video: Path) -> Path:
    """An ADTH-QA video remuxed with its source's shared audio track (that track's own video is
    returned as it is)."""
    generator, source = video.stem.split("__")
    if generator == SHARED_AUDIO:
        return video
    return remux(
        video, video.with_name(f"{SHARED_AUDIO}__{source}.mp4"), WORK / "shared_audio" / video.name
    )


def main() -> None:
    from rich.progress import track

    from talkscore.scoring import Scorer
    from talkscore.training.datasets import preference_agreement

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint folder (default: the bundled model)")
    args = parser.parse_args()
    pairs = preferences()
    videos = sorted({v for p in pairs for v in (p.video_a, p.video_b)})
    scorer = Scorer(args.model)
    as_is, shared = {}, {}
    for video in track(videos, description="scoring"):
        as_is[video] = scorer(video).scores
        copy = shared_audio_copy(video)
        shared[video] = as_is[video] if copy == video else scorer(copy).scores
    report = {}
    for name, scores in (("as is", as_is), ("one shared audio track", shared)):
        agreement = preference_agreement(pairs, lambda v, task, s=scores: s[v][task])
        report[name] = {dim: round(r["agreement"], 3) for dim, r in agreement.items()}
    report["pairs"] = {dim: r["pairs"] for dim, r in agreement.items()}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
