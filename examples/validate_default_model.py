"""Validate scoring as a user meets it: generators and people the model never saw.

    python examples/validate_default_model.py                    # features, reference, tables
    python examples/validate_default_model.py --write-reference  # also rewrite the bundled
                                                                 # real-recording reference
    python examples/validate_default_model.py --ship   # also write the bundled calibration

On ADTH-QA's development half (../shared/data/adthqa_dev, 4 generators x 5 sources, 90 rated
pairs), every scorer is measured three ways, pooled over the clear pairs (|votes_a - votes_b| >=
5) of each dimension (lip -> lip_sync, render -> overall, head -> expression):
- in-sample: fitted on every pair, measured on the same pairs;
- leave-one-source-out (LOSO): fitted without one source's pairs, measured on them, rotated;
- leave-one-generator-out (LOGO): fitted without every pair that involves one generator,
  measured on those pairs, rotated (a pair of two generators counts once in each of their folds).
The scorers: each named signal of `talkscore.signals` alone (nothing fitted: the same figure in
all three columns), the generator prior (each generator's vote share on the fitting pairs; it
knows nothing of an unseen generator: 0.5 under LOGO), the bundled network (trained by
`train_default_model.py` on the shared clips' labels alone, never on ADTH-QA: one figure in all
three columns; the ensemble and each member), the calibrations (a sign-constrained logistic
model over the oriented signals and the bundled network's score, `talkscore.models.calibration`)
and, when `train_default_model.py --stage loso / logo` has left its fold scores in its work
folder, the network trained on ADTH-QA's preferences too (ensemble and members). Both videos of
a pair are compared on their common frames (their features cut to the shorter one) so that clip
length cannot order them.
Writes validation.json to the work folder ($TALKSCORE_WORK or ~/.cache/talkscore/validation) and
prints the table in Markdown. With --ship, each dimension whose best calibration (by LOGO
agreement, ties by LOGO cross-entropy) is at least the bundled network's agreement is fitted on
every pair, put on the score scale by the degradation labels (`label_scale`) and written to the
bundled model's calibration.json: the scorer then gives that task from the calibration.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from talkscore.models.calibration import TaskCalibration
from talkscore.training.degradations import CLEAN_LABEL

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_default_model as recipe  # noqa: E402  (the shared data layout and the folds)

WORK = Path(os.environ.get("TALKSCORE_WORK", Path.home() / ".cache/talkscore/validation"))
NETWORK_WORK = recipe.WORK
DIMENSIONS = recipe.DIMENSION_TASKS  # lip -> lip_sync, head -> expression, render -> overall
PENALTIES = (1.0, 10.0, 100.0)  # L2 strengths tried for the calibration (chosen by LOGO)


def features_of(videos: list[Path], workers: int) -> dict:
    from talkscore.extraction import ExtractionSettings
    from talkscore.training.workflow import DataConfig, video_features

    data = DataConfig(features=str(WORK / "features"), workers=workers)
    return video_features(videos, ExtractionSettings(), data, None)


def write_reference(features: dict) -> None:
    """The bundled real-recording reference, from the shared real recordings."""
    from talkscore.signals import RealReference, measure_signals
    from talkscore.signals.reference import REFERENCE

    clips = recipe.real_clips()
    reference = RealReference.from_values([measure_signals(features[v]) for v in clips])
    document = {
        "about": "signals of the real recordings with audio in the shared clips/real/",
        "recipe": "examples/validate_default_model.py --write-reference",
        "clips": len(clips),
        "signals": reference.to_dict(),
    }
    REFERENCE.write_text(json.dumps(document, indent=1) + "\n")
    print(f"reference: {len(clips)} real recordings -> {REFERENCE}")


# -- pairs on common frames ------------------------------------------------------------------


def common_frames(p, features: dict) -> tuple:
    """The features of pair `p`'s two videos, both cut to their common frames (so that clip
    length cannot order them)."""
    frames = min(features[p.video_a].num_frames, features[p.video_b].num_frames)
    return features[p.video_a].cut(0, frames), features[p.video_b].cut(0, frames)


def pair_signals(pairs: list, features: dict, reference) -> np.ndarray:
    """`[pairs, signals]` oriented signal of video A minus video B (higher: A better), both cut
    to their common frames; 0 where either is not measurable."""
    from talkscore.signals import SIGNALS, measure_signals

    rows = []
    for p in pairs:
        a, b = (measure_signals(f) for f in common_frames(p, features))
        rows.append([reference.oriented(n, a[n]) - reference.oriented(n, b[n]) for n in SIGNALS])
    return np.nan_to_num(np.array(rows, float))


def all_pairs() -> list:
    """ADTH-QA's rated pairs (lip, head, render), then each real source slice against each of
    its generated versions (dimension "real": the real recording preferred, 10 votes to 0)."""
    return recipe.preferences() + recipe.real_over_generated()


def clear(p) -> bool:
    from talkscore.training.datasets import CLEAR_MARGIN

    return abs(p.votes_a - p.votes_b) >= CLEAR_MARGIN


def credit(p, margin: float) -> float:
    """1 when `margin` (A minus B) orders the pair as the majority did, 0.5 on a tie."""
    if not np.isfinite(margin) or margin == 0:
        return 0.5
    return float((margin > 0) == (p.votes_a > p.votes_b))


# -- folds -------------------------------------------------------------------------------------


def folds(pairs: list, split: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fitting pairs, measured pairs) index arrays per fold of `split` ("in-sample", "source",
    "generator")."""
    index = np.arange(len(pairs))
    if split == "in-sample":
        return [(index, index)]
    out = []
    for name in recipe.SPLITS[split]():
        involved = np.array(
            [recipe.left_out(p.video_a, name) or recipe.left_out(p.video_b, name) for p in pairs]
        )
        out.append((index[~involved], index[involved]))
    return out


