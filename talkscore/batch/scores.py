"""Score many videos into a CSV (and JSON lines): rows are written as videos finish, a re-run
skips videos already in the CSV, and one failing video never stops the rest."""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from talkscore.batch.jobs import Make, error_line, run_jobs
from talkscore.checkpoint import CHECKPOINT_FILES, checkpoint_folder, model_label
from talkscore.errors import TalkscoreError
from talkscore.extractors.face import resolve_face_model
from talkscore.files import atomic_write, unpack
from talkscore.jsonable import jsonable
from talkscore.paths import FACE_MODEL
from talkscore.report.page import report_name, write_index, write_report
from talkscore.scoring import Scorer, VideoScore, load_scorer
from talkscore.tasks import TASKS
from talkscore.timeline import Timeline

DIAGNOSTIC_COLUMNS = (
    "duration_s",
    "face_coverage",
    "has_audio",
    "av_offset_ms",
    "sync_scorer_offset_ms",
    "sync_scorer_confidence",
    "sync_verdict",
    "dnsmos_ovrl",
)
CSV_COLUMNS = (
    "video",
    "status",
    "error",
    *TASKS,
    *(f"{t}_std" for t in TASKS),
    *(f"{t}_band" for t in TASKS),
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
        row |= {f"{t}_band": b for t, b in result.bands.items()}
        row |= {k: d.get(k) for k in DIAGNOSTIC_COLUMNS}
        row["sync_verdict"] = (d.get("sync_verdict") or {}).get("verdict")
        row["dnsmos_ovrl"] = (d.get("dnsmos") or {}).get("ovrl")
        row["model"] = result.model
    return {k: neutralise(row.get(k)) for k in CSV_COLUMNS}


class _Output:
    """The CSV (and JSON lines) of one batch: locked against a second writer, tidied for a
    resume, then appended to row by row (JSON line first, CSV row second, each flushed)."""

    def __init__(self, csv_path: Path, jsonl_path: Path | None) -> None:
        self.csv_path, self.jsonl_path = csv_path, jsonl_path
        try:
            csv_path.parent.mkdir(parents=True, exist_ok=True)
            self._csv_file = csv_path.open("a+", newline="", encoding="utf-8")
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename and exc.filename != str(csv_path) else ""
            raise TalkscoreError(f"cannot write {csv_path}: {exc.strerror or exc}{where}") from exc
        try:
            fcntl.flock(self._csv_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._csv_file.close()
            raise TalkscoreError(
                f"{csv_path} is being written by another talkscore batch; wait for it to finish "
                "or write to another --csv"
            ) from None
        self._jsonl = None
        self.rows = 0
        try:
            self.done = self._tidy_csv()
            self._csv = csv.DictWriter(self._csv_file, CSV_COLUMNS)
            if self._csv_file.tell() == 0:
                self._csv.writeheader()
            if jsonl_path:
                _keep_json_lines(jsonl_path, self.done)
                self._jsonl = jsonl_path.open("a", encoding="utf-8")
        except BaseException:
            self.close()
            raise

    def _tidy_csv(self) -> set[str]:
        """Drop a last row cut short by a crash; the videos that already have a row."""
        self._csv_file.seek(0)
        text = self._csv_file.read()
        if text and not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]
            self._csv_file.truncate(len(text.encode("utf-8")))
        self._csv_file.seek(0, 2)
        rows = csv.DictReader(text.splitlines())
        if text and rows.fieldnames != list(CSV_COLUMNS):
            raise TalkscoreError(
                f"{self.csv_path} is not a CSV of this talkscore's batch (other columns); "
                "write to another --csv"
            )
        return {original_path(row["video"]) for row in rows if row.get("video")}

    def write(self, video: str, result: VideoScore | None, error: str | None) -> None:
        try:
            if self._jsonl:
                record = result.to_dict() if result else {"video": video}
                record |= {"status": "failed" if error else "ok", "error": error}
                self._jsonl.write(json.dumps(jsonable(record), allow_nan=False) + "\n")
                self._jsonl.flush()
            self._csv.writerow(csv_row(video, result, error))
            self._csv_file.flush()
        except OSError as exc:
            raise TalkscoreError(
                f"cannot write to {self.csv_path}: {exc.strerror or exc}; the {self.rows} rows "
                "written before are kept, re-run the same command to resume"
            ) from exc
        self.rows += 1

    def close(self) -> None:
        """Close both files (and release the lock), even when the disk is full."""
        for file in (self._jsonl, self._csv_file):
            if file is not None:
                with contextlib.suppress(OSError):  # a row cut short is dropped on resume
                    file.close()


def _keep_json_lines(path: Path, videos: set[str]) -> None:
    """Keep the complete JSON lines of `videos` only (the CSV says what is done), so a resumed
    batch adds no duplicates; rewritten atomically, and only when something goes."""
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if line.endswith("\n") and _json_video(line) in videos]
    if len(kept) < len(lines):
        atomic_write(path, lambda tmp: Path(tmp).write_text("".join(kept), encoding="utf-8"))


