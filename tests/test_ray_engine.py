"""`batch --engine ray` on a local Ray instance (loopback, 2 CPUs): the same rows as the local
engine, a corrupt file as a failed row, a resume after the run is stopped halfway; without
`--engine ray` nothing imports Ray."""

from __future__ import annotations

import csv
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli_process import start_cli
from typer.testing import CliRunner

from talkscore.batch.jobs import run_jobs
from talkscore.batch.scores import ScoreJob, score_batch
from talkscore.cli import app
from talkscore.tasks import TASKS

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'talkscore[ray]')")
CLIP = "real/sadtalker_src_RD_Radio2_000.mp4"
runner = CliRunner()


@pytest.fixture
def folder(clips_dir, tmp_path):
    """Three short copies of a real clip and a corrupt file."""
    videos = tmp_path / "in"
    videos.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        shutil.copy(clips_dir / CLIP, videos / name)
    (videos / "corrupt.mp4").write_bytes(b"\x00" * 1000)
    return videos


def rows(path: Path) -> dict[str, dict]:
    return {Path(r["video"]).name: r for r in csv.DictReader(path.open())}


def test_nothing_imports_ray_without_the_ray_engine():
    code = (
        "import sys, talkscore.cli, talkscore.batch.scores, talkscore.batch.features, "
        "talkscore.batch.jobs; "
        "assert 'ray' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance (loopback, 2 CPUs) for this module's in-process tests."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    yield
    ray.shutdown()


def test_ray_rows_equal_the_local_engines(local_ray, folder, face_model, tmp_path):
    from talkscore.batch.ray_engine import RayEngine

    videos = sorted(folder.iterdir())
    job = ScoreJob(face_model=str(face_model), max_seconds=1.5)
    local = score_batch(videos, tmp_path / "local.csv", job=job, workers=1, engine=run_jobs)
    engine = RayEngine()  # uses the running instance
    remote = score_batch(videos, tmp_path / "ray.csv", job=job.packed(), workers=2, engine=engine)
    assert local["scored"] == remote["scored"] == 3 and len(remote["failures"]) == 1
    here, there = rows(tmp_path / "local.csv"), rows(tmp_path / "ray.csv")
    assert set(here) == set(there) == {"a.mp4", "b.mp4", "c.mp4", "corrupt.mp4"}
    assert there["corrupt.mp4"]["status"] == "failed" and there["corrupt.mp4"]["error"]
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        assert there[name]["model"] == here[name]["model"] == "default"
        for task in TASKS:
            assert float(there[name][task]) == pytest.approx(float(here[name][task]), abs=1e-4)


def test_a_ray_batch_stopped_halfway_resumes(folder, face_model, tmp_path):
    out = tmp_path / "out.csv"
    args = ["batch", str(folder), "--csv", str(out), "--engine", "ray", "--workers", "1"]
    args += ["--max-seconds", "1.5", "--face-model", str(face_model)]
    process = start_cli(args)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if out.is_file() and len(out.read_text().splitlines()) >= 2:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and "Traceback" not in stderr
    first = rows(out)
    assert 1 <= len(first) < 4
    again = runner.invoke(app, args)
    assert again.exit_code == 1  # the corrupt file
    names = [Path(r["video"]).name for r in csv.DictReader(out.open())]
    assert sorted(names) == ["a.mp4", "b.mp4", "c.mp4", "corrupt.mp4"]


def test_ray_extraction_equals_the_local_one(local_ray, clips_dir, face_model, tmp_path):
    from talkscore.batch.features import extract_videos
    from talkscore.batch.ray_engine import RayEngine
    from talkscore.extraction import VideoFeatures

    videos = [clips_dir / CLIP, tmp_path / "corrupt.mp4"]
    videos[1].write_bytes(b"\x00" * 1000)
    here = extract_videos(videos, tmp_path / "local", face_model=face_model)
    there = extract_videos(videos, tmp_path / "ray", face_model=face_model, workers=2,
                           engine=RayEngine(), ship_face_model=True)  # fmt: skip
    assert [r.status for r in there] == [r.status for r in here] == ["extracted", "failed"]
    a, b = (VideoFeatures.load(r[0].features) for r in (here, there))
    for modality, stream in a.streams.items():
        np.testing.assert_allclose(stream, b.streams[modality], rtol=1e-3, atol=1e-3)
