"""The degradation table, the audio and frame operations, and writing a degraded clip."""

from __future__ import annotations

import numpy as np
import pytest

from talkscore.decoding import iter_frames, probe, read_audio
from talkscore.tasks import TASKS
from talkscore.training.degradations import (
    AUDIO_OPS,
    CLEAN_LABEL,
    DEGRADATIONS,
    OVERALL_SHARE,
    SAMPLE_RATE,
    UNLABELLED,
    VIDEO_OPS,
    Clip,
    Degradation,
    Variant,
    render_variant,
    write_mp4,
)


def speech_like(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    rng = np.random.default_rng(seed)
    tone = np.sin(2 * np.pi * 220 * t) + 0.5 * np.sin(2 * np.pi * 3500 * t)
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (0.3 * tone * envelope + 0.01 * rng.normal(size=len(t))).astype(np.float32)


def moving_frames(n: int = 20, size: int = 64) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, size=(size, size, 3), dtype=np.uint8)
    return [np.roll(base, i, axis=1) for i in range(n)]


def test_every_row_has_an_operation_and_consistent_labels():
    for name, row in DEGRADATIONS.items():
        assert row.stream in ("audio", "video")
        assert name in AUDIO_OPS or name in VIDEO_OPS or "param" in row.encode, name
        levels = [v for v in row.labels.values() if v is not UNLABELLED]
        assert all(len(v) == len(row.params) for v in levels), name
        unlabelled = [TASKS.index(t) for t, v in row.labels.items() if v is UNLABELLED]
        previous = np.full(len(TASKS) - len(unlabelled), CLEAN_LABEL)
        for severity in range(1, len(row.params) + 1):
            labels = row.task_labels(severity)
            assert np.isnan(labels[unlabelled]).all(), name
            labelled = np.delete(labels, unlabelled)
            assert ((labelled >= 1) & (labelled <= CLEAN_LABEL)).all(), name
            assert (labelled <= previous + 1e-6).all(), f"{name}: labels rise with severity"
            assert labelled.min() < CLEAN_LABEL, f"{name} changes no label"
            previous = labelled
        untouched = set(TASKS) - set(row.labels) - {"overall"}
        for task in untouched:
            assert row.task_labels(1)[TASKS.index(task)] == CLEAN_LABEL
    with pytest.raises(ValueError, match="severity"):
        DEGRADATIONS["noise"].task_labels(4)
    assert (Variant(None).labels() == CLEAN_LABEL).all()


def test_an_unlabelled_task_takes_no_part_in_the_overall_drop():
    # lip_sync comes first in TASKS: its NaN must not become the largest drop
    labels = {"lip_sync": UNLABELLED, "expression": (3.0,)}
    row = Degradation("test", "video", (1,), labels, "a test row")
    values = dict(zip(TASKS, row.task_labels(1), strict=True))
    assert np.isnan(values["lip_sync"])
    assert values["overall"] == pytest.approx(CLEAN_LABEL - OVERALL_SHARE * (CLEAN_LABEL - 3.0))


