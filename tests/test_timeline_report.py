"""Explaining a score: the per-window timeline (JSON, CSV, API) and the HTML report.

The report's page is rendered in headless Chromium when it is installed (Debian's `chromium`;
`.ci/run` installs it) and the screenshot must not be blank.
"""

from __future__ import annotations

import base64
import csv
import json
import re
import shutil
import subprocess

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from talkscore.cli import app
from talkscore.decoding import iter_frames, read_audio
from talkscore.scoring import Scorer
from talkscore.spans import sliding
from talkscore.timeline import TIMELINE_COLUMNS, Timeline
from talkscore.training.degradations import write_mp4

CLIP = "real/sadtalker_src_RD_Radio2_000.mp4"  # held out from the default model's training
SHIFT_FRAMES = 8  # 320 ms
runner = CliRunner()


@pytest.fixture(scope="module")
def scorer(face_model):
    return Scorer(face_model=face_model)


@pytest.fixture(scope="module")
def clip(clips_dir):
    return clips_dir / CLIP


def test_timeline_json_and_csv(clip, face_model, tmp_path):
    table = tmp_path / "timeline.csv"
    args = ["score", str(clip), "--timeline", "--timeline-csv", str(table), "--json"]
    result = runner.invoke(app, [*args, "--face-model", str(face_model)])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    windows = report["timeline"]
    frames = round(report["diagnostics"]["duration_s"] * 25)
    assert len(windows) == len(sliding(frames, 50, 25)) == 7  # 8 s: windows start at 0..6 s
    assert (
        windows[0]["start_s"] == 0 and windows[-1]["end_s"] == report["diagnostics"]["duration_s"]
    )
    assert [w["start_s"] for w in windows] == [float(i) for i in range(7)]
    assert all(w["end_s"] - w["start_s"] == 2.0 for w in windows)
    for w in windows:
        assert all(1 <= v <= 5 for v in w["scores"].values()) and all(
            s > 0 for s in w["std"].values()
        )
        assert w["face_coverage"] == 1.0 and 1 <= w["dnsmos_ovrl"] <= 5
        assert abs(w["sync_scorer_offset_ms"]) <= 80  # a real recording: in sync within 2 frames
    rows = list(csv.DictReader(table.open()))
    assert list(rows[0]) == list(TIMELINE_COLUMNS) and len(rows) == len(windows)
    for row, w in zip(rows, windows, strict=True):
        assert float(row["start_s"]) == w["start_s"]
        assert float(row["lip_sync"]) == pytest.approx(w["scores"]["lip_sync"])


@pytest.fixture(scope="module")
def half_shifted(clip, tmp_path_factory):
    """The clip written again clean, and with its audio delayed 320 ms from the middle on."""
    folder = tmp_path_factory.mktemp("shift")
    frames = [f.image for f in iter_frames(clip, 25, 512)]
    audio = read_audio(clip)
    half, shift = len(audio) // 2, SHIFT_FRAMES * 640
    shifted = audio.copy()
    shifted[half:] = audio[half - shift : len(audio) - shift]
    write_mp4(folder / "clean.mp4", frames, audio)
    write_mp4(folder / "shifted.mp4", frames, shifted)
    return folder / "clean.mp4", folder / "shifted.mp4", half / 16000


def test_an_audio_shift_in_the_second_half_lowers_its_windows(scorer, half_shifted):
    clean, shifted, middle = half_shifted
    timelines = [scorer(v, timeline=Timeline()).timeline for v in (clean, shifted)]
    first = [i for i, w in enumerate(timelines[1]) if w["end_s"] <= middle]
    later = [i for i, w in enumerate(timelines[1]) if w["start_s"] >= middle]
    assert len(first) >= 2 and len(later) >= 2

    def lip(timeline, indices):
        return np.mean([timeline[i]["scores"]["lip_sync"] for i in indices])

    # the bundled ensemble lowers the shifted windows by about 0.1 against the clean clip's (0.17
    # for the previous one) and moves the untouched first windows by less than 0.01
    margin = 0.05
    assert lip(timelines[1], later) < lip(timelines[1], first) - margin
    assert lip(timelines[1], later) < lip(timelines[0], later) - margin  # the shift, not the clip
    assert abs(lip(timelines[1], first) - lip(timelines[0], first)) < margin
    offsets = [timelines[1][i]["sync_scorer_offset_ms"] for i in later]
    assert all(abs(o + SHIFT_FRAMES * 40) <= 80 for o in offsets)  # audio lags 320 ms


def test_score_video_api_returns_the_same_timeline(clip, face_model):
    from talkscore import score_video

    timeline = Timeline(4.0, 2.0)
    windows = score_video(clip, face_model=face_model, timeline=timeline, max_seconds=6).timeline
    assert [(w["start_s"], w["end_s"]) for w in windows] == [(0.0, 4.0), (2.0, 6.0)]


# --- the report -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report(clip, face_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    out, png = folder / "report.html", folder / "report.png"
    args = ["report", str(clip), "--out", str(out), "--png", str(png)]
    result = runner.invoke(app, [*args, "--face-model", str(face_model)])
    assert result.exit_code == 0, result.stderr
    return out, png


def test_the_report_is_one_self_contained_page(report):
    page = report[0].read_text()
    for heading in (
        "Scores",
        "Timeline",
        "Lip sync",
        "Audio and face",
        "Faces from",
        "Signals against real recordings",
        "Diagnostics",
    ):
        assert f"<h2>{heading}" in page
    assert "blink_rate" in page and "closest to real" in page
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page)  # nothing fetched when viewed
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) >= 6  # four figures and at least two face thumbnails
    for data in images:
        picture = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), 1)
        assert picture is not None and picture.std() > 5
    assert "Worst windows" in page and "offset (sync scorer)" in page and "model" in page
    assert "Audio-visual sync: <b>" in page and "<th>band</th>" in page


def test_the_png_page_has_every_panel(report):
    picture = cv2.imread(str(report[1]))
    assert picture.shape[0] > picture.shape[1] > 800 and picture.std() > 20


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_the_report_renders_in_headless_chromium(report, tmp_path):
    shot = tmp_path / "shot.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--screenshot={shot}", "--window-size=1200,1600", report[0].as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    picture = cv2.imread(str(shot), cv2.IMREAD_GRAYSCALE)
    assert picture is not None and picture.shape == (1600, 1200)
    assert (picture < 200).mean() > 0.03 and picture.std() > 20  # text and figures, not blank


def test_batch_writes_a_report_per_video_and_a_sortable_index(clip, face_model, tmp_path):
    videos = tmp_path / "in"
    videos.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(clip, videos / name)
    (videos / "broken.mp4").write_text("not a video")
    reports = tmp_path / "reports"
    args = ["batch", str(videos), "--csv", str(tmp_path / "out.csv"), "--report-dir", str(reports)]
    result = runner.invoke(app, [*args, "--max-seconds", "3", "--face-model", str(face_model)])
    assert result.exit_code == 1 and "reports:" in result.stdout
    pages = sorted(p.name for p in reports.glob("*.html"))
    assert len(pages) == 3 and "index.html" in pages  # two reports, no report for the broken file
    index = (reports / "index.html").read_text()
    assert index.count("<tr>") == 4 and "broken.mp4" in index and "sort" in index
    for page in pages:
        if page != "index.html":
            assert f"href='{page}'" in index