def pooled(
    pairs: list, measured: list[tuple[np.ndarray, np.ndarray]], logits: bool = False
) -> dict:
    """Agreement per dimension over the clear measured pairs, and the sources whose real slice
    is above all its generated versions (`real_on_top`): `measured` holds (pair indices,
    margins) per fold. Margins that are logits of preference (`logits`) also get their mean
    cross-entropy against the vote shares of every measured pair (`cross_entropy`: lower is
    better, 0.69 is a coin): it judges their size, which becomes score points."""
    totals: dict[str, list[float]] = {d: [] for d in DIMENSIONS}
    entropy: dict[str, list[float]] = {d: [] for d in DIMENSIONS}
    above: dict[str, bool] = {}
    for indices, margins in measured:
        for i, m in zip(indices, margins, strict=True):
            p = pairs[i]
            if p.dimension == "real":
                above[p.source] = above.get(p.source, True) and bool(m > 0)
                continue
            if clear(p):
                totals[p.dimension].append(credit(p, m))
            q = np.clip(1.0 / (1.0 + np.exp(-m)), 1e-6, 1 - 1e-6)
            entropy[p.dimension].append(-(p.share_a * np.log(q) + (1 - p.share_a) * np.log(1 - q)))
    result = {d: round(float(np.mean(c)), 3) if c else None for d, c in totals.items()}
    if logits:
        result["cross_entropy"] = {d: round(float(np.mean(e)), 3) for d, e in entropy.items() if e}
    return result | ({"real_on_top": sum(above.values())} if above else {})


def generator_prior(pairs: list, fit: np.ndarray, measure: np.ndarray) -> np.ndarray:
    """Margins from each generator's vote share on the fitting pairs of the same dimension (0,
    a tie, for a generator the fitting pairs never show)."""
    votes: dict[tuple[str, str], list[float]] = {}
    for i in fit:
        p = pairs[i]
        for video, won, lost in (
            (p.video_a, p.votes_a, p.votes_b),
            (p.video_b, p.votes_b, p.votes_a),
        ):
            entry = votes.setdefault((p.dimension, recipe.adth_generator(video)), [0.0, 0.0])
            entry[0] += won
            entry[1] += won + lost

    def share(p, video) -> float:
        won, total = votes.get((p.dimension, recipe.adth_generator(video)), (0.0, 0.0))
        return won / total if total else np.nan

    margins = [
        share(pairs[i], pairs[i].video_a) - share(pairs[i], pairs[i].video_b) for i in measure
    ]
    return np.array(margins, float)


def evaluate(pairs: list, split: str, margins_of, logits: bool = False) -> dict:
    """Pooled agreement of `margins_of(fit indices, measured indices)` over the folds."""
    return pooled(pairs, [(m, margins_of(f, m)) for f, m in folds(pairs, split)], logits)


