"""The named signals, their real-recording reference and the sign-constrained calibration."""

from __future__ import annotations

import numpy as np
import pytest

from talkscore.extraction import VideoFeatures
from talkscore.extractors.action_units import AU_NAMES
from talkscore.extractors.mouth import MOUTH_OUTLINE, mouth_detail
from talkscore.models.calibration import SignCalibration
from talkscore.signals import SIGNALS, RealReference, measure_signals
from talkscore.signals.reference import REFERENCE, real_reference
from talkscore.tasks import MODALITIES

FPS = 25.0


def features(frames: int = 500, seed: int = 0, **extras) -> VideoFeatures:
    """A video of `frames` frames with a face throughout, voiced first half, silent second."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / FPS
    envelope = np.where(np.arange(frames) < frames // 2, -10.0, -40.0)
    au = np.zeros((frames, len(AU_NAMES)), np.float32)
    au[:, :3] = rng.normal(1.0, 0.2, (frames, 3))
    pose = np.zeros((frames, 6), np.float32)
    pose[:, 1] = 5 * np.sin(2 * np.pi * 0.3 * t)
    base = {
        "mouth_opening": 0.2 + 0.1 * np.sin(2 * np.pi * 3 * t) * (envelope > -20),
        "speech_envelope": envelope,
        "mouth_detail": np.full(frames, 5.0),
        "face_detail": np.full(frames, 6.0),
        "face_luma": np.full(frames, 0.5),
    }
    masks = {m: np.ones(frames, bool) for m in MODALITIES}
    return VideoFeatures(
        streams={"au": au},
        masks=masks,
        head_pose=pose,
        sync_curve=np.zeros(31, np.float32),
        diagnostics={"fps": FPS},
        settings={},
        extras={k: np.asarray(v, np.float32) for k, v in (base | extras).items()},
    )


def test_every_signal_is_documented_with_a_direction_and_a_task():
    measured = measure_signals(features())
    assert set(measured) == set(SIGNALS)
    for signal in SIGNALS.values():
        assert signal.direction in ("higher", "lower", "real") and signal.about
        assert signal.task in ("lip_sync", "expression", "overall", "audio_quality", "cross_modal")


def test_a_mouth_that_keeps_moving_in_silence_reads_as_such():
    still = measure_signals(features())["silent_lip_motion"]
    t = np.arange(500) / FPS
    babbling = features(mouth_opening=0.2 + 0.1 * np.sin(2 * np.pi * 3 * t))
    moving = measure_signals(babbling)["silent_lip_motion"]
    assert still < 0.05 and moving == pytest.approx(1.0, abs=0.1)
    no_silence = features(speech_envelope=np.full(500, -10.0))
    assert np.isnan(measure_signals(no_silence)["silent_lip_motion"])


def test_head_speed_jitter_and_blinks_follow_the_motion():
    video = features()
    pose = video.head_pose.copy()
    smooth = measure_signals(video)
    assert smooth["head_speed"] == pytest.approx(
        np.median(np.abs(np.diff(pose[:, 1]))) * FPS, rel=1e-4
    )
    shaking = features()
    shaking.head_pose[:, 1] += np.random.default_rng(1).normal(0, 1.0, 500)
    assert measure_signals(shaking)["head_jitter"] > smooth["head_jitter"] + 0.3
    blinking = features()
    closed = np.zeros(500)
    for start in (50, 200, 350):  # three blinks in 20 s
        closed[start : start + 4] = 4.0
    blinking.streams["au"][:, AU_NAMES.index("AU45")] = closed
    assert measure_signals(blinking)["blink_rate"] == pytest.approx(9.0)
    assert measure_signals(features())["blink_rate"] == 0.0


def test_a_face_whose_brightness_jumps_every_frame_flickers():
    steady = measure_signals(features())["face_flicker"]
    flashing = features(face_luma=0.5 + 0.05 * (np.arange(500) % 2))
    assert steady == 0.0 and measure_signals(flashing)["face_flicker"] == pytest.approx(0.05)


def test_signals_read_only_the_frames_they_are_given():
    from dataclasses import replace

    video = features()
    shorter = video.cut(0, 300)
    assert shorter.num_frames == 300 and len(shorter.extras["mouth_opening"]) == 300
    assert measure_signals(shorter)["head_speed"] == pytest.approx(
        measure_signals(video)["head_speed"], rel=0.05
    )
    no_face = replace(video, masks={m: np.zeros(500, bool) for m in MODALITIES})
    assert all(np.isnan(v) for k, v in measure_signals(no_face).items() if k != "sync_offset_ms")


def test_the_reference_places_a_value_among_real_recordings():
    rows = [dict.fromkeys(SIGNALS, float(v)) for v in (1, 2, 3, 4, 5)]
    reference = RealReference.from_values(rows)
    assert reference.percentile("head_speed", 3.0) == 0.5
    assert reference.percentile("head_speed", 10.0) == 1.0
    assert reference.distance("head_speed", 3.0) == 0.0
    assert reference.distance("head_speed", 7.0) == pytest.approx(2.0)  # (7 - 3) / IQR 2
    assert reference.oriented("head_speed", 7.0) == reference.oriented("head_speed", -1.0) < 0
    assert reference.oriented("sync_confidence", 7.0) == 7.0
    assert reference.oriented("sync_offset_ms", 7.0) == -7.0
    described = reference.describe(dict.fromkeys(SIGNALS, float("nan")))
    assert all(d["value"] is None and d["real_percentile"] is None for d in described.values())


def test_the_bundled_reference_covers_every_signal():
    if not REFERENCE.is_file():
        pytest.skip("no bundled reference (examples/validate_default_model.py --write-reference)")
    reference = real_reference()
    assert set(reference.values) == set(SIGNALS)
    assert all(len(v) >= 10 for k, v in reference.values.items() if k != "silent_lip_motion")


def test_the_calibration_keeps_signs_and_shrinks_with_its_penalty():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    shares = 1 / (1 + np.exp(-(2 * x[:, 0] - 2 * x[:, 1])))  # signal 1 points the wrong way
    loose = SignCalibration.fit(x, shares, penalty=0.1)
    assert loose.weights[0] > 1 and loose.weights[1] == 0
    assert np.mean((loose.margin(x) > 0) == (shares > 0.5)) > 0.8
    tight = SignCalibration.fit(x, shares, penalty=1000)
    assert tight.weights[0] < loose.weights[0] / 10
    with pytest.raises(ValueError, match="penalty"):
        SignCalibration.fit(x, shares, penalty=0)
    assert set(loose.to_dict(["a", "b", "c"])["a"]) == {"weight", "scale"}


def test_a_blurred_mouth_has_less_detail_than_a_sharp_one():
    import cv2

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (240, 240, 3), dtype=np.uint8)
    landmarks = np.zeros((478, 3), np.float32)
    landmarks[:, :2] = rng.uniform(0.2, 0.8, (478, 2))
    mouth = np.array([[0.4, 0.6], [0.6, 0.6], [0.5, 0.55], [0.5, 0.7]])
    landmarks[list(MOUTH_OUTLINE), :2] = np.resize(mouth, (len(MOUTH_OUTLINE), 2))
    sharp = mouth_detail(image, landmarks)
    blurred = image.copy()
    blurred[120:180, 84:156] = cv2.GaussianBlur(image[120:180, 84:156], (0, 0), 3)
    soft = mouth_detail(blurred, landmarks)
    assert soft[0] < sharp[0] - 1 and abs(soft[1] - sharp[1]) < 1
    assert abs(soft[2] - sharp[2]) < 0.01 and 0.4 < sharp[2] < 0.6  # the same mean brightness
    assert np.isnan(mouth_detail(image, None)).all()
    larger = cv2.resize(image, (480, 480), interpolation=cv2.INTER_NEAREST)
    assert np.isfinite(mouth_detail(larger, landmarks)).all()


def test_a_calibrated_task_scores_from_its_signals_against_real_recordings(tmp_path):
    from talkscore.models.calibration import (
        LIMIT,
        NETWORK_INPUT,
        TaskCalibration,
        load_calibration,
        save_calibration,
    )

    reference = RealReference.from_values([dict.fromkeys(SIGNALS, float(v)) for v in (1, 2, 3)])
    calibration = TaskCalibration(
        weights={"sync_offset_ms": 1.0, "head_speed": 0.5, "blink_rate": 0.0},
        scales={"sync_offset_ms": 2.0, "head_speed": 1.0, "blink_rate": 1.0},
        points_per_logit=0.5,
        top=4.5,
    )
    typical = dict.fromkeys(SIGNALS, 2.0)
    assert calibration.score(typical, reference, (1.0, 5.0)) == 4.5
    late = typical | {"sync_offset_ms": 6.0}  # 4 ms worse than the real median: -0.5 * 4 / 2
    assert calibration.contributions(late, reference) == {"sync_offset_ms": -1.0, "head_speed": 0.0}
    assert calibration.score(late, reference, (1.0, 5.0)) == 3.5

    # beyond LIMIT scales (8 ms late) an input counts logarithmically: 100 ms late (49 scales)
    # takes 3 + log(47) scales, and later still takes more
    def points(late_ms: float) -> float:
        late = typical | {"sync_offset_ms": late_ms}
        return calibration.contributions(late, reference)["sync_offset_ms"]

    assert points(8.0) == -0.5 * LIMIT
    assert points(100.0) == pytest.approx(-0.5 * (LIMIT + np.log(47.0)))
    assert points(400.0) < points(100.0) < points(8.0)
    unmeasured = typical | {"sync_offset_ms": float("nan")}
    assert calibration.score(unmeasured, reference, (1.0, 5.0)) == 4.5
    with_network = TaskCalibration(
        weights={"head_speed": 1.0, NETWORK_INPUT: 2.0},
        scales={"head_speed": 1.0, NETWORK_INPUT: 0.5},
        points_per_logit=0.25,
        top=4.5,
    )
    # the network's score is measured against the label of a clean real recording, 4.6
    weak = typical | {NETWORK_INPUT: 3.6}
    points = with_network.contributions(weak, reference)
    assert points == {"head_speed": 0.0, NETWORK_INPUT: pytest.approx(-1.0)}
    assert with_network.score(weak, reference, (1.0, 5.0)) == pytest.approx(3.5)
    assert with_network.score(typical, reference, (1.0, 5.0)) == 4.5  # no network score: 0
    save_calibration(tmp_path, {"lip_sync": calibration}, {"recipe": "test"})
    assert load_calibration(tmp_path) == {"lip_sync": calibration}
    assert load_calibration(tmp_path / "nowhere") == {}
