"""End to end: labels CSV over shared clips -> train -> evaluate -> reload in a fresh process."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from talkscore.checkpoint import load_reducer
from talkscore.extraction import VideoFeatures
from talkscore.reduction import Reducer, ReductionSettings
from talkscore.tasks import MODALITIES
from talkscore.training.datasets import read_labels
from talkscore.training.workflow import DataConfig, load_run_config, video_features

CLIPS = {  # video: (group, split, overall, lip_sync)
    "real/pcavs_Pose_Source_00067.mp4": ("a", "train", 4.6, 4.5),
    "real/pcavs_Pose_Source_00473.mp4": ("b", "train", 4.4, ""),
    "generated/sadtalker_result_camera_RD_Radio31.mp4": ("c", "train", 2.2, 2.6),
    "real/pcavs_Pose_Source_620900105.mp4": ("d", "val", 4.5, 4.6),
    "real/pcavs_Pose_Source_517600055.mp4": ("e", "val", 4.3, ""),
}
SADTALKER = "generated/sadtalker_result_camera_RD_Radio31.mp4"
PREFERENCES = [  # dimension, video_a, video_b, votes_a, votes_b
    ("lip", "real/pcavs_Pose_Source_00067.mp4", SADTALKER, 13, 2),
    ("render", "real/pcavs_Pose_Source_00473.mp4", SADTALKER, 12, 3),
]
CONFIG = """
[data]
val_fraction = 0.4
[reduction]
winsorize = 3.0
[model]
encoder_dim = 32
d_ff = 64
[training]
epochs = 6
batch_size = 2
lr = 0.002
"""


def write_labels(folder, header="video,group,split,overall,lip_sync", rows=None):
    lines = [header] + [
        ",".join(map(str, (video, *values))) for video, values in (rows or CLIPS).items()
    ]
    path = folder / "labels.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory, clips_dir, face_model):
    folder = tmp_path_factory.mktemp("workflow")
    labels = write_labels(folder)
    prefs = folder / "prefs.csv"
    prefs.write_text(
        "dimension,video_a,video_b,votes_a,votes_b\n"
        + "\n".join(",".join(map(str, row)) for row in PREFERENCES)
        + "\n"
    )
    config = folder / "train.toml"
    config.write_text(CONFIG)
    out, features = folder / "run", folder / "features"
    common = ["--videos", str(clips_dir), "--features", str(features)]
    common += ["--face-model", str(face_model)]
    args = ["train", "--labels", str(labels), "--preferences", str(prefs), "--config", str(config)]
    result = CliRunner().invoke(app(), [*args, *common, "--out", str(out), "--seed", "1"])
    assert result.exit_code == 0, result.stderr
    return {
        "folder": folder,
        "out": out,
        "labels": labels,
        "common": common,
        "stdout": result.stdout,
    }


def app():
    from talkscore.cli import app

    return app


def test_a_run_folder_has_everything(run):
    out = run["out"]
    for name in ("model.safetensors", "talkscore.json", "reducer.safetensors"):
        assert (out / "checkpoint" / name).is_file(), name
    for name in ("learning_curves.png", "task_weights.png", "scatter.png", "log.jsonl"):
        assert (out / name).is_file(), name
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["epochs"] == 6 and config["training"]["seed"] == 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["sizes"] == {"train": 3, "val": 2, "test": 0, "pairs": 2}
    assert set(metrics["val"]) == {"overall", "lip_sync"}
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    variance = records[0]["run"]["reduction"]["explained_variance"]
    assert set(variance) == set(MODALITIES)
    assert all(0 < v <= 1 for v in variance.values()), json.dumps(variance)
    assert all(r["ranking"] > 0 for r in records[1:])
    assert "validation" in run["stdout"] and "checkpoint" in run["stdout"]


def evaluate_args(run) -> list[str]:
    checkpoint = str(run["out"] / "checkpoint")
    return ["evaluate", "--model", checkpoint, "--labels", str(run["labels"]), *run["common"]]


def test_evaluate_and_a_fresh_process_agree_exactly(run):
    result = CliRunner().invoke(app(), [*evaluate_args(run), "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["tasks"]["overall"]["n"] == 5 and report["tasks"]["lip_sync"]["n"] == 3
    fresh = subprocess.run(
        [shutil.which("talkscore") or "talkscore", *evaluate_args(run), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(fresh.stdout)["scores"] == report["scores"]
    assert fresh.stderr == ""
    table = CliRunner().invoke(app(), evaluate_args(run))
    assert "SRCC" in table.stdout and "overall" in table.stdout


def test_reducer_is_fitted_on_training_rows_only(run, clips_dir, face_model):
    saved = load_reducer(run["out"] / "checkpoint")
    config = load_run_config(run["folder"] / "train.toml")
    labels = read_labels(run["labels"], clips_dir)
    data = DataConfig(features=str(run["folder"] / "features"), face_model=str(face_model))
    features = video_features([r.video for r in labels.rows], config.extraction, data)
    splits = labels.split(seed=1)

    def fit(rows) -> Reducer:
        pairs = [(features[r.video].streams, features[r.video].masks) for r in rows]
        return Reducer.fit(pairs, ReductionSettings(winsorize=3.0))

    def same(a: Reducer, b: Reducer) -> bool:
        return all(
            np.array_equal(a.modalities[m].arrays()[k], b.modalities[m].arrays()[k])
            for m in a.modalities
            for k in a.modalities[m].arrays()
        )

    assert same(saved, fit(splits["train"]))
    assert not same(saved, fit(splits["train"] + splits["val"]))
    assert isinstance(next(iter(features.values())), VideoFeatures)


def test_evaluate_on_the_real_preferences(run, clips_dir):
    preferences = clips_dir.parent / "adthqa_dev" / "preferences.csv"
    if not preferences.is_file():
        pytest.skip(f"{preferences} not found")
    checkpoint = str(run["out"] / "checkpoint")
    args = ["evaluate", "--model", checkpoint, "--preferences", str(preferences)]
    args += [*run["common"][2:], "--features", str(run["folder"] / "features"), "--workers", "2"]
    result = CliRunner().invoke(app(), [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    agreement = json.loads(result.stdout)["preferences"]
    assert {d: a["pairs"] for d, a in agreement.items()} == {"lip": 24, "render": 20, "head": 27}
    assert all(0 <= a["agreement"] <= 1 for a in agreement.values())
    print({d: round(a["agreement"], 3) for d, a in agreement.items()})


@pytest.mark.parametrize(
    ("header", "rows", "message"),
    [
        ("clip,overall", {"a.mp4": (3,)}, "video"),
        ("video,overall", {"missing/one.mp4": (3,), "missing/two.mp4": (4,)}, "two.mp4"),
        ("video,overall", {"real/pcavs_Pose_Source_00067.mp4": ("good",)}, "good"),
    ],
)
def test_bad_labels_give_one_clear_line(tmp_path, clips_dir, header, rows, message):
    labels = write_labels(tmp_path, header, rows)
    result = CliRunner().invoke(
        app(),
        ["train", "--labels", str(labels), "--videos", str(clips_dir), "--out", str(tmp_path)],
    )
    assert result.exit_code != 0
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr


def test_unknown_config_option_is_refused(tmp_path):
    config = tmp_path / "train.toml"
    config.write_text("[training]\nepoch = 3\n")
    result = CliRunner().invoke(app(), ["train", "--config", str(config)])
    assert result.exit_code == 2 and "epoch" in result.stderr


def test_score_command_gives_the_documented_json(run, clips_dir, face_model):
    video = clips_dir / "real" / "pcavs_Pose_Source_620900105.mp4"
    args = ["score", str(video), "--model", str(run["out"] / "checkpoint")]
    result = CliRunner().invoke(app(), [*args, "--face-model", str(face_model), "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {
        "video", "model", "versions", "score_range", "higher_is_better", "scores", "bands",
        "intervals", "std", "gates", "diagnostics", "unscored", "warnings", "explanations",
        "timeline",
    }  # fmt: skip
    assert report["explanations"] == {}  # a trained checkpoint without a calibration.json
    low, high = report["score_range"]  # the labels' scale, as the checkpoint learned it
    assert low < high and all(report["higher_is_better"].values())
    assert report["unscored"] == {} and report["warnings"] == [] and report["timeline"] is None
    assert set(report["scores"]) == set(report["std"]) == {
        "lip_sync", "expression", "audio_quality", "cross_modal", "overall",
    }  # fmt: skip
    assert all(low <= v <= high for v in report["scores"].values())
    for task, value in report["scores"].items():
        lower, upper = report["intervals"][task]
        assert low <= lower <= value <= upper <= high
        assert report["bands"][task] in ("poor", "fair", "good", "excellent")
    assert report["diagnostics"]["sync_verdict"]["verdict"] in ("in_sync", "uncertain")
    assert report["diagnostics"]["face_coverage"] > 0.9
    assert "sync_scorer_offset_ms" in report["diagnostics"]
    missing = CliRunner().invoke(app(), ["score", "nope.mp4", "--model", args[3]])
    assert missing.exit_code == 1 and missing.stderr.count("\n") == 1


def test_batch_writes_rows_survives_bad_files_and_resumes(run, clips_dir, face_model, tmp_path):
    import csv

    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "broken.mp4").write_text("not a video")
    shutil.copy(clips_dir / "real" / "pcavs_Pose_Source_620900105.mp4", videos / "good.mp4")
    out = tmp_path / "scores.csv"
    args = ["batch", str(videos), "--csv", str(out), "--model", str(run["out"] / "checkpoint")]
    args += ["--face-model", str(face_model), "--jsonl", str(tmp_path / "scores.jsonl")]
    first = CliRunner().invoke(app(), args)
    assert first.exit_code == 1 and "broken.mp4" in first.stderr
    rows = {Path(r["video"]).name: r for r in csv.DictReader(out.open())}
    assert rows["good.mp4"]["status"] == "ok" and 1 <= float(rows["good.mp4"]["overall"]) <= 5
    assert rows["broken.mp4"]["status"] == "failed" and rows["broken.mp4"]["error"]
    assert len((tmp_path / "scores.jsonl").read_text().splitlines()) == 2
    out.write_text(out.read_text()[:-5])  # a crash cut the last row short
    again = CliRunner().invoke(app(), args)
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2 and len({r["video"] for r in rows}) == 2
    assert "skipped 1" in again.stdout


def test_formula_cells_are_neutralised():
    from talkscore.batch.scores import csv_row, neutralise

    assert neutralise("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"
    assert neutralise("-1+2") == "'-1+2" and neutralise("clip.mp4") == "clip.mp4"
    assert neutralise(-1.5) == -1.5
    assert csv_row("@evil.mp4", None, "boom")["video"] == "'@evil.mp4"
