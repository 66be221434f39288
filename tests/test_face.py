"""Face streams: landmark normalisation, head pose, AU mapping, tracking on real clips."""

from __future__ import annotations

import numpy as np
import pytest

from talkscore.errors import BackendUnavailable
from talkscore.extractors.action_units import AU_NAMES, action_units
from talkscore.extractors.face import (
    FaceTrack,
    FaceTracker,
    quiet_native_stderr,
    resolve_face_model,
)
from talkscore.extractors.keypoints import (
    head_motion,
    head_pose,
    keypoint_stream,
    normalised_landmarks,
)

BLENDSHAPES = [f"shape{i}" for i in range(20)] + [
    "browInnerUp", "browOuterUpLeft", "browOuterUpRight", "browDownLeft", "browDownRight",
    "eyeWideLeft", "eyeWideRight", "cheekSquintLeft", "cheekSquintRight", "eyeSquintLeft",
    "eyeSquintRight", "noseSneerLeft", "noseSneerRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthDimpleLeft", "mouthDimpleRight",
    "mouthFrownLeft", "mouthFrownRight", "mouthShrugLower", "mouthStretchLeft",
    "mouthStretchRight", "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft",
    "mouthLowerDownRight", "jawOpen", "mouthClose", "eyeBlinkLeft", "eyeBlinkRight",
]  # fmt: skip


