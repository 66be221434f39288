"""Label files and human preferences: `read_labels`, `LabelSet.split`, `read_preferences`.

Two label formats are read:

* talkscore: a `video` column, any subset of the task columns (`TASKS`), optional `group`
  (identity or source; a split never puts one group on both sides) and `split` (train/val/test).
* THQA-NTIRE: the challenge files with the header `Video,Score`; the score is read as `overall`
  and the other tasks are missing.

A missing label is an empty cell, `nan` or -1 (`MISSING_LABEL`) and becomes NaN. Relative video
paths are resolved against `videos_dir` when given, else against the folder of the CSV. Rows are
numbered as in a spreadsheet: the header is row 1. Every user error is a one-line `LabelsError`.
"""

from __future__ import annotations

import csv
import functools
import logging
import math
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkscore.errors import TalkscoreError
from talkscore.tasks import MISSING_LABEL, TASKS

log = logging.getLogger(__name__)

#: The values of the `split` column, in the order of `LabelSet.split()`'s result.
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: The exact header of the THQA-NTIRE label files.
THQA_HEADER: tuple[str, ...] = ("Video", "Score")
#: Preference dimension -> the task whose score should order its pairs.
DEFAULT_DIMENSION_TASKS: dict[str, str] = {
    "lip": "lip_sync",
    "head": "expression",
    "render": "overall",
}
#: Columns every preference file needs (`source` is optional).
PREFERENCE_COLUMNS: tuple[str, ...] = ("dimension", "video_a", "video_b", "votes_a", "votes_b")

_SHOWN = 3  # problems listed in one message before "(and N more)"
_Record = tuple[int, dict[str, str]]  # (row number, {column: cell})


class LabelsError(TalkscoreError, ValueError):
    """A label or preference file that cannot be used; the message says what to fix."""


@dataclass
class LabelledVideo:
    """One labelled video."""

    video: Path  # absolute, normalised path (symlinks kept)
    labels: np.ndarray  # [len(TASKS)] float32 in TASKS order, NaN where missing
    group: str | None = None  # identity/source; never on both sides of a split
    split: str | None = None  # "train" | "val" | "test" | None


@dataclass
class LabelSet:
    """The rows of one label file, its format and the score range of its labels."""

    rows: list[LabelledVideo]
    source_format: str  # "talkscore" or "thqa"
    score_range: tuple[float, float]  # the option, else (min, max) of all labels

    def missing_videos(self) -> list[Path]:
        """Every row's video that is not an existing file, in row order."""
        return [row.video for row in self.rows if not row.video.is_file()]

    def present(self) -> LabelSet:
        """A copy with only the rows whose video file exists."""
        rows = [row for row in self.rows if row.video.is_file()]
        return LabelSet(rows, self.source_format, self.score_range)

    def split(
        self, val_fraction: float = 0.2, test_fraction: float = 0.0, seed: int = 0
    ) -> dict[str, list[LabelledVideo]]:
        """`{"train", "val", "test": rows}`: the `split` column when any row has one, else random.

        The random split is seeded and group-aware (a row without group is its own group): whole
        groups go to test, then val, until each holds its fraction of the rows. Raises
        `LabelsError` when train or val would be empty; test may be empty.
        """
        if any(row.split for row in self.rows):
            sides, fix = _column_split(self.rows), "give some rows each of split=train and val"
        else:
            sides = _group_split(self.rows, val_fraction, test_fraction, seed)
            fix = "add rows from more groups or change val_fraction/test_fraction"
        empty = [side for side in ("train", "val") if not sides[side]]
        if empty:
            sizes = ", ".join(f"{side} {len(rows)}" for side, rows in sides.items())
            raise LabelsError(
                f"a split that leaves a side empty: {' and '.join(empty)} would have no rows "
                f"({sizes} of {len(self.rows)}); {fix}"
            )
        return sides


@dataclass(frozen=True)
class PreferencePair:
    """Human votes between two videos on one dimension."""

    dimension: str  # e.g. "lip", "head", "render"
    task: str  # the task whose score should order the pair
    video_a: Path
    video_b: Path
    votes_a: float
    votes_b: float
    source: str | None = None  # the real clip both videos were generated from

    @property
    def share_a(self) -> float:
        """Share of the votes that preferred video A (NaN when there are no votes)."""
        total = self.votes_a + self.votes_b
        return self.votes_a / total if total else float("nan")


