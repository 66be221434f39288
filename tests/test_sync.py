"""The learned sync scorer: windows, InfoNCE training, lag search, weights on disk."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from talkscore.sync.network import SyncConfig, SyncNet, info_nce_loss, windows
from talkscore.sync.scorer import (
    ASSET,
    SyncScorer,
    audio_features,
)
from talkscore.sync.training import (
    ClipStreams,
    SyncTrainConfig,
    evaluate_sync,
    shift_audio,
    train_sync_net,
)

TINY = SyncConfig(mouth_dim=6, audio_dim=6, window=5, hidden=32, embedding=16, max_lag=6)


def synthetic_clip(seed: int, frames: int = 120) -> ClipStreams:
    """Mouth and audio driven by one smooth signal, aligned (identity = seed)."""
    rng = np.random.default_rng(seed)
    mix = np.random.default_rng(99).normal(size=(2, 4, 6))
    raw = rng.normal(size=(frames + 4, 4))
    signal = sum(raw[i : i + frames] for i in range(5)) / np.sqrt(5)
    mouth = signal @ mix[0] + 0.1 * rng.normal(size=(frames, 6))
    audio = signal @ mix[1] + 0.1 * rng.normal(size=(frames, 6))
    ok = np.ones(frames, bool)
    return ClipStreams(
        f"c{seed}", str(seed), mouth.astype(np.float32), ok, [audio.astype(np.float32)], ok
    )


def test_windows_are_centred_and_repeat_the_edges():
    x = np.arange(6, dtype=np.float32)[:, None]
    w = windows(x, 3)
    assert w.shape == (6, 3, 1)
    assert w[0, :, 0].tolist() == [0, 0, 1] and w[3, :, 0].tolist() == [2, 3, 4]


def test_info_nce_prefers_the_aligned_window():
    torch.manual_seed(0)
    model = SyncNet(TINY)
    mouth = torch.randn(4, 5, 6)
    audio = torch.randn(4, 13, 5, 6)
    loss = info_nce_loss(model, mouth, audio, audio[:, 6])
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.fixture(scope="module")
def trained():
    clips = [synthetic_clip(seed) for seed in range(12)]
    model = train_sync_net(clips[:8], TINY, SyncTrainConfig(steps=300, batch_size=32, lr=3e-3))
    return SyncScorer(model), clips[8:]


def test_training_learns_offsets_on_held_out_clips(trained):
    scorer, held_out = trained
    result = evaluate_sync(scorer, held_out, shifts=(2, -2, 4, -4), window_frames=50)
    assert result.clip_shift_recovered >= 0.9, result
    assert result.unshifted_within_1 >= 0.75, result
    assert result.foreign_lower_confidence >= 0.75, result


def test_sign_convention_audio_delayed_means_negative_offset(trained):
    scorer, held_out = trained
    clip = held_out[0]
    base = scorer.score_streams(clip.mouth, clip.mouth_ok, clip.audio[0], clip.audio_ok, 25.0)
    audio, ok = shift_audio(clip, 3)  # the audio now comes 3 frames late: it lags the video
    late = scorer.score_streams(clip.mouth, clip.mouth_ok, audio, ok, 25.0)
    assert late.offset_frames == pytest.approx(base.offset_frames - 3, abs=1)
    assert late.offset_ms == pytest.approx(late.offset_frames * 40.0)
    assert late.stream.shape == (len(clip.mouth), 4) and late.probability.shape == (
        len(clip.mouth),
    )
    assert set(late.to_dict()) == {
        "sync_scorer_offset_frames",
        "sync_scorer_offset_ms",
        "sync_scorer_confidence",
        "sync_scorer_zero_lag_confidence",
    }
    assert base.zero_lag_confidence > late.zero_lag_confidence  # in sync as it is vs shifted


def test_save_and_load_give_the_same_scores(trained, tmp_path):
    scorer, held_out = trained
    path = tmp_path / "sync.safetensors"
    scorer.save(path, {"note": "test"})
    again = SyncScorer.load(path)
    clip = held_out[1]
    a = scorer.score_streams(clip.mouth, clip.mouth_ok, clip.audio[0], clip.audio_ok, 25.0)
    b = again.score_streams(clip.mouth, clip.mouth_ok, clip.audio[0], clip.audio_ok, 25.0)
    assert np.array_equal(a.curve, b.curve, equal_nan=True)


def test_audio_features_follow_the_timeline():
    audio = np.random.default_rng(0).normal(scale=0.1, size=16000).astype(np.float32)
    feats, ok = audio_features(audio, 16000, 30, 25.0)  # 1.2 s of video, 1 s of audio
    assert feats.shape == (30, 160)
    assert ok[:25].all() and not ok[26:].any()
    assert np.isfinite(feats).all()


def test_shipped_weights_load_and_are_small():
    if not ASSET.is_file():
        pytest.skip("no shipped sync scorer weights")
    assert ASSET.stat().st_size <= 5 * 1024 * 1024
    scorer = SyncScorer.load()
    assert isinstance(scorer.model, SyncNet)


def test_source_shares_set_how_often_each_source_is_drawn():
    from talkscore.sync.training import _anchor_weights

    clips = [synthetic_clip(0), synthetic_clip(1), synthetic_clip(2)]
    clips[0].source, clips[1].source, clips[2].source = "real", "generated", "generated"
    anchors = [(0, 10), (1, 10), (1, 11), (2, 10)]
    weights = _anchor_weights(anchors, clips, {"real": 0.9, "generated": 0.1})
    assert weights[0] == pytest.approx(0.9) and weights[1:].sum() == pytest.approx(0.1)
    assert np.allclose(_anchor_weights(anchors, clips, None), 0.25)
    with pytest.raises(ValueError, match="generated"):
        _anchor_weights(anchors, clips, {"real": 1.0})


def test_stretch_keeps_mouth_and_audio_aligned():
    from talkscore.sync.training import stretch

    clip = synthetic_clip(3, frames=100)
    clip.audio = [clip.mouth.copy()]  # identical streams make alignment easy to check
    slow = stretch(clip, 1.25)
    assert len(slow.mouth) == pytest.approx(125, abs=2)
    assert np.allclose(slow.mouth, slow.audio[0])
    assert np.allclose(slow.mouth[0], clip.mouth[0]) and np.allclose(slow.mouth[5], clip.mouth[4])
    assert slow.identity == clip.identity and slow.mouth_ok.all()


def test_identity_folds_keep_each_person_in_one_fold():
    from talkscore.sync.training import identity_folds

    clips = [synthetic_clip(seed) for seed in range(9)]
    for clip in clips:
        clip.identity = f"p{int(clip.identity) // 3}"  # three people with three clips each
    fold = identity_folds(clips, 3)
    assert sorted(fold) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    for person in ("p0", "p1", "p2"):
        assert len({f for c, f in zip(clips, fold, strict=True) if c.identity == person}) == 1
    with pytest.raises(ValueError, match="identities"):
        identity_folds(clips, 4)


def test_cross_validation_scores_every_clip_with_a_scorer_that_never_saw_its_person():
    from talkscore.sync.training import cross_validate_sync

    clips = [synthetic_clip(seed) for seed in range(12)]
    for clip in clips:
        clip.identity = f"p{int(clip.identity) // 2}"  # six people, two clips each
    late = clips[5]
    late.audio[0], late.audio_ok = shift_audio(late, 4)  # this clip's own audio is 4 frames late
    seen = []

    def fit(chosen):
        seen.append({c.identity for c in chosen})
        return SyncScorer(train_sync_net(chosen, TINY, SyncTrainConfig(steps=200, lr=3e-3)))

    result = cross_validate_sync(clips, fit, folds=3, shifts=(2, -2, 4, -4))
    assert len(seen) == 3 and all(len(people) == 4 for people in seen)
    assert set(result.details) == {c.name for c in clips} and result.clips == 12
    assert result.details[late.name]["offset_frames"] == pytest.approx(-4, abs=1)
    assert result.unshifted_within_1 <= 11 / 12  # the late clip is counted as a miss
    assert result.clip_shift_recovered >= 0.8, result