def rotation(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """R = Rz(roll) Ry(yaw) Rx(pitch), angles in degrees."""
    p, y, r = np.radians([pitch, yaw, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def posed_track(shape: np.ndarray, poses: list[tuple], size=(640, 480)) -> FaceTrack:
    """A track whose landmarks are `shape` (camera frame, y up) seen under each pose."""
    width, height = size
    frames, matrices = [], []
    for pitch, yaw, roll, scale, shift in poses:
        r = rotation(pitch, yaw, roll)
        camera = scale * shape @ r.T + np.array([shift, -shift, 0.0])
        image = np.stack(
            [camera[:, 0] / width + 0.5, 0.5 - camera[:, 1] / height, -camera[:, 2] / width],
            axis=1,
        )
        frames.append(np.concatenate([image, np.zeros((10, 3))]))
        matrix = np.eye(4)
        matrix[:3, :3], matrix[:3, 3] = r * 1.7, [shift, 2.0, -40.0]  # any uniform scale
        matrices.append(matrix)
    n = len(poses)
    return FaceTrack(
        landmarks=np.array(frames, np.float32),
        blendshapes=np.zeros((n, 52), np.float32),
        matrices=np.array(matrices, np.float32),
        boxes=np.zeros((n, 4), np.int32),
        faces_seen=np.ones(n, np.int32),
        mask=np.ones(n, bool),
        image_size=size,
        blendshape_names=[],
    )


def test_normalisation_removes_rotation_translation_and_scale():
    shape = np.random.default_rng(0).normal(size=(468, 3)) * [40, 50, 20]
    poses = [(0, 0, 0, 1.0, 0), (12, -25, 8, 1.6, 30), (-20, 30, -15, 0.7, -50)]
    normalised = normalised_landmarks(posed_track(shape, poses))
    assert np.abs(normalised[1] - normalised[0]).max() < 1e-4
    assert np.abs(normalised[2] - normalised[0]).max() < 1e-4
    assert keypoint_stream(posed_track(shape, poses)).shape == (3, 1404)


def test_head_pose_recovers_the_angles():
    shape = np.random.default_rng(1).normal(size=(468, 3))
    poses = [(10, -20, 5, 1.0, 0), (-15, 25, -10, 1.0, 0)]
    pose = head_pose(posed_track(shape, poses))
    assert pose.shape == (2, 6)
    assert np.allclose(pose[:, :3], [p[:3] for p in poses], atol=1e-3)
    assert np.allclose(pose[:, 3:], [[0, 2, -40], [0, 2, -40]])


def test_head_motion_is_centred_per_video_with_velocities_and_deviations():
    pose = np.array([[0, 0, 0, 0, 0, 50], [10, 0, 0, 0, 0, 50], [20, 0, 0, 0, 0, 50]], np.float32)
    moved = pose + [0, 30, 0, 5, 0, 0]  # the same motion seen from another camera placement
    motion = head_motion(pose)
    assert motion.shape == (3, 18)
    assert np.allclose(motion, head_motion(moved))
    assert np.allclose(motion[:, 0], [-10, 0, 10]) and np.allclose(motion[:, 6], [0, 10, 10])
    assert np.allclose(motion[:, 12], [10, 0, 10])  # the mean says how far the head roams
    pose[1] = np.nan  # no face in frame 1
    assert np.isnan(head_motion(pose)[1]).all() and np.isfinite(head_motion(pose)[0]).all()


def test_frames_without_a_face_stay_nan():
    shape = np.random.default_rng(2).normal(size=(468, 3))
    track = posed_track(shape, [(0, 0, 0, 1.0, 0)] * 2)
    track.landmarks[1], track.matrices[1], track.mask[1] = np.nan, np.nan, False
    stream = keypoint_stream(track)
    assert np.isfinite(stream[0]).all() and np.isnan(stream[1]).all()
    assert np.isnan(head_pose(track)[1]).all()


def test_action_units_follow_the_documented_mapping():
    blend = np.zeros((2, len(BLENDSHAPES)), np.float32)
    index = {n: i for i, n in enumerate(BLENDSHAPES)}
    blend[0, index["jawOpen"]] = 0.4
    blend[0, index["mouthSmileLeft"]], blend[0, index["mouthSmileRight"]] = 0.2, 0.6
    blend[0, index["mouthClose"]] = 0.1
    blend[1] = np.nan
    aus = dict(zip(AU_NAMES, action_units(blend, BLENDSHAPES)[0], strict=True))
    assert aus["AU26"] == pytest.approx(2.0)  # 5 x jawOpen
    assert aus["AU12"] == pytest.approx(2.0)  # 5 x mean(0.2, 0.6)
    assert aus["AU25"] == pytest.approx(1.5)  # 5 x (jawOpen - mouthClose)
    assert aus["AU01"] == 0 and aus["AU45"] == 0
    assert np.isnan(action_units(blend, BLENDSHAPES)[1]).all()


def _offline(*args, **kwargs):
    raise OSError("offline")


def test_face_model_lookup_errors(tmp_path, monkeypatch):
    monkeypatch.setattr("talkscore.paths.fetch_model", _offline)
    monkeypatch.setenv("TALKSCORE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TALKSCORE_FACE_MODEL", raising=False)
    with pytest.raises(BackendUnavailable, match="--face-model"):
        resolve_face_model()
    fake = tmp_path / "face_landmarker.task"
    fake.write_bytes(b"not a model")
    with pytest.raises(BackendUnavailable, match="sha256 mismatch"):
        resolve_face_model(fake)


def test_native_stderr_is_silenced(capfd):
    import os

    with quiet_native_stderr():
        os.write(2, b"native noise\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_face_leaving_and_returning_is_masked(clips_dir, face_model):
    from talkscore.decoding import iter_frames

    for name, face_first in (("pyfeat_face_noface.mov", True), ("pyfeat_noface_face.mov", False)):
        with FaceTracker(face_model) as tracker:
            for frame in iter_frames(clips_dir / "other" / name):
                tracker.add(frame.image, frame.time)
            mask = tracker.finish().mask
        n = len(mask)
        head, tail = mask[: int(0.3 * n)], mask[-int(0.3 * n) : -2]
        assert head.all() == face_first and (~tail).all() == face_first, name
        assert (~head).all() != face_first and tail.all() != face_first, name
        assert np.count_nonzero(np.diff(mask[:-2].astype(int))) == 1, name


def test_fetch_model_checks_the_hash_and_leaves_nothing_behind(tmp_path, face_model):
    from talkscore.paths import FACE_MODEL, fetch_model

    folder = tmp_path / "cache"
    path = fetch_model(FACE_MODEL, folder, url=face_model.as_uri())
    assert path == folder / FACE_MODEL.filename
    assert path.read_bytes() == face_model.read_bytes()
    path.unlink()
    wrong = tmp_path / "wrong.task"
    wrong.write_bytes(b"0" * 1000)
    with pytest.raises(ValueError, match="expected 64184e22"):
        fetch_model(FACE_MODEL, folder, url=wrong.as_uri())
    with pytest.raises(OSError):
        fetch_model(FACE_MODEL, folder, url=(tmp_path / "missing.task").as_uri())
    assert list(folder.iterdir()) == []


def test_missing_face_model_that_cannot_be_downloaded_says_how_to_provide_it(tmp_path, monkeypatch):
    import talkscore.paths

    monkeypatch.setenv("TALKSCORE_CACHE", str(tmp_path))
    monkeypatch.delenv("TALKSCORE_FACE_MODEL", raising=False)

    def offline(*args, **kwargs):
        raise OSError("Name or service not known")

    monkeypatch.setattr(talkscore.paths, "fetch_model", offline)
    with pytest.raises(BackendUnavailable, match="not downloadable") as error:
        resolve_face_model()
    assert "TALKSCORE_FACE_MODEL" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(BackendUnavailable, match="does not exist"):
        resolve_face_model(tmp_path / "nope.task")


def test_models_fetch_command_fails_in_one_line_offline(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import talkscore.paths as paths
    from talkscore.cli import app

    monkeypatch.setenv("TALKSCORE_CACHE", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("Name or service not known")

    monkeypatch.setattr(paths, "fetch_model", offline)
    result = CliRunner().invoke(app, ["models", "fetch"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "could not download" in result.stderr
    assert "face_landmarker.task" in result.stderr
    result = CliRunner().invoke(app, ["models", "fetch", "lr-asd"])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "LR-ASD" in result.stderr and "lr_asd_ava.model by hand" in result.stderr
    result = CliRunner().invoke(app, ["models", "fetch", "face", "sadtalker"])
    assert result.exit_code == 2 and "unknown model 'sadtalker'" in result.stderr


def test_models_fetch_command_saves_each_named_file(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import talkscore.paths as paths
    from talkscore.cli import app

    saved = []

    def fetch(model, *args, **kwargs):
        saved.append(model)
        return tmp_path / model.filename

    monkeypatch.setattr(paths, "fetch_model", fetch)
    result = CliRunner().invoke(app, ["models", "fetch", "lr-asd", "light-asd"])
    assert result.exit_code == 0, result.stderr
    assert saved == [paths.LR_ASD_MODEL, paths.LIGHT_ASD_MODEL]
    assert "light-asd model saved to" in result.stdout
