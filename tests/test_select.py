"""`talkscore select`: the videos of a batch CSV whose rows pass every condition."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from talkscore.batch.scores import CSV_COLUMNS
from talkscore.batch.select import SelectError, conditions, select_videos
from talkscore.cli import app

runner = CliRunner()

GOOD = {"lip_sync": 4.2, "overall": 3.8, "sync_scorer_offset_ms": 0.0, "sync_verdict": "in_sync"}
ROWS = [
    {"video": "a.mp4", **GOOD},
    {"video": "b.mp4", **GOOD, "sync_scorer_offset_ms": -80.0, "sync_verdict": "in_sync"},
    {"video": "c.mp4", **GOOD, "sync_scorer_offset_ms": 40.0, "sync_verdict": "in_sync"},
    {"video": "d.mp4", **GOOD, "lip_sync": 3.2},
    {"video": "e.mp4", **GOOD, "lip_sync": None},  # unscored: an empty cell
    {"video": "f.mp4", "status": "failed", "error": "not a video"},
    {"video": "'=g.mp4", **GOOD},  # a path the batch neutralised against spreadsheets
    {"video": "h.mp4", **GOOD, "sync_scorer_offset_ms": None, "sync_verdict": "uncertain"},
    {"video": "i.mp4", **GOOD, "overall": 2.5},
]


def write_scores(path: Path, rows: list[dict] = ROWS, columns=CSV_COLUMNS) -> Path:
    """A batch CSV of `rows` (status ok unless given; absent or None cells empty)."""
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, columns, restval="", extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({"status": "ok", **{k: v for k, v in row.items() if v is not None}})
    return path


def run(*args: str):
    return runner.invoke(app, ["select", *map(str, args)])


def test_prints_the_ok_rows_that_pass_every_condition(tmp_path: Path) -> None:
    scores = write_scores(tmp_path / "scores.csv")
    result = run(scores, "--max-abs-offset-ms", 40, "--min", "lip_sync=3.5", "--min", "overall=3")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["a.mp4", "c.mp4", "=g.mp4"]
    summary = result.stderr
    assert "selected 3 of 9 rows" in summary
    assert "status not ok: 1" in summary
    assert "not |sync_scorer_offset_ms| <= 40: 2 (1 empty)" in summary  # b, h
    assert "not lip_sync >= 3.5: 2 (1 empty)" in summary  # d, e
    assert "not overall >= 3: 1" in summary  # i


def test_no_condition_keeps_every_ok_row(tmp_path: Path) -> None:
    result = run(write_scores(tmp_path / "scores.csv"))
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == len(ROWS) - 1  # all but the failed row


def test_upper_bounds_verdicts_and_numeric_columns(tmp_path: Path) -> None:
    scores = write_scores(tmp_path / "scores.csv")
    result = run(scores, "--max", "lip_sync=3.5", "--verdict", "in_sync", "--verdict", "noticeable")
    assert result.stdout.splitlines() == ["d.mp4"]
    result = run(scores, "--verdict", "uncertain")
    assert result.stdout.splitlines() == ["h.mp4"]
    rows = [{"video": "x.mp4", **GOOD, "face_coverage": 0.95}, {"video": "y.mp4", **GOOD}]
    result = run(write_scores(tmp_path / "cover.csv", rows), "--min", "face_coverage=0.9")
    assert result.stdout.splitlines() == ["x.mp4"]


def test_conditions_say_what_they_test() -> None:
    chosen = conditions(["lip_sync=3.5"], [], 40.0, ["in_sync"])
    assert [str(c) for c in chosen] == [
        "lip_sync >= 3.5",
        "|sync_scorer_offset_ms| <= 40",
        "sync_verdict in in_sync",
    ]


def test_the_api_returns_a_selection(tmp_path: Path) -> None:
    selection = select_videos(write_scores(tmp_path / "s.csv"), conditions(["overall=3"]))
    assert selection.videos == ["a.mp4", "b.mp4", "c.mp4", "d.mp4", "e.mp4", "=g.mp4", "h.mp4"]
    assert (selection.rows, selection.status_failed) == (9, 1)
    assert selection.failed == {"overall >= 3": 1}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min", "lipsync=3.5"], "unknown task 'lipsync' in --min lipsync=3.5: use one of"),
        (["--max", "overall"], "--max takes TASK=VALUE, e.g. --max lip_sync=3.5; got 'overall'"),
        (["--min", "overall=high"], "--min takes TASK=VALUE"),
        (["--verdict", "synced"], "unknown --verdict 'synced': use in_sync, noticeable"),
        (["--max-abs-offset-ms", "-5"], "--max-abs-offset-ms must be >= 0"),
    ],
)
def test_a_bad_condition_is_one_error_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = run(write_scores(tmp_path / "scores.csv"), *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


def test_a_csv_that_is_not_a_batch_csv_is_refused(tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("video,lip_sync\na.mp4,4.5\n")
    garbled = write_scores(tmp_path / "garbled.csv", [{"video": "a.mp4", "lip_sync": "high"}])
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00video")
    cases = [
        (labels, "is not a talkscore batch CSV (no column status)"),
        (garbled, "line 2: column lip_sync holds 'high', not a number"),
        (binary, "is not a talkscore batch CSV"),
        (tmp_path / "missing.csv", "cannot read"),
    ]
    for path, message in cases:
        result = run(path, "--min", "lip_sync=3")
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], lines
    with pytest.raises(SelectError, match="no column sync_verdict"):
        columns = [c for c in CSV_COLUMNS if c != "sync_verdict"]
        select_videos(
            write_scores(tmp_path / "old.csv", columns=columns), conditions(verdicts=["in_sync"])
        )
