"""`talkscore batch` under faults: bad files among good ones, Ctrl-C and SIGKILL halfway, an
unwritable or full output, two runs on one CSV, a worker process that dies.

Fast cases use `FakeJob` (no models: a fixed score, or a crash for videos named `crash*`);
the interruption cases run the real command on short copies of a real clip.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_process import start_cli
from typer.testing import CliRunner

from talkscore.batch import scores as batch_scores
from talkscore.batch.jobs import WORKER_DIED
from talkscore.batch.scores import CSV_COLUMNS, score_batch
from talkscore.cli import app
from talkscore.errors import TalkscoreError
from talkscore.scoring import VideoScore
from talkscore.tasks import TASKS

runner = CliRunner()


def fake_score(video: str) -> tuple[str, VideoScore | None, str | None]:
    if Path(video).name.startswith("crash"):
        os.kill(os.getpid(), signal.SIGKILL)  # as a segfault in native code would
    if Path(video).name.startswith("bad"):
        return video, None, "not a readable video"
    score = VideoScore(video, "fake", dict.fromkeys(TASKS, 3.0), dict.fromkeys(TASKS, 0.1), {})
    return video, score, None


@dataclass(frozen=True)
class FakeJob:
    """Builds `fake_score` (picklable, so worker processes can use it)."""

    def __call__(self):
        return fake_score


def read_rows(path: Path) -> list[dict]:
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert all(list(row) == list(CSV_COLUMNS) for row in rows)
    return rows


def videos(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(exist_ok=True)
    return [folder / name for name in names]


# --- bad files among good ones (real scoring) -----------------------------------------------------


def test_bad_files_become_failed_rows_and_the_rest_is_scored(
    clips_dir, face_model, tmp_path, monkeypatch
):
    folder = tmp_path / "in"
    folder.mkdir()
    monkeypatch.chdir(folder)  # relative names, so the CSV cell starts with "="
    good = clips_dir / "real" / "sadtalker_src_RD_Radio2_000.mp4"
    shutil.copy(good, folder / "=cmd|' calc'!A0.mp4")
    shutil.copy(clips_dir / "noaudio" / "dreamtalk_mead_M030_front_angry_level3_001.mp4", folder)
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "text.mp4").write_text("not a video")
    out, jsonl = tmp_path / "out.csv", tmp_path / "out.jsonl"
    names = sorted(p.name for p in folder.iterdir())
    args = ["batch", *names, "--csv", str(out), "--jsonl", str(jsonl), "--max-seconds", "2"]
    result = runner.invoke(app, [*args, "--face-model", str(face_model)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "failed 2" in result.stdout and result.stderr.count("failed: ") == 2
    rows = {Path(r["video"]).name: r for r in read_rows(out)}
    assert {n: r["status"] for n, r in rows.items()} == {
        "'=cmd|' calc'!A0.mp4": "ok",  # neutralised for spreadsheets
        "dreamtalk_mead_M030_front_angry_level3_001.mp4": "ok",
        "empty.mp4": "failed",
        "text.mp4": "failed",
    }
    assert rows["dreamtalk_mead_M030_front_angry_level3_001.mp4"]["lip_sync"] == ""  # no audio
    assert float(rows["'=cmd|' calc'!A0.mp4"]["lip_sync"]) > 1
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(records) == 4 and all(r["status"] in ("ok", "failed") for r in records)
    again = runner.invoke(app, [*args, "--face-model", str(face_model)])
    assert "skipped 4" in again.stdout and len(read_rows(out)) == 4


# --- interruption halfway (real command) ----------------------------------------------------------


@pytest.fixture
def four_short_clips(clips_dir, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(4):
        shutil.copy(clips_dir / "real" / "sadtalker_src_RD_Radio2_000.mp4", folder / f"c{i}.mp4")
    return folder


@pytest.mark.parametrize(("sig", "workers"), [(signal.SIGINT, 2), (signal.SIGKILL, 1)])
def test_interrupted_batch_keeps_its_rows_and_resumes_without_duplicates(
    four_short_clips, face_model, tmp_path, sig, workers
):
    out, jsonl = tmp_path / "out.csv", tmp_path / "out.jsonl"
    args = [four_short_clips, "--csv", out, "--jsonl", jsonl, "--max-seconds", "1.5"]
    args = ["batch", *map(str, args), "--face-model", str(face_model), "--workers", str(workers)]
    process = start_cli(args)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if out.is_file() and len(out.read_text().splitlines()) >= 2:  # header + one row
            break
        time.sleep(0.1)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert process.returncode == 130 and "Traceback" not in stderr
        assert stderr.strip().splitlines()[-1].startswith("error: interrupted")
    else:
        assert process.returncode == -signal.SIGKILL
    first = read_rows(out)
    assert 1 <= len(first) < 4 and all(r["status"] == "ok" for r in first)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = read_rows(out)
    assert sorted(Path(r["video"]).name for r in rows) == [f"c{i}.mp4" for i in range(4)]
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert sorted(Path(r["video"]).name for r in records) == [f"c{i}.mp4" for i in range(4)]


# --- output problems ------------------------------------------------------------------------------


def test_output_folder_that_cannot_be_made_is_one_error_line(tmp_path):
    (tmp_path / "file").write_text("")
    (tmp_path / "a.mp4").write_bytes(b"")
    result = runner.invoke(app, ["batch", str(tmp_path), "--csv", str(tmp_path / "file/out.csv")])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: cannot write ") and "exists" in result.stderr


def test_someone_elses_csv_is_never_appended_to(tmp_path):
    out = tmp_path / "budget.csv"
    out.write_text("item,amount\nrent,1200\n")
    with pytest.raises(TalkscoreError, match="not a CSV of this talkscore's batch"):
        score_batch(videos(tmp_path / "in", "a.mp4"), out, job=FakeJob())
    assert out.read_text() == "item,amount\nrent,1200\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder_is_one_error_line(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    (tmp_path / "a.mp4").write_bytes(b"")
    result = runner.invoke(app, ["batch", str(tmp_path), "--csv", str(folder / "out.csv")])
    assert result.exit_code == 1 and "Permission denied" in result.stderr


def test_a_failing_writer_keeps_the_rows_before_and_resumes(tmp_path, monkeypatch):
    out = tmp_path / "out.csv"
    names = videos(tmp_path / "in", *(f"v{i}.mp4" for i in range(5)))
    real_writerow = csv.DictWriter.writerow
    calls = []

    def full_disk(self, row):
        calls.append(row)
        if len(calls) == 4:  # header, two rows, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_writerow(self, row)

    monkeypatch.setattr(csv.DictWriter, "writerow", full_disk)
    with pytest.raises(TalkscoreError, match="No space left on device; the 2 rows written"):
        score_batch(names, out, job=FakeJob())
    monkeypatch.setattr(csv.DictWriter, "writerow", real_writerow)
    assert [Path(r["video"]).name for r in read_rows(out)] == ["v0.mp4", "v1.mp4"]
    summary = score_batch(names, out, job=FakeJob())
    assert summary["skipped"] == 2 and summary["scored"] == 3 and len(read_rows(out)) == 5


def _tmpfs(folder: Path, options: str):
    """Mount a tmpfs on `folder` for the test (skipped where that is not allowed)."""
    folder.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                          capture_output=True)  # fmt: skip
    if made.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 192 KiB tmpfs: room for the CSV of the full-disk test, not for its JSON lines too."""
    yield from _tmpfs(tmp_path / "tiny", "size=192k")


