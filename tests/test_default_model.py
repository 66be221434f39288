"""The bundled default model: present, small, documented, and scoring offline without --model."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import torch

import talkscore
from talkscore import checkpoint
from talkscore.checkpoint import DEFAULT_MODEL, CheckpointError, load_model, read_metadata
from talkscore.extraction import ExtractionSettings
from talkscore.scoring import Scorer
from talkscore.signals import REALISM, SIGNALS
from talkscore.tasks import TASKS
from talkscore.training.degradations import Clip, Variant, render_variant


def test_the_bundled_model_is_small_documented_and_matches_the_extractor():
    size = sum(f.stat().st_size for f in DEFAULT_MODEL.iterdir())
    assert size <= 20 * 2**20
    meta = read_metadata(DEFAULT_MODEL)
    assert ExtractionSettings.from_dict(meta["extraction"]) == ExtractionSettings()
    assert meta["data"]["preference_pairs"] == 0  # people's preferences: calibrations only
    assert {"audio_shift", "noise", "frozen_face"} <= set(meta["held_out_checks"])
    card = (DEFAULT_MODEL / "MODEL_CARD.md").read_text()
    for heading in (
        "## What scores what",
        "## Data and labels of the network",
        "## As a user meets it",
        "## In-sample against unseen generators",
        "## Limits",
    ):
        assert heading in card
    model = load_model()
    assert model.config.tasks == TASKS


def test_without_a_bundled_model_the_error_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setitem(checkpoint.BUNDLED_MODELS, "default", tmp_path / "missing")
    with pytest.raises(CheckpointError, match="no bundled default model.*--model"):
        load_model()


def test_load_scorer_opens_the_bundled_model_by_name(face_model):
    assert talkscore.available_models() == ["default"]
    named = talkscore.load_scorer("default", device="cpu", face_model=face_model)
    unnamed = talkscore.load_scorer(face_model=face_model)  # device "auto": the CPU here
    assert named.checkpoint == unnamed.checkpoint == "default"
    assert named.device.type == "cpu"
    assert unnamed.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    weights = (DEFAULT_MODEL / "model.safetensors").read_bytes()
    assert named.versions["model_sha256"] == hashlib.sha256(weights).hexdigest()[:16]
    assert named.versions["talkscore"] == talkscore.__version__
    assert named.score_range == (1.0, 5.0)


def test_load_scorer_refuses_unknown_models_and_devices(tmp_path, face_model):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        talkscore.load_scorer(tmp_path / "nothing", face_model=face_model)
    with pytest.raises(ValueError, match="unknown device 'gpu7'"):
        talkscore.load_scorer(device="gpu7", face_model=face_model)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            talkscore.load_scorer(device="cuda", face_model=face_model)


def test_score_works_offline_without_a_model_option(clips_dir, face_model):
    video = clips_dir / "real" / "pcavs_Pose_Source_00067.mp4"
    env = {**os.environ, "TALKSCORE_FACE_MODEL": str(face_model), "HF_HUB_OFFLINE": "1"}
    exe = shutil.which("talkscore") or "talkscore"
    run = subprocess.run(
        [exe, "score", str(video), "--json"], capture_output=True, text=True, env=env, timeout=300
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["model"] == "default" and set(result["scores"]) == set(TASKS)
    assert all(1 <= v <= 5 for v in result["scores"].values())
    assert result["score_range"] == [1.0, 5.0]
    assert result["higher_is_better"] == dict.fromkeys(TASKS, True)
    assert result["versions"]["talkscore"] == talkscore.__version__
    assert result["versions"]["model_created"] == read_metadata(DEFAULT_MODEL)["created"]
    signals = result["diagnostics"]["signals"]
    assert set(signals) == set(SIGNALS)
    assert {s["better"] for s in signals.values()} <= {"higher", "lower", "real"}
    percentiles = [
        s["real_percentile"] for s in signals.values() if s["real_percentile"] is not None
    ]
    assert len(percentiles) >= len(SIGNALS) - 2 and all(0 <= p <= 1 for p in percentiles)
    realism = result["diagnostics"]["realism"]
    assert set(realism) == set(REALISM) and realism["head_speed"] == signals["head_speed"]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_scores_on_cuda_match_the_cpu(clips_dir, face_model):
    video = clips_dir / "real" / "pcavs_Pose_Source_00067.mp4"
    on_cpu = talkscore.load_scorer(device="cpu", face_model=face_model)(video)
    on_gpu = talkscore.load_scorer(device="cuda", face_model=face_model)
    assert next(on_gpu.model.parameters()).is_cuda
    assert next(on_gpu.extractor.sync_scorer.model.parameters()).is_cuda
    result = on_gpu(video)
    for task in TASKS:
        assert result.scores[task] == pytest.approx(on_cpu.scores[task], abs=1e-3)


@pytest.fixture(scope="module")
def held_out_scores(clips_dir, face_model, tmp_path_factory):
    """Scores of a real clip the default model never trained on, clean and changed."""
    meta = read_metadata(DEFAULT_MODEL)
    name = meta["data"]["held_out_clips"][0]
    clip = Clip.load(clips_dir / "real" / name, face_model)
    folder = tmp_path_factory.mktemp("held_out")
    scorer = Scorer(face_model=face_model)
    variants = {
        "clean": Variant(None),
        "shift": Variant("audio_shift", 2, 0, value=5),  # 200 ms
        "gross_shift": Variant("audio_shift", 3, 0, value=12),  # 480 ms
        "noise": Variant("noise", 3, 0),  # 5 dB SNR
        "frozen": Variant("frozen_face", 3, 0),
    }
    scores = {}
    for key, variant in variants.items():
        render_variant(clip, variant, folder / f"{key}.mp4")
        scores[key] = scorer(folder / f"{key}.mp4")
    return scores


@pytest.mark.parametrize(
    ("change", "task"),
    [("shift", "lip_sync"), ("noise", "audio_quality"), ("frozen", "expression")],
)
def test_a_held_out_clip_loses_on_the_task_a_change_hurts(held_out_scores, change, task):
    assert held_out_scores[change].scores[task] < held_out_scores["clean"].scores[task]


def test_a_gross_offset_reads_as_gross_and_says_why(held_out_scores):
    clean, late = held_out_scores["clean"], held_out_scores["gross_shift"]
    assert clean.diagnostics["sync_verdict"]["verdict"] == "in_sync"
    assert late.diagnostics["sync_verdict"]["verdict"] == "out_of_sync"
    assert abs(late.diagnostics["sync_verdict"]["offset_ms"]) == pytest.approx(480, abs=40)
    assert late.scores["lip_sync"] <= 2.0
    # 1.5 below the clip in sync, or the bottom of the scale where a clip in sync reads under
    # 2.5 (the network, which never saw this person, reads this real recording at about 2.5)
    assert late.scores["lip_sync"] <= max(1.0, clean.scores["lip_sync"] - 1.5)
    assert late.explanations["lip_sync"]["av_offset"] < 0
    assert "lip_sync" not in clean.explanations


def test_a_calibration_beside_a_checkpoint_scores_its_tasks_from_the_signals(
    clips_dir, face_model, tmp_path
):
    from talkscore.models.calibration import NETWORK_INPUT, TaskCalibration, save_calibration
    from talkscore.signals import real_reference
    from talkscore.timeline import Timeline

    folder = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL, folder)
    (folder / "calibration.json").unlink(missing_ok=True)
    video = clips_dir / "real" / "pcavs_Pose_Source_00067.mp4"
    plain = Scorer(folder, face_model=face_model)
    features = plain.extract(video)
    before = plain.score_features(features, video.name)
    calibration = TaskCalibration(
        weights={"head_speed": 1.0, "sync_offset_ms": 2.0, NETWORK_INPUT: 1.0},
        scales={"head_speed": 5.0, "sync_offset_ms": 40.0, NETWORK_INPUT: 1.0},
        points_per_logit=0.5,
        top=4.6,
    )
    save_calibration(folder, {"expression": calibration}, {"recipe": "test"})
    calibrated = Scorer(folder, face_model=face_model)
    after = calibrated.score_features(features, video.name, Timeline(2.0, 1.0))
    inputs = {**features.diagnostics["signals"], NETWORK_INPUT: before.scores["expression"]}
    assert after.scores["expression"] == pytest.approx(
        calibration.score(inputs, real_reference(), (1.0, 5.0))
    )
    network_points = after.explanations["expression"][NETWORK_INPUT]
    assert network_points == pytest.approx(0.5 * (before.scores["expression"] - 4.6))
    assert after.scores["expression"] != pytest.approx(before.scores["expression"])
    assert {t: s for t, s in after.scores.items() if t != "expression"} == {
        t: s for t, s in before.scores.items() if t != "expression"
    }
    assert set(after.explanations) == {"expression"} and before.explanations == {}
    points = after.explanations["expression"]
    assert after.scores["expression"] == pytest.approx(np.clip(4.6 + sum(points.values()), 1, 5))
    windows = [w["scores"]["expression"] for w in after.timeline]
    assert len(set(np.round(windows, 6))) > 1  # each window from its own frames' signals


def test_a_packed_job_carries_the_calibration(face_model):
    from talkscore.batch.scores import ScoreJob

    packed = ScoreJob(face_model=str(face_model)).packed()
    assert packed.files["calibration.json"] == (DEFAULT_MODEL / "calibration.json").read_bytes()