def test_audio_operations_do_what_the_table_says():
    x = speech_like()
    rng = np.random.default_rng(1)
    noisy = AUDIO_OPS["noise"](x, 5.0, rng)
    snr = 10 * np.log10(np.mean(x**2) / np.mean((noisy - x) ** 2))
    assert abs(snr - 5.0) < 0.3
    shifted = AUDIO_OPS["audio_shift"](x, 5, rng)  # 5 frames = 200 ms = 3200 samples
    n = 3200
    assert np.allclose(shifted, np.roll(x, n)) or np.allclose(shifted, np.roll(x, -n))
    assert np.abs(shifted[:n]).max() > 0 and np.abs(shifted[-n:]).max() > 0  # no silent end
    low = AUDIO_OPS["band_limit"](x, 1000, rng)
    spectrum = np.abs(np.fft.rfft(low)) / np.abs(np.fft.rfft(x)).max()
    freqs = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    assert spectrum[(freqs > 3000) & (freqs < 4000)].max() < 0.01 and len(low) == len(x)
    clipped = AUDIO_OPS["clipping"](x, 8, rng)
    assert np.abs(clipped).max() <= np.abs(x).max() + 1e-6
    assert np.mean(np.isclose(np.abs(clipped), np.abs(x).max())) > 0.3
    dropped = AUDIO_OPS["dropouts"](x, 0.3, rng)
    chunks = dropped[: len(x) // 1600 * 1600].reshape(-1, 1600)
    assert 0.1 < np.mean(np.abs(chunks).max(axis=1) == 0) < 0.6
    wet = AUDIO_OPS["reverb"](x, 0.7, rng)
    assert np.isclose(np.sqrt(np.mean(wet**2)), np.sqrt(np.mean(x**2)), rtol=1e-3)
    assert not np.allclose(wet, x, atol=0.01)
    foreign = AUDIO_OPS["foreign_audio"](x, 1, rng, foreign=speech_like(1.0, seed=5))
    assert len(foreign) == len(x) and np.isclose(np.std(foreign), np.std(x), rtol=0.05)
    with pytest.raises(ValueError, match="another recording"):
        AUDIO_OPS["foreign_audio"](x, 1, rng)


def test_frame_operations_change_what_they_name():
    frames = moving_frames()
    rng = np.random.default_rng(0)
    frozen = VIDEO_OPS["frozen_face"](frames, 1.0, rng)
    assert all(np.array_equal(f, frozen[0]) for f in frozen)
    jerky = VIDEO_OPS["jerky_face"](frames, 3, rng)
    assert np.array_equal(jerky[4], frames[3]) and np.array_equal(jerky[6], frames[6])
    blurred = VIDEO_OPS["blur"](frames, 3.0, rng)
    assert (
        np.abs(np.diff(blurred[0].astype(float), axis=0)).mean()
        < 0.5 * np.abs(np.diff(frames[0].astype(float), axis=0)).mean()
    )
    boxes = [(20, 40, 44, 60)] * len(frames)
    for name in ("mouth_blur", "mouth_downscale", "mouth_smooth", "frozen_mouth"):
        changed = VIDEO_OPS[name](frames, DEGRADATIONS[name].params[-1], rng, boxes=boxes)
        diff = np.abs(changed[-1].astype(int) - frames[-1].astype(int)).sum(axis=2)
        assert diff[45:55, 26:38].mean() > 10, name  # inside the mouth box
        assert diff[:25].max() == 0 and diff[:, :10].max() == 0, name  # far from it
    without_face = VIDEO_OPS["mouth_blur"](frames, 4.0, rng, boxes=[None] * len(frames))
    assert all(np.array_equal(a, b) for a, b in zip(without_face, frames, strict=True))


def test_a_rendered_variant_is_a_playable_clip(tmp_path):
    frames = moving_frames(n=25, size=96)
    clip = Clip(frames, speech_like(1.0), [None] * len(frames))
    for variant in (Variant(None), Variant("codec", 3, 0), Variant("audio_shift", 2, 1)):
        out = tmp_path / f"{variant.key}.mp4"
        done = render_variant(clip, variant, out)
        info = probe(out)
        assert info.has_audio and abs(info.duration - 1.0) < 0.1, variant
        assert len(list(iter_frames(out, 25))) == 25
        assert abs(len(read_audio(out)) - SAMPLE_RATE) < 0.05 * SAMPLE_RATE
        np.testing.assert_array_equal(done["labels"], variant.labels())  # NaN where unlabelled
    assert done["audio_bitrate"] == 96_000
    clean, low = read_audio(tmp_path / "clean.mp4"), read_audio(tmp_path / "codec-s3-r0.mp4")
    n = min(len(clean), len(low))
    assert np.mean((clean[:n] - low[:n]) ** 2) > 1e-5  # 6 kbit/s AAC is audibly different


def test_written_audio_starts_with_the_video(tmp_path):
    """The AAC encoder's priming samples must not delay the audio (it would fake an offset)."""
    click = np.zeros(SAMPLE_RATE, np.float32)
    click[8000:8010] = 0.9
    write_mp4(tmp_path / "click.mp4", moving_frames(n=25), click)
    assert abs(int(np.argmax(np.abs(read_audio(tmp_path / "click.mp4")))) - 8005) <= 16
