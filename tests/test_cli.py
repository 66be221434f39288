"""Tests for the `talkscore` command line, the environment description and model lookup."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from talkscore import __version__
from talkscore.cli import app
from talkscore.paths import (
    FACE_MODEL,
    MODEL_FILES,
    cache_dir,
    find_model,
    sha256_file,
)

COMMANDS = ("info", "score", "batch", "extract", "train", "evaluate")
REAL_FACE_MODEL = Path("/work/shared/models") / FACE_MODEL.filename

runner = CliRunner()


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Point the cache at an empty temp folder and unset the model files' variables."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("TALKSCORE_CACHE", str(cache))
    for model in MODEL_FILES.values():
        monkeypatch.delenv(model.env, raising=False)
    return cache


def _write(path: Path, data: bytes = b"not a model") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_help_lists_all_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.stdout


def test_no_arguments_shows_help() -> None:
    result = runner.invoke(app, [])
    assert "Usage" in result.output
    assert "info" in result.output


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"talkscore {__version__}"


@pytest.mark.parametrize("command", ["score", "batch", "report", "extract", "evaluate"])
def test_every_scoring_command_takes_a_device(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0 and "--device" in result.stdout


def test_an_unusable_device_is_one_error_line(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"not read: the device is checked first")
    result = runner.invoke(app, ["score", str(video), "--device", "gpu7"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: unknown device 'gpu7': use auto, cpu or cuda (cuda:N)"
    ]


def test_info_json_without_face_model() -> None:
    result = runner.invoke(app, ["info", "--json"])
    assert result.exit_code == 0
    env = json.loads(result.stdout)
    expected = {"talkscore", "python", "platform", "torch", "device", "numpy", "backends"}
    assert expected | {"models", "default_model"} <= env.keys()
    assert env["talkscore"] == __version__
    assert set(env["device"]) == {"cuda", "name"}
    assert "mediapipe" in env["backends"]
    assert env["models"]["face_landmarker"] == {"path": None, "source": None, "sha256_ok": None}
    assert env["models"]["lr_asd"] == env["models"]["light_asd"] == env["models"]["face_landmarker"]


def test_info_json_finds_face_model_from_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = _write(tmp_path / "fake.task")
    monkeypatch.setenv(FACE_MODEL.env, str(fake))
    result = runner.invoke(app, ["info", "--json"])
    assert result.exit_code == 0
    model = json.loads(result.stdout)["models"]["face_landmarker"]
    assert model == {"path": str(fake), "source": "environment", "sha256_ok": False}


@pytest.mark.skipif(not REAL_FACE_MODEL.is_file(), reason="no shared copy of the face model")
def test_info_json_accepts_real_face_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FACE_MODEL.env, str(REAL_FACE_MODEL))
    result = runner.invoke(app, ["info", "--json"])
    assert json.loads(result.stdout)["models"]["face_landmarker"]["sha256_ok"] is True


def test_info_human_output(isolated_env: Path) -> None:
    result = runner.invoke(app, ["info"])
    assert result.exit_code == 0
    assert "torch" in result.stdout
    assert "mediapipe" in result.stdout
    assert f"set {FACE_MODEL.env} or put it in {isolated_env}" in result.stdout


def test_info_human_output_has_no_hint_when_model_found(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(FACE_MODEL.env, str(_write(tmp_path / "fake.task")))
    result = runner.invoke(app, ["info"])
    assert result.exit_code == 0
    assert "mismatch" in result.stdout
    assert "put it in" not in result.stdout


def test_find_face_model_none(isolated_env: Path) -> None:
    assert find_model(FACE_MODEL) is None
    assert find_model(FACE_MODEL, isolated_env / "absent.task") is None
    assert not isolated_env.exists()


def test_find_face_model_order(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, isolated_env: Path
) -> None:
    cached = _write(isolated_env / FACE_MODEL.filename)
    assert find_model(FACE_MODEL) == (cached, "cache")

    from_env = _write(tmp_path / "env.task")
    monkeypatch.setenv(FACE_MODEL.env, str(from_env))
    assert find_model(FACE_MODEL) == (from_env, "environment")

    explicit = _write(tmp_path / "explicit.task")
    assert find_model(FACE_MODEL, explicit) == (explicit, "option")
    assert find_model(FACE_MODEL, str(explicit)) == (explicit, "option")
    assert find_model(FACE_MODEL, tmp_path / "absent.task") == (from_env, "environment")


def test_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("TALKSCORE_CACHE")
    assert cache_dir() == tmp_path / "xdg" / "talkscore"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "talkscore"
    assert not (tmp_path / "home").exists()


def test_sha256_file(tmp_path: Path) -> None:
    data = b"x" * (3 << 20) + b"tail"
    path = _write(tmp_path / "blob", data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert sha256_file(path) != FACE_MODEL.sha256


def test_console_script_help() -> None:
    exe = shutil.which("talkscore")
    if exe is None:
        pytest.skip("talkscore console script is not installed on PATH")
    result = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for name in COMMANDS:
        assert name in result.stdout


def test_cli_import_does_not_load_torch() -> None:
    code = "import sys, talkscore.cli; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