#: what each dimension's calibration reads: the signals of its task, all signals, the task
#: signal that orders the fitting pairs best (chosen inside each fold), or either of those
#: with the bundled network's score of the task (`NETWORK_INPUT`)
SUBSETS = ("task", "all", "best", "task+network", "best+network")


def inputs(subset: str, task: str, best: str = "") -> list[str]:
    """The input names a calibration of `task` over `subset` reads (`best`: the task signal
    chosen on the fitting pairs, for "best+network")."""
    from talkscore.models.calibration import NETWORK_INPUT
    from talkscore.signals import SIGNALS

    if subset.startswith("best"):
        names = [best]
    else:
        names = [n for n, s in SIGNALS.items() if subset == "all" or s.task == task]
    return [*names, NETWORK_INPUT] if subset.endswith("+network") else names


def best_signal(pairs: list, x: np.ndarray, fit, dim: str, task: str) -> str:
    """The signal of `task` that orders most of the clear `dim` pairs among `fit` (the first
    in `SIGNALS` on a tie): a choice made inside the fold, as a user without these pairs
    would have to."""
    from talkscore.signals import SIGNALS

    judged = [i for i in fit if pairs[i].dimension == dim and clear(pairs[i])]
    names = [n for n, s in SIGNALS.items() if s.task == task]
    agreement = {
        n: np.mean([credit(pairs[i], x[i, list(SIGNALS).index(n)]) for i in judged]) for n in names
    }
    return max(names, key=lambda n: agreement[n])


def design(x: np.ndarray, network: np.ndarray, names: list[str], task: str) -> np.ndarray:
    """`[pairs, names]` inputs of a calibration: the oriented signal differences `x` and, for
    `NETWORK_INPUT`, the network's `task` score difference (`network` `[pairs, tasks]`)."""
    from talkscore.models.calibration import NETWORK_INPUT
    from talkscore.signals import SIGNALS
    from talkscore.tasks import TASKS

    columns = [
        network[:, TASKS.index(task)] if n == NETWORK_INPUT else x[:, list(SIGNALS).index(n)]
        for n in names
    ]
    return np.stack(columns, axis=1)


def fitting_dimensions(dim: str) -> tuple[str, ...]:
    """The pair dimensions a calibration of `dim` is fitted on (render also on the
    real-over-generated pairs: real recordings sit at the top)."""
    return (dim, "real") if dim == "render" else (dim,)


def calibrated(pairs: list, x: np.ndarray, network: np.ndarray, penalty: float, subset: str):
    """`margins_of` for the calibration, fitted per dimension on the fitting pairs' vote shares."""
    from talkscore.models.calibration import SignCalibration

    def margins_of(fit: np.ndarray, measure: np.ndarray) -> np.ndarray:
        out = np.zeros(len(measure))
        for dim, task in DIMENSIONS.items():
            dims = fitting_dimensions(dim)
            best = best_signal(pairs, x, fit, dim, task)
            z = design(x, network, inputs(subset, task, best), task)
            train = [i for i in fit if pairs[i].dimension in dims]
            shares = np.array([pairs[i].share_a for i in train])
            model = SignCalibration.fit(z[train], shares, penalty)
            rows = [k for k, i in enumerate(measure) if pairs[i].dimension in dims]
            out[rows] = model.margin(z[measure[rows]])
        return out

    return margins_of


def network_alone(pairs: list, network: np.ndarray) -> dict:
    """Agreement of the bundled network (`network`: its score differences) alone: nothing is
    fitted on these pairs, so one figure serves every split."""
    from talkscore.tasks import TASKS

    columns = np.array([TASKS.index(p.task) for p in pairs])
    return evaluate(pairs, "in-sample", lambda f, m: network[m, columns[m]])


def member_rows(pairs: list, x: np.ndarray, network: np.ndarray) -> dict:
    """One member (`network`: its score differences) alone and under the calibration of its
    task signals and it (the ensemble's calibrations are rows of `report["calibration"]`)."""
    rows = {"alone": network_alone(pairs, network)}
    for penalty in PENALTIES:
        margins_of = calibrated(pairs, x, network, penalty, "task+network")
        rows[f"penalty {penalty:g}"] = {s: evaluate(pairs, s, margins_of) for s in SPLIT_NAMES}
    return rows