def _json_video(line: str) -> str | None:
    try:
        return json.loads(line).get("video")
    except (ValueError, AttributeError):
        return None


def original_path(cell: str) -> str:
    """Undo `neutralise` on a video path read back from the CSV."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_FORMULA_START) else cell


@dataclass(frozen=True)
class ScoreJob:
    """How each process scores a video (picklable, for worker processes)."""

    checkpoint: str | None = None  # None: the bundled model
    face_model: str | None = None
    max_seconds: float | None = None
    report_dir: str | None = None  # also write each video's HTML report here
    model_name: str | None = None  # what rows call the model (default: the checkpoint)
    device: str = "auto"  # where the model and the sync scorer run

    def __call__(self) -> Callable[[str], tuple[str, VideoScore | None, str | None]]:
        scorer = load_scorer(self.checkpoint, self.device, self.face_model, name=self.model_name)
        return partial(_score, scorer, self.max_seconds, self.report_dir)

    def packed(self) -> PackedScoreJob:
        """The same job with the checkpoint and face model inside it, as bytes (for machines
        that do not have the files: Ray puts it in its object store once)."""
        folder = checkpoint_folder(self.checkpoint)
        files = {n: (folder / n).read_bytes() for n in CHECKPOINT_FILES if (folder / n).is_file()}
        face = resolve_face_model(self.face_model).read_bytes()
        name = self.model_name or model_label(self.checkpoint)
        return PackedScoreJob(files, face, self.max_seconds, self.report_dir, name, self.device)


@dataclass(frozen=True)
class PackedScoreJob:
    """A `ScoreJob` that carries its checkpoint files and face model (see `ScoreJob.packed`)."""

    files: dict[str, bytes]
    face_model: bytes
    max_seconds: float | None
    report_dir: str | None
    model_name: str
    device: str = "auto"

    def __call__(self) -> Callable[[str], tuple[str, VideoScore | None, str | None]]:
        checkpoint = {f"checkpoint/{name}": data for name, data in self.files.items()}
        folder = unpack({**checkpoint, FACE_MODEL.filename: self.face_model})
        job = ScoreJob(
            str(folder / "checkpoint"), str(folder / FACE_MODEL.filename), self.max_seconds,
            self.report_dir, self.model_name, self.device,
        )  # fmt: skip
        return job()


def _score(
    scorer: Scorer, max_seconds: float | None, report_dir: str | None, video: str
) -> tuple[str, VideoScore | None, str | None]:
    try:
        if report_dir is None:
            return video, scorer(video, max_seconds=max_seconds), None
        features = scorer.extract(video, max_seconds=max_seconds)
        result = scorer.score_features(features, video, Timeline())
        write_report(result, features, video, Path(report_dir) / report_name(video))
        return video, result, None
    except Exception as exc:  # one bad video never stops the batch
        return video, None, error_line(exc)


def write_report_index(csv_path: str | Path, report_dir: str | Path) -> Path:
    """The index page of `report_dir`, over every row of the batch's CSV."""
    rows = []
    with open(csv_path, newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            scores = {t: float(row[t]) if row[t] else None for t in TASKS}
            rows.append({**row, **scores, "video": original_path(row["video"])})
    return write_index(rows, TASKS, report_dir)


def _crashed(video: str, message: str) -> tuple[str, None, str]:
    return video, None, message


def score_batch(
    videos: Sequence[Path],
    csv_path: str | Path,
    jsonl_path: str | Path | None = None,
    job: Make | None = None,
    workers: int = 1,
    on_row: Callable[[str, str | None], None] | None = None,
    engine: Callable[..., Iterator] = run_jobs,
) -> dict[str, Any]:
    """Score `videos` not yet in `csv_path` with `job` (a `ScoreJob`; default: the bundled
    model) on `engine` (`jobs.run_jobs` here, or a `RayEngine`); returns counts and the
    failures (video, error).

    A second batch on the same CSV is refused while this one runs. On Ctrl-C the rows written
    so far stay (KeyboardInterrupt is re-raised); re-running resumes.
    """
    output = _Output(Path(csv_path), Path(jsonl_path) if jsonl_path else None)
    failures: list[tuple[str, str]] = []
    try:
        todo = [str(v) for v in videos if str(v) not in output.done]
        for video, result, error in engine(job or ScoreJob(), todo, workers, _crashed):
            output.write(video, result, error)
            if error:
                failures.append((video, error))
            if on_row:
                on_row(video, error)
    finally:
        output.close()
    report_dir = getattr(job, "report_dir", None)
    if report_dir:
        write_report_index(csv_path, report_dir)
    skipped = len(videos) - len(todo)
    return {"scored": len(todo) - len(failures), "skipped": skipped, "failures": failures}