@pytest.fixture
def read_only_disk(tmp_path):
    """A read-only tmpfs: not writable, even for root."""
    yield from _tmpfs(tmp_path / "ro", "ro,size=64k")


def test_read_only_output_folder_is_one_error_line_even_for_root(read_only_disk, tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"")
    out = read_only_disk / "out.csv"
    result = runner.invoke(app, ["batch", str(tmp_path / "a.mp4"), "--csv", str(out)])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: cannot write {out}: Read-only file system")


def test_a_full_disk_stops_with_one_message_and_no_broken_rows(tiny_disk, tmp_path):
    names = videos(tmp_path / "in", *(f"video_{i:04d}.mp4" for i in range(400)))
    out, jsonl = tiny_disk / "out.csv", tiny_disk / "out.jsonl"
    with pytest.raises(TalkscoreError, match="No space left on device.*re-run"):
        score_batch(names, out, jsonl, job=FakeJob())
    (tiny_disk / "out.jsonl").unlink()  # make room, as a user would
    summary = score_batch(names, out, job=FakeJob())
    rows = read_rows(out)
    assert summary["skipped"] > 0 and len(rows) == 400
    assert len({r["video"] for r in rows}) == 400 and all(r["overall"] == "3.0" for r in rows)


def test_a_second_batch_on_the_same_csv_is_refused(tmp_path):
    out = tmp_path / "out.csv"
    names = videos(tmp_path / "in", "a.mp4", "b.mp4")
    holder = batch_scores._Output(out, None)  # a first batch, still running
    try:
        before = out.read_bytes()
        with pytest.raises(TalkscoreError, match="being written by another talkscore batch"):
            score_batch(names, out, job=FakeJob())
        assert out.read_bytes() == before
        result = runner.invoke(app, ["batch", *map(str, names), "--csv", str(out)])
        assert result.exit_code == 1 and "another talkscore batch" in result.stderr
    finally:
        holder.close()
    assert score_batch(names, out, job=FakeJob())["scored"] == 2


# --- worker processes -----------------------------------------------------------------------------


def test_a_worker_that_dies_fails_its_video_only(tmp_path):
    out = tmp_path / "out.csv"
    names = videos(tmp_path / "in", "a.mp4", "crash.mp4", "b.mp4", "bad.mp4", "c.mp4", "d.mp4")
    summary = score_batch(names, out, job=FakeJob(), workers=2)
    rows = {Path(r["video"]).name: r for r in read_rows(out)}
    assert len(rows) == 6
    assert rows["crash.mp4"]["status"] == "failed" and rows["crash.mp4"]["error"] == WORKER_DIED
    assert rows["bad.mp4"]["error"] == "not a readable video"
    assert all(rows[n]["status"] == "ok" for n in ("a.mp4", "b.mp4", "c.mp4", "d.mp4"))
    assert sorted(Path(v).name for v, _ in summary["failures"]) == ["bad.mp4", "crash.mp4"]
