"""Bad and odd input, as a new user would give it: each gives one clear error line and a non-zero
exit code, or a documented degraded result (README, "What happens with bad input").

The odd files are made here from a 3 s piece of a real clip (truncated, corrupted, re-encoded,
re-composed); scoring uses the bundled default model.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import soxr
from media import write_video
from typer.testing import CliRunner

from talkscore import scoring
from talkscore.checkpoint import DEFAULT_MODEL
from talkscore.cli import app
from talkscore.decoding import iter_frames, read_audio
from talkscore.scoring import Scorer

BASE_CLIP = "real/sadtalker_src_RD_Radio2_000.mp4"
SECONDS = 3
FACE_TASKS = {"lip_sync", "expression", "cross_modal", "overall"}
SPEECH_TASKS = {"lip_sync", "cross_modal"}
runner = CliRunner()


@pytest.fixture(scope="module")
def base(clips_dir):
    """Frames (256 px) and 16 kHz audio of the first 3 s of a real clip, and the clip's path."""
    path = clips_dir / BASE_CLIP
    frames = [f.image for f in iter_frames(path, 25, 256)][: 25 * SECONDS]
    return frames, read_audio(path)[: 16000 * SECONDS], path


@pytest.fixture(scope="module")
def scorer(face_model):
    return Scorer(face_model=face_model)


@pytest.fixture(scope="module")
def media(base, tmp_path_factory):
    """Writes a video from frames and [channels, samples] audio into a module temp folder."""
    folder = tmp_path_factory.mktemp("odd")

    def write(name, frames=None, audio="base", fps=25, rate=16000, **kw) -> Path:
        frames = base[0] if frames is None else frames
        audio = base[1][None] if isinstance(audio, str) else audio
        height, width = frames[0].shape[:2]
        return write_video(
            folder / name, len(frames), fps, (width, height), image=frames.__getitem__,
            audio=audio, audio_rate=rate, **kw,
        )  # fmt: skip

    return write


def score_cli(*args: str, env: dict | None = None):
    return runner.invoke(app, ["score", *map(str, args)], env=env)