def bundled_network(member: int | None = None):
    """The bundled model's scorer without its calibration (the network's own scores): the
    ensemble, or one `member`."""
    import talkscore

    scorer = talkscore.load_scorer()
    scorer.calibration = {}
    if member is not None:
        scorer.model = scorer.model.members[member]
    return scorer


def network_differences(pairs: list, features: dict, member: int | None = None) -> np.ndarray:
    """`[pairs, tasks]` the bundled network's score (its ensemble's, or one `member`'s) of video
    A minus B, both cut to their common frames (as the signals are)."""
    from talkscore.tasks import TASKS

    scorer = bundled_network(member)
    rows = []
    for p in pairs:
        a, b = (
            scorer.score_features(f, v.name).scores
            for f, v in zip(common_frames(p, features), (p.video_a, p.video_b), strict=True)
        )
        rows.append([a[t] - b[t] for t in TASKS])
    return np.array(rows, float)


SPLIT_NAMES = ("in-sample", "source", "generator")


def preference_network_rows() -> dict:
    """LOSO and LOGO agreement (ensemble, members) of the network trained on ADTH-QA's
    preferences too, from the training recipe's work folder where it has run those stages."""
    rows = {}
    for split in ("source", "generator"):
        path = NETWORK_WORK / f"{split}.json"
        if path.is_file():
            report = json.loads(path.read_text())
            rows[split] = {
                "ensemble": {d: r["agreement"] for d, r in report["agreement"].items()},
                "members": [
                    {d: r["agreement"] for d, r in m["agreement"].items()}
                    for m in report["members"].values()
                ],
                "real_on_top": sum(report["real_on_top"].values()),
                "members_real_on_top": [
                    sum(m["real_on_top"].values()) for m in report["members"].values()
                ],
            }
    return rows


def bundled_in_sample(pairs: list, features: dict) -> dict:
    """The bundled scorer (network and calibrations, fitted on these pairs) on whole videos."""
    import talkscore

    scorer = talkscore.load_scorer()
    scores = {v: scorer.score_features(features[v], v.name).scores for v in recipe.adth_videos()}
    margins = [scores[p.video_a][p.task] - scores[p.video_b][p.task] for p in pairs]
    return pooled(pairs, [(np.arange(len(pairs)), np.array(margins))])


def main() -> None:
    from talkscore.signals import SIGNALS, real_reference
    from talkscore.signals.reference import REFERENCE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--write-reference", action="store_true")
    parser.add_argument("--ship", action="store_true", help="write the chosen calibrations")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    features = features_of(recipe.adth_videos() + recipe.real_clips(), args.workers)
    if args.write_reference:
        write_reference(features)
        real_reference.cache_clear()
    reference = real_reference(REFERENCE)
    pairs = all_pairs()
    x = pair_signals(pairs, features, reference)
    report: dict = {"signals": {}, "prior": {}, "calibration": {}}
    report["preference network"] = preference_network_rows()
    for k, name in enumerate(SIGNALS):
        report["signals"][name] = evaluate(pairs, "in-sample", lambda f, m, k=k: x[m, k])
    frames = {v: f.num_frames for v, f in features.items()}
    report["frame count (a fingerprint)"] = evaluate(
        pairs,
        "in-sample",
        lambda f, m: np.array(
            [frames[pairs[i].video_a] - frames[pairs[i].video_b] for i in m], float
        ),
    )
    for split in SPLIT_NAMES:
        report["prior"][split] = evaluate(pairs, split, lambda f, m: generator_prior(pairs, f, m))
    network = network_differences(pairs, features)
    report["bundled network"] = {"alone": network_alone(pairs, network)}
    report["bundled network members"] = [
        member_rows(pairs, x, network_differences(pairs, features, k))
        for k in range(len(recipe.MEMBER_SEEDS))
    ]
    for subset in SUBSETS:
        for penalty in PENALTIES:
            margins_of = calibrated(pairs, x, network, penalty, subset)
            report["calibration"][f"{subset} signals, penalty {penalty:g}"] = {
                split: evaluate(pairs, split, margins_of, logits=True) for split in SPLIT_NAMES
            }
    if args.ship:
        ship(report, pairs, x, network)
    report["bundled in-sample"] = bundled_in_sample(pairs, features)  # with what --ship wrote
    (WORK / "validation.json").write_text(json.dumps(report, indent=1))
    print("\n".join(markdown(report)))


