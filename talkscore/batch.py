"""Score many videos into a CSV (and JSON lines): rows are written as videos finish, a re-run
skips videos already in the CSV, and one failing video never stops the rest."""

from __future__ import annotations

import csv
import json
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from talkscore.extract_batch import error_line
from talkscore.jsonable import jsonable
from talkscore.scoring import Scorer, VideoScore
from talkscore.tasks import TASKS

DIAGNOSTIC_COLUMNS = (
    "duration_s",
    "face_coverage",
    "has_audio",
    "av_offset_ms",
    "sync_scorer_offset_ms",
    "sync_scorer_confidence",
    "dnsmos_ovrl",
)
CSV_COLUMNS = (
    "video",
    "status",
    "error",
    *TASKS,
    *(f"{t}_std" for t in TASKS),
    *DIAGNOSTIC_COLUMNS,
    "model",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula, prefixed with an apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_row(video: str, result: VideoScore | None, error: str | None) -> dict[str, Any]:
    """One CSV row (neutralised) for a scored or failed video."""
    row: dict[str, Any] = {"video": video, "status": "failed" if error else "ok", "error": error}
    if result is not None:
        d = result.diagnostics
        row |= result.scores | {f"{t}_std": v for t, v in result.std.items()}
        row |= {k: d.get(k) for k in DIAGNOSTIC_COLUMNS if k != "dnsmos_ovrl"}
        row["dnsmos_ovrl"] = (d.get("dnsmos") or {}).get("ovrl")
        row["model"] = result.model
    return {k: neutralise(row.get(k)) for k in CSV_COLUMNS}


def done_videos(csv_path: Path) -> set[str]:
    """Videos that already have a row; a last line cut short by a crash is dropped first."""
    if not csv_path.is_file():
        return set()
    text = csv_path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
        csv_path.write_text(text, encoding="utf-8")
    rows = csv.DictReader(text.splitlines())
    return {_original(row["video"]) for row in rows if row.get("video")}


def _original(cell: str) -> str:
    """Undo `neutralise` on a video path read back from the CSV."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_FORMULA_START) else cell


class _Writers:
    """Appends rows to the CSV and JSON lines files, flushing each one."""

    def __init__(self, csv_path: Path, jsonl_path: Path | None) -> None:
        new = not csv_path.is_file() or csv_path.stat().st_size == 0
        self._csv_file = csv_path.open("a", newline="", encoding="utf-8")
        self._csv = csv.DictWriter(self._csv_file, CSV_COLUMNS)
        if new:
            self._csv.writeheader()
        self._jsonl = jsonl_path.open("a", encoding="utf-8") if jsonl_path else None

    def write(self, video: str, result: VideoScore | None, error: str | None) -> None:
        self._csv.writerow(csv_row(video, result, error))
        self._csv_file.flush()
        if self._jsonl:
            record = result.to_dict() if result else {"video": video}
            record |= {"status": "failed" if error else "ok", "error": error}
            self._jsonl.write(json.dumps(jsonable(record), allow_nan=False) + "\n")
            self._jsonl.flush()

    def close(self) -> None:
        self._csv_file.close()
        if self._jsonl:
            self._jsonl.close()


_WORKER: Scorer | None = None


def _init_worker(checkpoint: str | None, face_model: str | None) -> None:
    global _WORKER
    _WORKER = Scorer(checkpoint, "cpu", face_model)


def _score(scorer: Scorer, video: str) -> tuple[str, VideoScore | None, str | None]:
    try:
        return video, scorer(video), None
    except Exception as exc:  # one bad video never stops the batch
        return video, None, error_line(exc)


def _score_in_worker(video: str) -> tuple[str, VideoScore | None, str | None]:
    return _score(_WORKER, video)


def _results(
    videos: list[str], checkpoint: str | None, face_model: str | None, workers: int
) -> Iterator[tuple[str, VideoScore | None, str | None]]:
    scorer = Scorer(checkpoint, "cpu", face_model)  # setup errors surface here, once
    if workers <= 1 or len(videos) <= 1:
        yield from (_score(scorer, v) for v in videos)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(checkpoint, face_model)
    ) as pool:
        jobs = [pool.submit(_score_in_worker, v) for v in videos]
        yield from (job.result() for job in as_completed(jobs))


def score_batch(
    videos: Sequence[Path],
    checkpoint: str | Path | None,
    csv_path: str | Path,
    jsonl_path: str | Path | None = None,
    workers: int = 1,
    face_model: str | Path | None = None,
    on_row: Callable[[str, str | None], None] | None = None,
) -> dict[str, Any]:
    """Score `videos` not yet in `csv_path` with `checkpoint` (None: the bundled model);
    returns counts and the failures (video, error)."""
    csv_path = Path(csv_path)
    done = done_videos(csv_path)
    todo = [str(v) for v in videos if str(v) not in done]
    failures: list[tuple[str, str]] = []
    writers = _Writers(csv_path, Path(jsonl_path) if jsonl_path else None)
    try:
        face = str(face_model) if face_model else None
        model = str(checkpoint) if checkpoint else None
        for video, result, error in _results(todo, model, face, workers):
            writers.write(video, result, error)
            if error:
                failures.append((video, error))
            if on_row:
                on_row(video, error)
    finally:
        writers.close()
    skipped = len(videos) - len(todo)
    return {"scored": len(todo) - len(failures), "skipped": skipped, "failures": failures}