def assert_one_error_line(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# --- files that are not (whole) videos: one error line ----------------------------------------


def _written(name: str, data: bytes | None):
    """A maker of the file `name` holding `data` (None: a folder)."""

    def make(folder: Path, _clip: Path) -> Path:
        path = folder / name
        path.mkdir() if data is None else path.write_bytes(data)
        return path

    return make


def _truncated(folder: Path, clip: Path) -> Path:
    data = clip.read_bytes()
    return _written("cut.mp4", data[: len(data) // 2])(folder, clip)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda folder, _: folder / "missing.mp4", "not found"),
        (_written("dir.mp4", None), "a directory"),
        (_written("zero.mp4", b""), "empty (0 bytes)"),
        (_written("text.mp4", b"hello\n"), "not a readable video"),
        (_truncated, "not a readable video"),
    ],
    ids=["missing", "directory", "zero-byte", "text-named-mp4", "truncated-at-half"],
)
def test_files_that_are_not_videos_give_one_error_line(tmp_path, base, face_model, make, message):
    path = make(tmp_path, base[2])
    assert_one_error_line(score_cli(path, "--face-model", face_model), str(path), message)


def test_unreadable_file_says_permission_denied(tmp_path, base, face_model, monkeypatch):
    path = tmp_path / "locked.mp4"
    shutil.copy(base[2], path)
    if os.geteuid() == 0:  # root reads anything: make the open fail as it would for a user
        real_open = av.open

        def denied(file, *args, **kwargs):
            if str(file) == str(path):
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(av, "open", denied)
    else:
        path.chmod(0)
    assert_one_error_line(score_cli(path, "--face-model", face_model), "permission denied")


def test_audio_only_file_is_refused(clips_dir, face_model):
    wav = clips_dir / "audio_only" / "vretalking_audio_1.wav"
    assert_one_error_line(score_cli(wav, "--face-model", face_model), "no video stream")


@pytest.mark.parametrize("frames", [8, 1], ids=["0.32s", "single-frame"])
def test_too_short_videos_are_refused(media, base, face_model, frames):
    path = media(f"short{frames}.mp4", base[0][:frames], base[1][None, : frames * 640])
    assert_one_error_line(score_cli(path, "--face-model", face_model), "at least 0.5 s")


def test_a_still_image_is_refused(tmp_path, base, face_model):
    path = tmp_path / "still.png"
    av.VideoFrame.from_ndarray(base[0][0], format="rgb24").to_image().save(path)
    assert_one_error_line(score_cli(path, "--face-model", face_model), "at least 0.5 s")


def test_garbage_in_the_middle_still_scores(tmp_path, base, scorer):
    data = bytearray(base[2].read_bytes())
    middle = len(data) // 2
    data[middle : middle + 20_000] = np.random.default_rng(0).bytes(20_000)
    path = tmp_path / "garbage.mp4"
    path.write_bytes(bytes(data))
    result = scorer(path)
    assert all(1 <= v <= 5 for v in result.scores.values())
    assert result.diagnostics["duration_s"] > 7


# --- odd formats: scored ------------------------------------------------------------------------


def test_4k_at_60_fps_is_scored_on_the_25_fps_timeline(media, base, scorer):
    frames = [cv2.resize(base[0][i * 25 // 60], (3840, 2160)) for i in range(60)]
    result = scorer(media("4k60.mp4", frames, base[1][None, :16000], fps=60))
    assert result.diagnostics["fps"] == 25 and result.diagnostics["duration_s"] == 1.0
    assert result.diagnostics["face_coverage"] > 0.9 and not result.unscored


def test_variable_frame_rate(media, base, scorer):
    steps = np.random.default_rng(1).choice([20, 40, 60], len(base[0]) - 1)
    pts = np.concatenate([[0], np.cumsum(steps)]).tolist()
    result = scorer(media("vfr.mp4", pts_ms=pts))
    assert result.diagnostics["duration_s"] == pytest.approx(pts[-1] / 1000, abs=0.1)
    assert result.diagnostics["face_coverage"] > 0.9 and not result.unscored


def test_phone_video_stored_sideways_is_turned_upright(media, base, scorer):
    sideways = [np.ascontiguousarray(np.rot90(f, k=-1)) for f in base[0]]
    result = scorer(media("phone.mp4", sideways, rotation=90))  # players turn it back
    assert result.diagnostics["face_coverage"] > 0.9


@pytest.fixture(scope="module")
def base_offset(media, scorer):
    return scorer(media("plain.mp4")).diagnostics["sync_scorer_offset_frames"]


@pytest.mark.parametrize(
    ("name", "rate", "channels", "codec"),
    [("u8.mov", 8000, 1, "pcm_u8"), ("stereo48k.mp4", 48000, 2, None)],
    ids=["8-bit-mono-8kHz", "48kHz-stereo"],
)
def test_odd_audio_formats_keep_the_sync(
    media, base, scorer, base_offset, name, rate, channels, codec
):
    audio = np.tile(soxr.resample(base[1], 16000, rate).astype(np.float32), (channels, 1))
    result = scorer(media(name, audio=audio, rate=rate, audio_codec=codec))
    assert result.diagnostics["has_audio"] and not result.unscored
    assert abs(result.diagnostics["sync_scorer_offset_frames"] - base_offset) <= 1


@pytest.mark.parametrize(("frames", "seconds", "word"), [(25, 3, "longer"), (75, 1, "shorter")])
def test_audio_much_longer_or_shorter_than_the_video_is_flagged(
    media, base, scorer, frames, seconds, word
):
    path = media(f"audio_{word}.mp4", base[0][:frames], base[1][None, : 16000 * seconds])
    result = scorer(path)
    assert result.diagnostics["duration_s"] == frames / 25
    assert any(f"s {word} than the video" in w for w in result.warnings)


# --- missing modalities: documented null scores ---------------------------------------------------


def test_no_audio_track_leaves_the_audio_tasks_unscored(media, scorer):
    result = scorer(media("mute.mp4", audio=None))
    assert {t for t, v in result.scores.items() if v is None} == SPEECH_TASKS | {"audio_quality"}
    assert set(result.unscored.values()) == {"no audio track"}
    assert result.std["lip_sync"] is None and result.gates["audio"] == 0
    assert result.scores["expression"] is not None and result.scores["overall"] is not None


def test_a_silent_track_leaves_lip_sync_unscored_but_rates_the_audio(media, base, scorer):
    result = scorer(media("silent.mp4", audio=np.zeros((1, len(base[1])), np.float32)))
    assert set(result.unscored) == SPEECH_TASKS
    assert result.unscored["lip_sync"] == "the audio track is silent"
    assert result.scores["audio_quality"] < 3


def test_no_face_leaves_the_face_tasks_unscored(media, base, scorer):
    result = scorer(media("noface.mp4", [np.full_like(base[0][0], 120)] * len(base[0])))
    assert set(result.unscored) == FACE_TASKS and "no face found" in result.unscored["overall"]
    assert result.scores["audio_quality"] is not None


def test_a_face_in_a_few_frames_only_is_not_enough(media, base, scorer):
    grey = np.full_like(base[0][0], 120)
    frames = [f if 30 <= i < 36 else grey for i, f in enumerate(base[0])]
    result = scorer(media("glimpse.mp4", frames))
    assert set(result.unscored) == FACE_TASKS
    assert result.unscored["expression"] == "a face in only 6 frames (needs 0.5 s)"


def test_a_face_in_part_of_the_video_is_scored_with_a_warning(clips_dir, scorer):
    result = scorer(clips_dir / "other" / "pyfeat_face_noface.mov")
    assert not result.unscored and 0.2 < result.diagnostics["face_coverage"] < 0.8
    assert any("of the frames; face scores rest on those" in w for w in result.warnings)


def test_two_faces_follow_the_largest_and_say_so(media, base, scorer):
    def pair(frame):
        smaller = np.full_like(frame, 120)
        smaller[64:192, 64:192] = cv2.resize(frame[:, ::-1], (128, 128))
        return np.concatenate([frame, smaller], axis=1)

    result = scorer(media("two.mp4", [pair(f) for f in base[0]]))
    assert "2 faces seen; one is followed (the largest at first)" in result.warnings
    assert not result.unscored


def test_side_by_side_panels_are_scored_with_a_warning(clips_dir, scorer):
    result = scorer(clips_dir / "other" / "aniportrait_asset_zl.mp4")
    assert not result.unscored and any("faces seen" in w for w in result.warnings)


def test_a_tiny_face_in_a_wide_shot_counts_as_no_face(media, base, scorer):
    def wide(frame):
        canvas = np.full((720, 1280, 3), 90, np.uint8)
        canvas[320:368, 600:648] = cv2.resize(frame, (48, 48))
        return canvas

    result = scorer(media("wide.mp4", [wide(f) for f in base[0]]))
    assert set(result.unscored) == FACE_TASKS and "tiny" in result.unscored["expression"]


# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["a clip.mp4", "vidéo_日本.mp4", "-clip.mp4", "=cmd|' calc'!A0.mp4"]
)
def test_odd_file_names_are_scored(tmp_path, base, face_model, name):
    path = tmp_path / name
    shutil.copy(base[2], path)
    result = score_cli("--max-seconds", "2", "--json", "--face-model", face_model, "--", path)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["video"] == str(path)


# --- checkpoints and the face model --------------------------------------------------------------


def _model_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(DEFAULT_MODEL, tmp_path / "model"))


def _edit_metadata(folder: Path, edit) -> None:
    path = folder / "talkscore.json"
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))