def label_scale(task: str, weights: TaskCalibration) -> tuple[float, float, int]:
    """(top, points per logit, videos) that put the calibrated logits on the score scale: a
    line (points per logit >= 0) that gives them the mean and spread of the degradation labels
    of the task on the training recipe's degraded real clips, those clean and those of every
    degradation that lowers the task (labels from talkscore.training.degradations, as the
    network learns them). The preferences fix the order and the weights' ratios; the labels fix
    where a clean real recording and a frozen face sit on 1..5."""
    from talkscore.extraction import ExtractionSettings
    from talkscore.models.calibration import NETWORK_INPUT
    from talkscore.signals import measure_signals, real_reference
    from talkscore.tasks import TASKS
    from talkscore.training.workflow import DataConfig, video_features

    index = TASKS.index(task)
    records = json.loads((NETWORK_WORK / "degraded.json").read_text())
    lowering = {r["degradation"] for r in records if r["labels"][index] < CLEAN_LABEL - 1e-3}
    chosen = [r for r in records if r["degradation"] in lowering | {"clean"}]
    data = DataConfig(features=str(NETWORK_WORK / "features"), workers=1)
    features = video_features([Path(r["video"]) for r in chosen], ExtractionSettings(), data, None)
    unit = TaskCalibration(weights.weights, weights.scales, points_per_logit=1.0, top=0.0)
    scorer = bundled_network() if NETWORK_INPUT in weights.weights else None

    def logit(video: Path) -> float:
        """The calibrated logit of `video` (NaN where the network leaves the task unscored)."""
        values = measure_signals(features[video])
        if scorer is not None:
            score = scorer.score_features(features[video], video.name).scores[task]
            if score is None:
                return np.nan
            values[NETWORK_INPUT] = score
        return sum(unit.contributions(values, real_reference()).values())

    logits = np.array([logit(Path(r["video"])) for r in chosen])
    labels = np.array([r["labels"][index] for r in chosen])
    kept = np.isfinite(logits) & np.isfinite(labels)
    x, y = logits[kept], labels[kept]
    # spreads matched (reduced major axis): least squares would shrink the slope by the
    # correlation, since the logits are noisy too, and squeeze every score towards the mean
    slope = float(np.std(y) / np.std(x)) if np.corrcoef(x, y)[0, 1] > 0 else 0.0
    top = float(np.mean(y - slope * x))
    return top, slope, int(kept.sum())


def chosen_calibrations(report: dict) -> dict[str, tuple[str, float]]:
    """Dimension -> (subset, penalty) of the calibration with the best LOGO agreement, for the
    dimensions where it is at least the bundled network's own agreement (ties: the lower LOGO
    cross-entropy, whose logits become score points, then the fewer inputs). A calibration of
    overall must also keep as many real recordings above their generated versions under LOGO
    as the network does: overall is more than the rendering people compared."""
    network = report["bundled network"]["alone"]
    chosen = {}
    for dim, task in DIMENSIONS.items():
        options = [
            (
                by_split["generator"][dim],
                -by_split["generator"]["cross_entropy"][dim],
                -len(inputs(name.split()[0], task, best="one")),
                name,
            )
            for name, by_split in report["calibration"].items()
            if "real" not in fitting_dimensions(dim)
            or by_split["generator"]["real_on_top"] >= network["real_on_top"]
        ]
        best, _, _, name = max(options)
        if best >= network[dim]:
            subset, penalty = name.split()[0], float(name.split()[-1])
            chosen[dim] = (subset, penalty)
    return chosen


