"""Extraction on the shared clips: face coverage, missing audio, the offset diagnostic, caching."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import small_config
from typer.testing import CliRunner

from talkscore.cli import app
from talkscore.decoding import iter_frames, read_audio
from talkscore.extraction import ExtractionSettings, Extractor, FeatureCache, VideoFeatures
from talkscore.extractors.face import FaceTracker
from talkscore.models import TalkingFaceQualityModel
from talkscore.signals import SIGNALS
from talkscore.sync.correlation import estimate_offset, mouth_signals, speech_envelope
from talkscore.sync.scorer import ASSET as SYNC_ASSET
from talkscore.sync.scorer import SyncScorer, audio_features, mouth_features
from talkscore.tasks import MODALITIES, TASKS

FPS = 25.0
HOP = int(16000 / FPS)  # audio samples per frame
SHIFTS = (3, -3, 6, -6, 10, -10)


def shifted(audio: np.ndarray, frames: int) -> np.ndarray:
    """The audio delayed by `frames` video frames (advanced when negative), same length."""
    n = frames * HOP
    if n >= 0:
        return np.concatenate([np.zeros(n, audio.dtype), audio[: len(audio) - n]])
    return np.concatenate([audio[-n:], np.zeros(-n, audio.dtype)])


@pytest.fixture(scope="module")
def real_clips(clips_dir, face_model):
    """Face track summaries and audio of every clip in real/ (25 fps timeline)."""
    clips = {}
    for path in sorted((clips_dir / "real").glob("*.mp4")):
        with FaceTracker(face_model) as tracker:
            for frame in iter_frames(path, FPS):
                tracker.add(frame.image, frame.time)
            track = tracker.finish()
        clips[path.name] = {
            "mask": track.mask,
            "mouth": mouth_signals(track),
            "sync_mouth": mouth_features(track),
            "audio": read_audio(path),
        }
    return clips


def test_a_face_in_almost_every_frame_of_real_clips(real_clips):
    coverage = {name: clip["mask"].mean() for name, clip in real_clips.items()}
    assert len(coverage) >= 10
    assert min(coverage.values()) >= 0.95, coverage


def offset(clip: dict, audio: np.ndarray) -> int:
    frames = len(clip["mask"])
    envelope, has_audio = speech_envelope(audio, 16000, frames, FPS)
    return estimate_offset(clip["mouth"], clip["mask"], envelope, has_audio, FPS).offset_frames


def test_offset_diagnostic_follows_applied_shifts(real_clips):
    recovered, unshifted = [], []
    for clip in real_clips.values():
        base = offset(clip, clip["audio"])
        unshifted.append(abs(base) <= 3)
        for s in SHIFTS:  # delaying the audio by s frames lowers the offset by s
            recovered.append(abs(offset(clip, shifted(clip["audio"], s)) - base + s) <= 1)
    print(
        f"shifts recovered {np.mean(recovered):.2f}, unshifted within 3: {np.mean(unshifted):.2f}"
    )
    assert np.mean(recovered) >= 0.85
    assert np.mean(unshifted) >= 0.70


def test_learned_sync_scorer_on_real_clips_it_never_saw(real_clips):
    scorer = SyncScorer.load()
    seen = set(json.loads(SYNC_ASSET.with_suffix(".json").read_text())["train_clips"])
    unseen = {name: clip for name, clip in real_clips.items() if name not in seen}
    assert len(unseen) >= 3
    recovered, foreign = [], []
    names = sorted(unseen)

    def offset_and_confidence(clip: dict, audio: np.ndarray) -> tuple[int, float]:
        mouth, mouth_ok = clip["sync_mouth"]
        feats, ok = audio_features(audio, 16000, len(mouth), FPS)
        result = scorer.score_streams(mouth, mouth_ok, feats, ok, FPS)
        return result.offset_frames, result.confidence

    for i, name in enumerate(names):
        clip = unseen[name]
        base, confidence = offset_and_confidence(clip, clip["audio"])
        for s in (2, -2, 4, -4, 8, -8):
            offset, _ = offset_and_confidence(clip, shifted(clip["audio"], s))
            recovered.append(abs(offset - base + s) <= 1)
        other = np.resize(unseen[names[(i + 1) % len(names)]]["audio"], len(clip["audio"]))
        foreign.append(offset_and_confidence(clip, other)[1] < confidence)
    print(f"learned sync, unseen real clips: shifts {np.mean(recovered):.2f}, "
          f"foreign {np.mean(foreign):.2f}")  # fmt: skip
    assert np.mean(recovered) >= 0.9
    assert np.mean(foreign) >= 0.8


@pytest.fixture(scope="module")
def extractor(face_model):
    return Extractor(ExtractionSettings(), face_model)


def test_full_extraction_of_a_real_clip(extractor, clips_dir, tmp_path):
    path = clips_dir / "real" / "pcavs_Pose_Source_00067.mp4"
    features = extractor(path)
    n = features.num_frames
    assert n == round(features.diagnostics["video"]["duration"] * FPS)
    assert set(features.streams) == set(MODALITIES)
    assert features.streams["keypoint"].shape == (n, 1404)
    assert features.streams["au"].shape == (n, 17)
    for modality, stream in features.streams.items():
        assert len(features.feature_names[modality]) == stream.shape[1], modality
        assert features.masks[modality].all(), modality
    assert features.diagnostics["has_audio"] and features.diagnostics["face_coverage"] > 0.95
    assert 1 <= features.diagnostics["dnsmos"]["ovrl"] <= 5
    assert features.sync_curve.shape == (31,)
    learned = features.diagnostics["sync_scorer"]
    assert set(learned) == {
        "sync_scorer_offset_frames",
        "sync_scorer_offset_ms",
        "sync_scorer_confidence",
        "sync_scorer_zero_lag_confidence",
    }
    assert features.streams["sync"].shape == (n, 4)
    assert features.extras["sync_scorer_probability"].shape == (n,)
    for name in ("mouth_detail", "face_detail", "face_luma"):
        assert (
            features.extras[name].shape == (n,) and np.isfinite(features.extras[name]).mean() > 0.9
        )
    signals = features.diagnostics["signals"]
    assert set(signals) == set(SIGNALS)
    for name in ("sync_confidence", "lip_dynamics", "mouth_detail", "head_speed", "blink_rate"):
        assert np.isfinite(signals[name]), name
    features.save(tmp_path / "f.npz")
    loaded = VideoFeatures.load(tmp_path / "f.npz")
    assert loaded.diagnostics == json.loads(json.dumps(features.diagnostics))
    for modality in MODALITIES:
        assert np.array_equal(loaded.streams[modality], features.streams[modality], equal_nan=True)


def test_a_clip_without_audio_is_flagged_and_masked(extractor, clips_dir, tmp_path):
    path = sorted((clips_dir / "noaudio").glob("*.mp4"))[0]
    features = extractor(path)
    assert features.diagnostics["has_audio"] is False
    signals = features.diagnostics["signals"]
    unmeasured = [name for name, value in signals.items() if not np.isfinite(value)]
    assert "sync_confidence" in unmeasured  # no audio: nothing to be in sync with
    features.save(tmp_path / "f.npz")
    loaded = VideoFeatures.load(tmp_path / "f.npz").diagnostics["signals"]
    assert all(np.isnan(loaded[name]) for name in unmeasured)  # NaN again, not None
    assert features.diagnostics["sync_scorer"] == {}
    assert not features.masks["audio"].any() and not features.masks["sync"].any()
    assert features.masks["keypoint"].mean() > 0.9
    sample = features.to_sample(np.full(len(TASKS), np.nan), name=path.name)
    assert "audio" not in sample.features and "sync" not in sample.features
    from talkscore.samples import collate

    model = TalkingFaceQualityModel(small_config()).eval()
    batch = collate([sample], model.config.modalities)
    out = model(batch.features, batch.frame_masks, batch.present)
    assert np.isfinite(out.scores.detach().numpy()).all()
    for modality in ("audio", "sync"):
        assert out.gates[0, model.config.modalities.index(modality)] == 0


def test_cache_key_follows_content_and_settings(tmp_path, clips_dir):
    video = tmp_path / "v.mp4"
    video.write_bytes((clips_dir / "real" / "pcavs_Pose_Source_00067.mp4").read_bytes())
    cache = FeatureCache(tmp_path / "cache", ExtractionSettings().key())
    first = cache.path_for(video)
    assert cache.path_for(video) == first
    other = FeatureCache(tmp_path / "cache", ExtractionSettings(fps=30).key())
    assert other.path_for(video) != first
    video.write_bytes(video.read_bytes() + b"\0")
    assert cache.path_for(video) != first


def test_extract_command_survives_bad_files_and_resumes(clips_dir, face_model, tmp_path):
    good = clips_dir / "real" / "pcavs_Pose_Source_620900105.mp4"
    bad = tmp_path / "broken.mp4"
    bad.write_text("not a video")
    out = tmp_path / "features"
    args = ["extract", str(good), str(bad), "--out", str(out), "--face-model", str(face_model)]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 1
    rows = {row["video"]: row for row in json.loads(result.stdout)}
    assert rows[str(good)]["status"] == "extracted"
    assert rows[str(bad)]["status"] == "failed" and "broken.mp4" in rows[str(bad)]["error"]
    assert len(list(out.glob("*.npz"))) == 1
    again = CliRunner().invoke(app, [*args, "--json"])
    rows = {row["video"]: row for row in json.loads(again.stdout)}
    assert rows[str(good)]["status"] == "cached"
    table = CliRunner().invoke(app, args)
    assert "cached" in table.stdout and "failed: " in table.stderr


def test_extract_command_with_worker_processes(clips_dir, face_model, tmp_path):
    videos = sorted((clips_dir / "real").glob("pcavs_Pose_Source_00*.mp4"))[:2]
    out = tmp_path / "features"
    args = ["extract", *map(str, videos), "--out", str(out), "--face-model", str(face_model)]
    result = CliRunner().invoke(app, [*args, "--workers", "2", "--json"])
    assert result.exit_code == 0, result.stderr
    assert [row["status"] for row in json.loads(result.stdout)] == ["extracted"] * 2
    assert len(list(out.glob("*.npz"))) == 2