class _Marker:
    """Unpickling this creates a file: proof that a pickle was (not) loaded."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def _not_ours(tmp_path):
    folder = tmp_path / "hf_model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "bert"}')
    return folder, "not a talkscore checkpoint"


def _truncated_weights(tmp_path):
    folder = _model_copy(tmp_path)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return folder, "model.safetensors"


def _pickled_weights(tmp_path):
    folder = _model_copy(tmp_path)
    (folder / "model.safetensors").write_bytes(pickle.dumps(_Marker(str(tmp_path / "ran"))))
    return folder, "model.safetensors"


def _other_schema(tmp_path):
    folder = _model_copy(tmp_path)
    _edit_metadata(folder, lambda meta: meta["extraction"].update(schema=2))
    return folder, "feature schema v2"


@pytest.mark.parametrize(
    "make",
    [_not_ours, _truncated_weights, _pickled_weights, _other_schema],
    ids=["not-ours", "truncated", "pickle", "other-feature-schema"],
)
def test_bad_checkpoints_give_one_error_line(tmp_path, base, face_model, make):
    folder, message = make(tmp_path)
    result = score_cli(base[2], "--model", folder, "--face-model", face_model)
    assert_one_error_line(result, message)
    assert not (tmp_path / "ran").exists()  # the pickle was never unpickled


def test_backends_other_than_the_checkpoints_are_a_clear_mismatch(base, face_model):
    result = score_cli(base[2], "--visual", "clip", "--face-model", face_model)
    assert_one_error_line(result, "trained on --visual quality features, not clip")


def test_missing_face_model_gives_one_error_line(base, tmp_path):
    result = score_cli(base[2], "--face-model", tmp_path / "face_landmarker.task")
    assert_one_error_line(result, "face_landmarker.task")


def test_face_model_with_a_wrong_checksum_is_refused(base, tmp_path):
    wrong = tmp_path / "face_landmarker.task"
    wrong.write_bytes(b"not the landmarker")
    result = score_cli(base[2], env={"TALKSCORE_FACE_MODEL": str(wrong)})
    assert_one_error_line(result, "sha256")


# --- limits -------------------------------------------------------------------------------------


def test_max_seconds_scores_the_start_only_and_reports_progress(base, scorer):
    seen = []
    result = scorer(base[2], lambda done, total: seen.append((done, total)), max_seconds=2)
    assert result.diagnostics["duration_s"] == 2.0
    assert result.diagnostics["video_duration_s"] >= 8
    assert any(w.startswith("scored the first 2.0 s of 8.") for w in result.warnings)
    assert seen[-1] == (50, 50) and [d for d, _ in seen] == list(range(1, 51))


def test_long_videos_are_scored_in_bounded_windows(base, scorer, monkeypatch):
    lengths = []
    forward = scorer.model.forward

    def spy(features, *args, **kwargs):
        lengths.append(next(iter(features.values())).shape[1])
        return forward(features, *args, **kwargs)

    monkeypatch.setattr(scorer.model, "forward", spy)
    whole = scorer(base[2])
    monkeypatch.setattr(scoring, "SEGMENT_S", 2.0)
    windowed = scorer(base[2])
    assert lengths[0] >= 200 and max(lengths[1:]) <= 50
    for task, value in windowed.scores.items():
        assert abs(value - whole.scores[task]) < 1.0  # the same video, scored in pieces
        assert windowed.std[task] > 0