def read_labels(
    path: str | Path,
    videos_dir: str | Path | None = None,
    score_range: tuple[float, float] | None = None,
) -> LabelSet:
    """Read a talkscore or THQA-NTIRE label CSV.

    `score_range` defaults to (min, max) over all labels; when all labels are equal it cannot be
    inferred and must be given. Raises `LabelsError` for an unreadable or empty file, a missing
    `video` or task column, non-numeric labels, invalid split values, duplicate videos, labels
    outside the given `score_range`, or a file without any label.
    """
    path = Path(path).expanduser()
    header, records = _read_table(path)
    if tuple(header) == THQA_HEADER:
        source_format, video_column, columns = "thqa", "Video", {"overall": "Score"}
    else:
        source_format, video_column, columns = "talkscore", "video", _task_columns(path, header)
    base = _base_dir(path, videos_dir)
    videos = [_video_path(path, line, record, video_column, base) for line, record in records]
    _check_duplicates(path, videos, [line for line, _ in records])
    labels = _labels(path, records, columns)
    groups = [record.get("group") or None for _, record in records]
    splits = _splits(path, records)
    fields = zip(videos, labels.astype(np.float32), groups, splits, strict=True)
    rows = [LabelledVideo(*values) for values in fields]
    return LabelSet(rows, source_format, _score_range(path, labels, score_range))


def read_preferences(
    path: str | Path,
    videos_dir: str | Path | None = None,
    dimension_tasks: dict[str, str] | None = None,
) -> list[PreferencePair]:
    """Read a preference CSV: dimension, video_a, video_b, votes_a, votes_b (+ optional source).

    `dimension_tasks` maps each dimension to a task (default `DEFAULT_DIMENSION_TASKS`); paths
    are resolved like `read_labels`'s. Raises `LabelsError` for missing columns, an unknown
    dimension, or votes that are not non-negative numbers with a positive sum.
    """
    path = Path(path).expanduser()
    if dimension_tasks is None:
        dimension_tasks = DEFAULT_DIMENSION_TASKS
    mapping = _check_mapping(dimension_tasks)
    header, records = _read_table(path)
    missing = [column for column in PREFERENCE_COLUMNS if column not in header]
    if missing:
        raise LabelsError(
            f"{path} has no column {', '.join(missing)}; found columns {', '.join(header)}; "
            f"a preference file needs {', '.join(PREFERENCE_COLUMNS)} (+ optional source)"
        )
    base = _base_dir(path, videos_dir)
    return [_preference(path, line, record, base, mapping) for line, record in records]


#: votes apart (out of about 10) that make a rated pair clear
CLEAR_MARGIN = 5


def preference_agreement(
    pairs: Sequence[PreferencePair],
    score_of: Callable[[Path, str], float],
    min_margin: float = CLEAR_MARGIN,
) -> dict[str, dict]:
    """Per dimension, the share of clear-majority pairs that the scores order as voters did.

    A pair is clear when |votes_a - votes_b| >= `min_margin`; it counts 1 when `score_of(video,
    task)` orders the two videos as the majority did, 0.5 when the scores tie (or one is not
    finite) and 0 otherwise. Returns `{dimension: {"task", "pairs", "agreement"}}` in order of
    first appearance; agreement is NaN for a dimension without clear pairs.
    """
    if not min_margin > 0:
        raise ValueError(f"min_margin must be positive (a clear majority), got {min_margin}")
    score = functools.cache(lambda video, task: float(score_of(video, task)))
    totals: dict[str, dict] = {}
    for pair in pairs:
        entry = totals.setdefault(pair.dimension, {"task": pair.task, "pairs": 0, "credit": 0.0})
        if abs(pair.votes_a - pair.votes_b) >= min_margin:
            difference = score(pair.video_a, pair.task) - score(pair.video_b, pair.task)
            entry["pairs"] += 1
            entry["credit"] += _pair_credit(pair, difference)
    return {
        dimension: {
            "task": entry["task"],
            "pairs": entry["pairs"],
            "agreement": entry["credit"] / entry["pairs"] if entry["pairs"] else float("nan"),
        }
        for dimension, entry in totals.items()
    }


def _pair_credit(pair: PreferencePair, difference: float) -> float:
    """1 when score_a - score_b has the majority's sign, 0.5 on a tie (or NaN), else 0."""
    if not math.isfinite(difference) or difference == 0:
        return 0.5
    return 1.0 if (difference > 0) == (pair.votes_a > pair.votes_b) else 0.0


