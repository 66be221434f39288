"""Which streams decide the leave-one-source-out models' preferences?

For every clear rated pair of ADTH-QA's development half (votes apart by 5 or more), the models
trained without the pair's source score both videos, cut to their common frames (both are driven
by the same speech, so frame t of one shows what frame t of the other does), then once more with
one stream exchanged between the two (visual, audio, keypoint, au, sync, pose). The change of
the margin (the preferred video's score minus the other's, on the dimension's task) says how much
that stream carries the pair: a won pair that an exchange turns into a loss rests on that stream;
a lost pair that an exchange wins is lost because of it. The audio stream's row is the
leave-one-source-out form of `audio_shortcut_check.py`: a model that ordered the generators by
their audio fingerprints would lose pairs when the audio streams are exchanged.

    python examples/stream_attribution.py                  # members of seed 0, about 15 minutes
    python examples/stream_attribution.py --seeds 0 1 2    # the leave-one-source-out ensemble

Needs the features of the default-model recipe (its render and features stages) in its work
folder; writes stream_attribution.json there.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np
from train_default_model import (
    WORK,
    all_features,
    fold_members,
    loso_folds,
    preferences,
    scores_of,
    window,
)


def exchanged(a, b, modality: str) -> tuple:
    """`a` and `b` (same length) with their `modality` stream and mask exchanged."""

    def take(into, other):
        streams = {**into.streams, modality: other.streams[modality]}
        return replace(into, streams=streams, masks={**into.masks, modality: other.masks[modality]})

    return take(a, b), take(b, a)


def clear_pairs() -> list[tuple]:
    """(source, task, preferred video, other video) of every clear ADTH-QA pair."""
    from talkscore.training.datasets import CLEAR_MARGIN

    clear = []
    for p in preferences():
        if abs(p.votes_a - p.votes_b) >= CLEAR_MARGIN:
            winner, other = (
                (p.video_a, p.video_b) if p.votes_a > p.votes_b else (p.video_b, p.video_a)
            )
            clear.append((p.source, p.task, winner, other))
    return clear


def margins(model, reducer, features, task: str, winner, loser) -> dict[str, float]:
    """The pair's margin on `task`, as it is ("none") and with each stream exchanged."""
    frames = min(features[winner].num_frames, features[loser].num_frames)
    first, second = window(features[winner], 0, frames), window(features[loser], 0, frames)
    variants = {"none": (first, second)}
    variants |= {m: exchanged(first, second, m) for m in first.streams}
    cut = {(name, i): f for name, pair in variants.items() for i, f in enumerate(pair)}
    (scores,) = scores_of([model], reducer, cut, list(cut))
    return {name: scores[name, 0][task] - scores[name, 1][task] for name in variants}


def summary(rows: list[dict]) -> dict:
    """Per task: pairs won as they are and, per stream, won pairs an exchange loses, lost pairs
    it wins, and the mean change of the margin."""
    out = {}
    for task in sorted({r["task"] for r in rows}):
        mine = [r for r in rows if r["task"] == task]
        won = [r["margin"]["none"] > 0 for r in mine]
        entry = {"pairs": len(mine), "won": int(sum(won)), "streams": {}}
        for stream in (s for s in mine[0]["margin"] if s != "none"):
            after = [r["margin"][stream] > 0 for r in mine]
            change = [r["margin"][stream] - r["margin"]["none"] for r in mine]
            entry["streams"][stream] = {
                "won_pairs_lost": int(sum(w and not a for w, a in zip(won, after, strict=True))),
                "lost_pairs_won": int(sum(a and not w for w, a in zip(won, after, strict=True))),
                "mean_margin_change": round(float(np.mean(change)), 3),
            }
        out[task] = entry
    return out


def main() -> None:
    from talkscore.models import ModelEnsemble

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    records = json.loads((WORK / "degraded.json").read_text())
    features = all_features(records, args.workers)
    folds = loso_folds(records, features)
    trained = fold_members(folds, tuple(args.seeds), args.workers)
    models = {source: ModelEnsemble(members) for source, members in trained.items()}
    rows = []
    for source, task, winner, loser in clear_pairs():
        margin = margins(models[source], folds[source][0], features, task, winner, loser)
        rows.append({"task": task, "pair": f"{winner.stem} > {loser.stem}", "margin": margin})
        print(task, rows[-1]["pair"], {k: round(v, 3) for k, v in margin.items()}, flush=True)
    report = {"seeds": args.seeds, "summary": summary(rows), "pairs": rows}
    (WORK / "stream_attribution.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report["summary"], indent=1))


if __name__ == "__main__":
    main()
