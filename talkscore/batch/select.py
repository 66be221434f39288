"""Data curation from a batch CSV (`talkscore batch --csv`): the videos whose rows pass every
condition (score bounds, the audio-visual offset, the sync verdict).

A row passes when its status is `ok` and it meets every condition; a row whose cell a condition
needs is empty (a task the video could not carry, an offset not measured) does not pass.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from talkscore.batch.scores import DIAGNOSTIC_COLUMNS, original_path
from talkscore.errors import TalkscoreError
from talkscore.sync.perception import IN_SYNC, NOTICEABLE, OUT_OF_SYNC, UNCERTAIN
from talkscore.tasks import TASKS

#: the columns `--min` / `--max` may bound: the tasks, their std and the numeric diagnostics
NUMERIC_COLUMNS = (
    *TASKS,
    *(f"{t}_std" for t in TASKS),
    *(c for c in DIAGNOSTIC_COLUMNS if c not in ("has_audio", "sync_verdict")),
)
VERDICTS = (IN_SYNC, NOTICEABLE, OUT_OF_SYNC, UNCERTAIN)
OFFSET_COLUMN = "sync_scorer_offset_ms"


class SelectError(TalkscoreError, ValueError):
    """A condition or a scores CSV that cannot be used (the CLI exits with code 2)."""


@dataclass(frozen=True)
class Condition:
    """One test on one column of a row: `op` is `>=`, `<=`, `abs<=` (absolute value at most)
    or `in` (one of the `bound` texts)."""

    column: str
    op: str
    bound: float | tuple[str, ...]

    def __str__(self) -> str:
        if self.op == "in":
            return f"{self.column} in {'|'.join(self.bound)}"
        if self.op == "abs<=":
            return f"|{self.column}| <= {self.bound:g}"
        return f"{self.column} {self.op} {self.bound:g}"

    def passes(self, cell: str) -> bool:
        """Whether a non-empty `cell` of this column meets the condition."""
        if self.op == "in":
            return cell in self.bound
        value = float(cell)
        if self.op == "abs<=":
            return abs(value) <= self.bound
        return value >= self.bound if self.op == ">=" else value <= self.bound


def conditions(
    minimum: Iterable[str] = (),
    maximum: Iterable[str] = (),
    max_abs_offset_ms: float | None = None,
    verdicts: Sequence[str] = (),
) -> list[Condition]:
    """The conditions of `select`: `minimum` / `maximum` as `COLUMN=VALUE` texts (a task or
    another numeric column, at least / at most VALUE), the sync scorer's offset at most
    `max_abs_offset_ms` either way, the sync verdict one of `verdicts`."""
    found = [_bound(spec, ">=", "--min") for spec in minimum]
    found += [_bound(spec, "<=", "--max") for spec in maximum]
    if max_abs_offset_ms is not None:
        if not max_abs_offset_ms >= 0:
            raise SelectError(f"--max-abs-offset-ms must be >= 0, got {max_abs_offset_ms}")
        found.append(Condition(OFFSET_COLUMN, "abs<=", float(max_abs_offset_ms)))
    if verdicts:
        unknown = [v for v in verdicts if v not in VERDICTS]
        if unknown:
            raise SelectError(f"unknown --verdict {unknown[0]!r}: use {', '.join(VERDICTS)}")
        found.append(Condition("sync_verdict", "in", tuple(dict.fromkeys(verdicts))))
    return found


def _bound(spec: str, op: str, option: str) -> Condition:
    column, sep, text = spec.partition("=")
    column = column.strip()
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not sep or not math.isfinite(value):
        raise SelectError(f"{option} takes TASK=VALUE, e.g. {option} lip_sync=3.5; got {spec!r}")
    if column not in NUMERIC_COLUMNS:
        others = ", ".join(c for c in NUMERIC_COLUMNS if c not in TASKS)
        raise SelectError(
            f"unknown task {column!r} in {option} {spec}: use one of {', '.join(TASKS)} "
            f"(or a numeric column: {others})"
        )
    return Condition(column, op, value)


@dataclass
class Selection:
    """What `select_videos` found: the videos that passed and why the other rows did not."""

    videos: list[str] = field(default_factory=list)
    rows: int = 0
    status_failed: int = 0  # rows whose status is not ok (failed, or a row cut short)
    failed: dict[str, int] = field(default_factory=dict)  # condition -> ok rows failing it
    empty: dict[str, int] = field(default_factory=dict)  # condition -> of those, empty cells

    def summary(self) -> str:
        """A few lines for people: how many passed, how many failed each condition."""
        lines = [
            f"selected {len(self.videos)} of {self.rows} rows",
            f"  status not ok: {self.status_failed}",
        ]
        for condition, count in self.failed.items():
            empty = self.empty[condition]
            lines.append(f"  not {condition}: {count}" + (f" ({empty} empty)" if empty else ""))
        return "\n".join(lines)


def select_videos(csv_path: str | Path, chosen: Sequence[Condition]) -> Selection:
    """The videos of a batch CSV whose rows have status `ok` and pass every `chosen` condition
    (see `conditions`), in the CSV's order; SelectError for a file that is not a batch CSV."""
    selection = Selection(failed={str(c): 0 for c in chosen}, empty={str(c): 0 for c in chosen})
    try:
        with open(csv_path, newline="", encoding="utf-8") as file:
            rows = csv.DictReader(file)
            _check_header(csv_path, rows.fieldnames, chosen)
            for row in rows:
                try:
                    _count(selection, row, chosen)
                except ValueError as exc:  # a cell that is not a number
                    raise SelectError(
                        f"{csv_path} is not a talkscore batch CSV: line {rows.line_num}: {exc}"
                    ) from None
    except OSError as exc:
        raise SelectError(f"cannot read {csv_path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SelectError(f"{csv_path} is not a talkscore batch CSV ({exc})") from exc
    return selection


def _check_header(
    csv_path: str | Path, header: Sequence[str] | None, chosen: Sequence[Condition]
) -> None:
    needed = ["video", "status", *dict.fromkeys(c.column for c in chosen)]
    missing = [c for c in needed if c not in (header or ())]
    if missing:
        raise SelectError(
            f"{csv_path} is not a talkscore batch CSV (no column {', '.join(missing)}); "
            "write one with talkscore batch VIDEOS --csv scores.csv"
        )


def _count(selection: Selection, row: dict[str, str], chosen: Sequence[Condition]) -> None:
    """Add one row to `selection`; ValueError for a cell a bound needs that is not a number."""
    selection.rows += 1
    if _cell(row, "status") != "ok":
        selection.status_failed += 1
        return
    passed = True
    for condition in chosen:
        cell = _cell(row, condition.column)
        try:
            ok = cell != "" and condition.passes(cell)
        except ValueError:
            raise ValueError(f"column {condition.column} holds {cell!r}, not a number") from None
        if not ok:
            passed = False
            selection.failed[str(condition)] += 1
            selection.empty[str(condition)] += cell == ""
    if passed:
        selection.videos.append(_cell(row, "video"))


def _cell(row: dict, column: str) -> str:
    """A cell as written before `neutralise`, stripped; "" when absent (a row cut short)."""
    return original_path((row.get(column) or "").strip())