def _read_table(path: Path) -> tuple[list[str], list[_Record]]:
    """The stripped header and the non-blank records of a CSV file."""
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise LabelsError(f"{path} {what}: give the path of a CSV file")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [cell.strip() for cell in next(reader, [])]
            records = [
                (reader.line_num, _record(path, reader.line_num, header, cells)) for cells in reader
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise LabelsError(f"cannot read {path} as a UTF-8 CSV file: {exc}") from exc
    if not any(header):
        raise LabelsError(f"{path} is empty: it needs a header row and one row per video")
    records = [(line, record) for line, record in records if any(record.values())]
    if not records:
        raise LabelsError(f"{path} has a header but no rows: add one row per video")
    return header, records


def _record(path: Path, line: int, header: list[str], cells: list[str]) -> dict[str, str]:
    """One row as {column: stripped cell}; missing trailing cells are empty."""
    if len(cells) > len(header):
        raise LabelsError(
            f"{path} row {line} has {len(cells)} cells but the header has {len(header)} columns: "
            "quote cells that contain commas"
        )
    cells = cells + [""] * (len(header) - len(cells))
    return {column: cell.strip() for column, cell in zip(header, cells, strict=True)}


def _task_columns(path: Path, header: list[str]) -> dict[str, str]:
    """{task: column} of a talkscore-format header; the `video` column and a task are required."""
    if "video" not in header:
        raise LabelsError(
            f"{path} has no 'video' column (found columns: {', '.join(header)}); name the video "
            f"path column 'video', or use the THQA-NTIRE header {','.join(THQA_HEADER)}"
        )
    columns = {task: task for task in TASKS if task in header}
    if not columns:
        raise LabelsError(f"{path} has no task column: add at least one of {', '.join(TASKS)}")
    ignored = [c for c in header if c not in {"video", "group", "split", *TASKS}]
    if ignored:
        log.debug("%s: ignoring columns %s", path, ", ".join(ignored))
    return columns


def _base_dir(path: Path, videos_dir: str | Path | None) -> Path:
    """The folder that relative video paths are resolved against."""
    if videos_dir is None:
        return path.parent
    base = Path(videos_dir).expanduser()
    if not base.is_dir():
        raise LabelsError(f"videos folder {base} does not exist: give the folder of the videos")
    return base


def _video_path(path: Path, line: int, record: dict[str, str], column: str, base: Path) -> Path:
    """The absolute, normalised path of one row's video (symlinks are not followed)."""
    cell = record.get(column, "")
    if not cell:
        raise LabelsError(f"{path} row {line} has no video path: fill the {column} column")
    return Path(os.path.abspath(base / Path(cell).expanduser()))


def _check_duplicates(path: Path, videos: list[Path], lines: list[int]) -> None:
    """Raise when a video is listed on more than one row."""
    first: dict[Path, int] = {}
    repeats = []
    for video, line in zip(videos, lines, strict=True):
        if video in first:
            repeats.append(f"{video} on rows {first[video]} and {line}")
        first.setdefault(video, line)
    if repeats:
        raise LabelsError(f"{path} lists a video twice: {_few(repeats)}; keep one row per video")


def _parse_label(cell: str) -> float | None:
    """The label of a cell (NaN when missing), or None when it is not a finite number."""
    if cell == "" or cell.lower() == "nan":
        return float("nan")
    try:
        value = float(cell)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return float("nan") if value == MISSING_LABEL else value


def _labels(path: Path, records: list[_Record], columns: dict[str, str]) -> np.ndarray:
    """[N, len(TASKS)] labels, NaN where missing; raises naming the first non-numeric cells."""
    labels = np.full((len(records), len(TASKS)), np.nan)
    problems = []
    for i, (line, record) in enumerate(records):
        for task, column in columns.items():
            value = _parse_label(record.get(column, ""))
            if value is None:
                problems.append(f"row {line} column {column}: {record[column]!r}")
            else:
                labels[i, TASKS.index(task)] = value
    if problems:
        raise LabelsError(
            f"{path} has non-numeric labels: {_few(problems)}; write a number, or leave the cell "
            "empty (or nan, -1) for no label"
        )
    return labels


def _splits(path: Path, records: list[_Record]) -> list[str | None]:
    """The split of each row (None when empty); raises naming the first invalid values."""
    splits = [record.get("split", "").lower() or None for _, record in records]
    problems = [
        f"row {line}: {record['split']!r}"
        for (line, record), split in zip(records, splits, strict=True)
        if split is not None and split not in SPLITS
    ]
    if problems:
        raise LabelsError(
            f"{path} has invalid split values: {_few(problems)}; use {', '.join(SPLITS)} or "
            "leave the cell empty"
        )
    return splits


def _score_range(
    path: Path, labels: np.ndarray, option: tuple[float, float] | None
) -> tuple[float, float]:
    """The given range (checked against the labels), else (min, max) of the labels."""
    finite = labels[np.isfinite(labels)]
    if finite.size == 0:
        raise LabelsError(f"{path} has no labels: every task cell is empty, nan or -1")
    low, high = float(finite.min()), float(finite.max())
    if option is None:
        if low == high:
            raise LabelsError(
                f"every label in {path} is {low:g}, so no score range can be inferred: "
                "pass score_range=(low, high)"
            )
        return low, high
    given = (float(option[0]), float(option[1]))
    if not (math.isfinite(given[0]) and math.isfinite(given[1]) and given[0] < given[1]):
        raise LabelsError(f"score_range {option} is not a range: give (low, high) with low < high")
    if low < given[0] or high > given[1]:
        raise LabelsError(
            f"labels in {path} span {low:g}..{high:g}, outside score_range {given}: "
            "pass the range the labels use"
        )
    return given


def _column_split(rows: list[LabelledVideo]) -> dict[str, list[LabelledVideo]]:
    """The split column's sides; every row needs a split and no group may be on two sides."""
    unassigned = [str(row.video) for row in rows if row.split is None]
    if unassigned:
        raise LabelsError(
            f"{len(unassigned)} rows have no split while others do ({_few(unassigned)}): "
            "fill the split column on every row or leave it empty everywhere"
        )
    sides_of: dict[str, set[str]] = {}
    for row in rows:
        if row.group is not None:
            sides_of.setdefault(row.group, set()).add(row.split)
    shared = [f"{g} ({', '.join(sorted(s))})" for g, s in sides_of.items() if len(s) > 1]
    if shared:
        raise LabelsError(
            f"the split column puts a group on several sides: {_few(shared)}; "
            "keep each group's rows on one side"
        )
    return {side: [row for row in rows if row.split == side] for side in SPLITS}


def _group_split(
    rows: list[LabelledVideo], val_fraction: float, test_fraction: float, seed: int
) -> dict[str, list[LabelledVideo]]:
    """A seeded random split of whole groups; rows keep their file order within a side."""
    if not (0 < val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise LabelsError(
            f"val_fraction {val_fraction} and test_fraction {test_fraction} must satisfy "
            "0 < val_fraction, 0 <= test_fraction and val_fraction + test_fraction < 1"
        )
    keys = sorted({_group_key(row) for row in rows})
    order = np.random.default_rng(seed).permutation(len(keys))
    targets = {"test": _target(test_fraction, len(rows)), "val": _target(val_fraction, len(rows))}
    sizes = Counter(_group_key(row) for row in rows)
    counts = dict.fromkeys(SPLITS, 0)
    side_of = {}
    for i in order:
        side = next((s for s in ("test", "val") if counts[s] < targets[s]), "train")
        side_of[keys[i]] = side
        counts[side] += sizes[keys[i]]
    return {side: [row for row in rows if side_of[_group_key(row)] == side] for side in SPLITS}


def _group_key(row: LabelledVideo) -> tuple[int, str]:
    """A row's group; a row without group is a group of its own."""
    return (0, row.group) if row.group is not None else (1, str(row.video))


def _target(fraction: float, n: int) -> int:
    """Rows a side should hold: at least one when its fraction is positive."""
    return max(1, round(fraction * n)) if fraction > 0 else 0


def _check_mapping(mapping: dict[str, str]) -> dict[str, str]:
    """The dimension -> task mapping, checked against TASKS."""
    unknown = {d: t for d, t in mapping.items() if t not in TASKS}
    if unknown:
        raise LabelsError(
            f"dimension_tasks maps to unknown tasks {unknown}; use tasks from {', '.join(TASKS)}"
        )
    return dict(mapping)


def _preference(
    path: Path, line: int, record: dict[str, str], base: Path, mapping: dict[str, str]
) -> PreferencePair:
    """One preference row as a pair."""
    dimension = record["dimension"]
    if dimension not in mapping:
        raise LabelsError(
            f"{path} row {line}: unknown dimension {dimension!r}; dimensions map to tasks as "
            f"{mapping}: pass dimension_tasks to add it"
        )
    votes = [_votes(path, line, record, column) for column in ("votes_a", "votes_b")]
    if sum(votes) <= 0:
        raise LabelsError(f"{path} row {line} has no votes: votes_a + votes_b must be positive")
    return PreferencePair(
        dimension=dimension,
        task=mapping[dimension],
        video_a=_video_path(path, line, record, "video_a", base),
        video_b=_video_path(path, line, record, "video_b", base),
        votes_a=votes[0],
        votes_b=votes[1],
        source=record.get("source") or None,
    )


def _votes(path: Path, line: int, record: dict[str, str], column: str) -> float:
    """A vote count: a finite, non-negative number."""
    cell = record.get(column, "")
    try:
        value = float(cell)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value >= 0):
        raise LabelsError(
            f"{path} row {line} column {column}: {cell!r} is not a vote count; "
            "write a non-negative number"
        )
    return value


def _few(items: list[str]) -> str:
    """The first few items joined by '; ', with how many more there are."""
    shown = "; ".join(items[:_SHOWN])
    return f"{shown} (and {len(items) - _SHOWN} more)" if len(items) > _SHOWN else shown
