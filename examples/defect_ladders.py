"""Controlled defects on generated clips: does a score fall, step by step, as one defect grows?

    python examples/defect_ladders.py                 # the bundled model, 10 generated clips
    python examples/defect_ladders.py --model runs/x/checkpoint --clips 3

Each clip of ../shared/data/clips/generated/ (one or two per generator family; `--clips N`
takes the first N) is written again clean and at three severities of five ladders, and every
version is scored. The ladders and the task each one should lower:

| ladder | severities (clean first) | task |
|---|---|---|
| audio delay | 0 / 120 / 240 / 480 ms late (silence in front, the end cut) | lip_sync |
| noise | clean / 20 / 10 / 3 dB SNR white noise | audio_quality |
| blur | none / sigma 1.5 / 3 / 6 px | overall |
| compression | H.264 CRF 18 / 36 / 42 / 48 | overall |
| frozen face | none / 30% / 60% / 100% of the clip one held frame | expression |

Per clip and ladder: Kendall's tau of the score against the severity (-1: every step lower),
and whether the worst severity scores below the clean version; the same for each named signal
of that task (`talkscore.signals`, turned so that higher is better). Also the gross-defect check of
issue 35: at 480 ms, lip_sync <= 2.0 and at least 1.5 below the clean clip. Writes
`defect_ladders.json` (every score) into the work folder ($TALKSCORE_WORK or
~/.cache/talkscore/defect_ladders) and prints the table. The clean versions are clips the
bundled model trained on (as signal-labelled generated clips); the defective ones it never saw.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

from talkscore.scoring import load_scorer
from talkscore.signals import SIGNALS, real_reference
from talkscore.training.degradations import (
    FPS,
    SAMPLE_RATE,
    Clip,
    Variant,
    render_variant,
    write_mp4,
)

DATA = Path(os.environ.get("TALKSCORE_DATA", Path(__file__).resolve().parents[2] / "shared/data"))
WORK = Path(os.environ.get("TALKSCORE_WORK", Path.home() / ".cache/talkscore/defect_ladders"))
CLIPS = (  # one or two per generator family
    "vexpress_vasa-1_10_gt.mp4",
    "vexpress_emo_talk_kara_gt.mp4",
    "sadtalker_result_camera_RD_Radio31.mp4",
    "dreamtalk_out_ack_english_male_face.mp4",
    "linly_example_answer1.mp4",
    "wav2liphd_out_wav2lip_mona.mp4",
    "geneface_zozo_radnerf_torso_smo.mp4",
    "synctalk_short_demo.mp4",
    "dfdc_brtujopkby.mp4",
    "vexpress_short_case_AOC_gt.mp4",
)
#: ladder -> (task it should lower, severities after clean, how to render one)
LADDERS = {
    "delay_ms": ("lip_sync", (120, 240, 480), None),
    "noise_db": ("audio_quality", (20, 10, 3), "noise"),
    "blur_sigma": ("overall", (1.5, 3.0, 6.0), "blur"),
    "crf": ("overall", (36, 42, 48), "low_bitrate"),
    "frozen_share": ("expression", (0.3, 0.6, 1.0), "frozen_face"),
}
GROSS_DELAY_MS, GROSS_MAX, GROSS_DROP = 480, 2.0, 1.5


def delayed(clip: Clip, milliseconds: float, out: Path) -> None:
    """`clip` with its audio `milliseconds` late: silence in front, the end cut."""
    shift = int(round(milliseconds / 1000 * SAMPLE_RATE))
    audio = np.concatenate([np.zeros(shift, np.float32), clip.audio[: len(clip.audio) - shift]])
    write_mp4(out, clip.frames, np.clip(audio, -1, 1))


def render(clip: Clip, ladder: str, value: float, out: Path) -> None:
    if ladder == "delay_ms":
        delayed(clip, value, out)
    else:
        render_variant(clip, Variant(LADDERS[ladder][2], 1, 0, value=value), out)


def clip_scores(scorer, clip_path: Path, folder: Path) -> dict:
    """Scores of the clean clip and of every rung of every ladder."""
    clip = Clip.load(clip_path, scorer.extractor.face_model)  # the face model the scorer found
    clean = folder / "clean.mp4"
    render_variant(clip, Variant(None), clean)
    scores = {"clean": measures(scorer(clean))}
    for ladder, (_, values, _) in LADDERS.items():
        for value in values:
            out = folder / f"{ladder}-{value:g}.mp4"
            render(clip, ladder, value, out)
            scores[f"{ladder}={value:g}"] = measures(scorer(out))
    return scores


def measures(result) -> dict[str, float]:
    """The task scores of one scored version, and each named signal under "signal NAME"."""
    signals = {
        f"signal {name}": np.nan if d["value"] is None else d["value"]
        for name, d in result.diagnostics["signals"].items()
    }
    return {**result.scores, **signals}


def oriented(measure: str, value: float) -> float:
    """A score as it is; a signal turned so that higher is better (`RealReference.oriented`)."""
    if not measure.startswith("signal "):
        return value
    return real_reference().oriented(measure.removeprefix("signal "), value)


def ladder_measures(task: str) -> list[str]:
    """The task and the signals that inform it."""
    return [task, *(f"signal {n}" for n, s in SIGNALS.items() if s.task == task)]


def summarise(results: dict[str, dict]) -> dict:
    """Per ladder: mean and per-clip tau, clips whose worst rung is below clean; gross check."""
    table = {}
    for ladder, (task, values, _) in LADDERS.items():
        for measure in ladder_measures(task):
            taus, below = {}, 0
            for name, scores in results.items():
                keys = ["clean", *(f"{ladder}={v:g}" for v in values)]
                rungs = [oriented(measure, scores[k][measure]) for k in keys]
                taus[name] = float(kendalltau(range(len(rungs)), rungs).statistic)
                below += rungs[-1] < rungs[0]
            table[ladder if measure == task else f"{ladder}: {measure}"] = {
                "task": measure,
                "mean_tau": float(np.nanmean(list(taus.values()))),
                "worst_below_clean": f"{below} of {len(results)}",
                "tau": taus,
            }
    gross = {
        name: {
            "clean": s["clean"]["lip_sync"],
            f"{GROSS_DELAY_MS}ms": s[f"delay_ms={GROSS_DELAY_MS}"]["lip_sync"],
        }
        for name, s in results.items()
    }
    passed = sum(
        g[f"{GROSS_DELAY_MS}ms"] <= GROSS_MAX
        and g["clean"] - g[f"{GROSS_DELAY_MS}ms"] >= GROSS_DROP
        for g in gross.values()
    )
    return {"ladders": table, "gross_delay": gross, "gross_passed": f"{passed} of {len(gross)}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="checkpoint (default: the bundled model)")
    parser.add_argument("--face-model", default=None)
    parser.add_argument("--clips", type=int, default=len(CLIPS))
    args = parser.parse_args()
    scorer = load_scorer(args.model, face_model=args.face_model)
    results = {}
    for name in CLIPS[: args.clips]:
        folder = WORK / Path(name).stem
        folder.mkdir(parents=True, exist_ok=True)
        results[name] = clip_scores(scorer, DATA / "clips/generated" / name, folder)
        print(f"{name}: scored {len(results[name])} versions", flush=True)
        summary = summarise(results)  # written after each clip: a stopped run keeps its clips
        report = {"model": scorer.checkpoint, "fps": FPS, "summary": summary, "scores": results}
        (WORK / "defect_ladders.json").write_text(json.dumps(report, indent=2) + "\n")
    for ladder, row in summary["ladders"].items():
        print(
            f"{ladder:13} -> {row['task']:28} mean tau {row['mean_tau']:+.2f}, "
            f"worst below clean {row['worst_below_clean']}"
        )
    print(f"480 ms late: lip_sync <= {GROSS_MAX} and {GROSS_DROP} below clean on "
          f"{summary['gross_passed']} clips")  # fmt: skip


if __name__ == "__main__":
    main()