def ship(report: dict, pairs: list, x: np.ndarray, network: np.ndarray) -> None:
    """Fit each chosen calibration on every pair and write calibration.json beside the bundled
    model: those tasks are then scored from the named signals."""
    from talkscore.checkpoint import DEFAULT_MODEL
    from talkscore.models.calibration import SignCalibration, save_calibration

    tasks, scales = {}, {}
    chosen = chosen_calibrations(report)
    for dim, (subset, penalty) in chosen.items():
        task = DIMENSIONS[dim]
        names = inputs(subset, task, best_signal(pairs, x, range(len(pairs)), dim, task))
        train = [i for i, p in enumerate(pairs) if p.dimension in fitting_dimensions(dim)]
        shares = np.array([pairs[i].share_a for i in train])
        fitted = SignCalibration.fit(design(x, network, names, task)[train], shares, penalty)
        weights = TaskCalibration(
            weights=dict(zip(names, fitted.weights.round(6).tolist(), strict=True)),
            scales=dict(zip(names, fitted.scales.round(6).tolist(), strict=True)),
            points_per_logit=1.0,
            top=CLEAN_LABEL,
        )
        top, slope, videos = label_scale(task, weights)
        tasks[task] = replace(weights, points_per_logit=round(slope, 4), top=round(top, 4))
        scales[task] = videos
    about = {
        "recipe": "examples/validate_default_model.py --ship",
        "about": "tasks scored by a calibration over the named signals (talkscore.signals) and "
        "the network's own score of the task ('network'), where its leave-one-generator-out "
        "agreement was at least the network's alone; weights from the ADTH-QA preferences, the "
        "score scale (top, points_per_logit) from the degradation labels of the training "
        "recipe's degraded real clips",
        "chosen": {
            DIMENSIONS[d]: {"inputs": s, "penalty": p, "scale_videos": scales[DIMENSIONS[d]]}
            for d, (s, p) in chosen.items()
        },
    }
    save_calibration(DEFAULT_MODEL, tasks, about)
    print(f"calibration: {', '.join(tasks) or 'no task'} -> {DEFAULT_MODEL}")


def markdown(report: dict) -> list[str]:
    """The agreement table: one row per scorer, in-sample / LOSO / LOGO per dimension."""
    dims = list(DIMENSIONS)
    head = " | ".join(f"{d} in / LOSO / LOGO" for d in dims)
    lines = [f"| scorer | {head} | real on top in / LOSO / LOGO |", "|---" * (len(dims) + 2) + "|"]

    def cell(values: list) -> str:
        return " / ".join("-" if v is None else f"{v:.2f}" for v in values)

    def row(name: str, by_split: dict) -> None:
        cells = [cell([by_split.get(s, {}).get(d) for s in SPLIT_NAMES]) for d in dims]
        on_top = [by_split.get(s, {}).get("real_on_top") for s in SPLIT_NAMES]
        on_top_cell = " / ".join("-" if v is None else str(v) for v in on_top)
        lines.append(f"| {name} | {' | '.join(cells)} | {on_top_cell} |")

    for name, values in report["signals"].items():
        row(f"signal {name}", dict.fromkeys(SPLIT_NAMES, values))
    row(
        "frame count (a fingerprint)",
        dict.fromkeys(SPLIT_NAMES, report["frame count (a fingerprint)"]),
    )
    row("generator prior", report["prior"])
    row(
        "bundled network (never saw ADTH-QA)",
        dict.fromkeys(SPLIT_NAMES, report["bundled network"]["alone"]),
    )
    for k, member in enumerate(report["bundled network members"]):
        row(f"bundled network member {k}", dict.fromkeys(SPLIT_NAMES, member["alone"]))
    for name, by_split in report["calibration"].items():
        row(f"calibration, {name}", by_split)
    for k, member in enumerate(report["bundled network members"]):
        for penalty in PENALTIES:
            row(
                f"calibration, task signals + member {k}, penalty {penalty:g}",
                member[f"penalty {penalty:g}"],
            )
    row("bundled scorer (network and calibrations)", {"in-sample": report["bundled in-sample"]})
    net = report["preference network"]
    for name, key in [
        ("ensemble", None),
        *((f"member {k}", k) for k in range(len(recipe.MEMBER_SEEDS))),
    ]:
        by_split = {
            s: {
                **(r["ensemble"] if key is None else r["members"][key]),
                "real_on_top": r["real_on_top"] if key is None else r["members_real_on_top"][key],
            }
            for s, r in net.items()
        }
        if by_split:
            row(f"network trained on the preferences too, {name}", by_split)
    lines += ["", "| calibration: cross-entropy | " + head + " |", "|---" * (len(dims) + 1) + "|"]
    for name, by_split in report["calibration"].items():
        entropy = [by_split[s].get("cross_entropy", {}) for s in SPLIT_NAMES]
        lines.append(f"| {name} | {' | '.join(cell([e.get(d) for e in entropy]) for d in dims)} |")
    return lines


if __name__ == "__main__":
    main()
