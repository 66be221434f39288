"""Compare methods (talking-face generators) on the same test clips: per method and task the
mean score with a bootstrap interval over clips, per pair of methods the share of clips each
wins and a paired Wilcoxon signed-rank test; as Markdown, LaTeX, CSV, JSON, a figure.

Clips are matched across methods by file name without its extension. Every method's videos are
scored once into its own batch CSV (`talkscore.batch.scores.score_batch`), which later runs
reuse and resume. `compare` itself is pure statistics over scores, testable without videos.
"""

from __future__ import annotations

import csv
import json
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from rich.markup import escape
from rich.table import Table
from scipy.stats import wilcoxon

from talkscore.bands import band
from talkscore.batch.jobs import Make, find_videos, run_jobs
from talkscore.batch.scores import ScoreJob, neutralise, score_batch
from talkscore.checkpoint import model_label, read_metadata
from talkscore.errors import TalkscoreError
from talkscore.files import atomic_write
from talkscore.jsonable import jsonable
from talkscore.tasks import OVERALL_TASK, SCORE_MAX, SCORE_MIN, TASKS

#: Each method's batch CSV, in its folder (unless a work folder is given).
CSV_NAME = "talkscore_scores.csv"
#: Bootstrap resamples of the clips, the generator's seed and the interval's coverage.
RESAMPLES = 2000
SEED = 0
LEVEL = 0.95
#: Fewest shared clips for a p-value: with 5 even a method better on every clip has p = 0.0625.
MIN_PAIRS = 6
#: The CSV's columns (`Comparison.write_csv`): one row per method and task (`versus` empty),
#: then one per pair of methods and task.
CSV_COLUMNS = (
    "method", "versus", "task", "n", "mean", "ci_low", "ci_high", "band", "scored", "failed",
    "missing", "win_share", "mean_difference", "p_value",
)  # fmt: skip

Scores = dict[str, float | None]  # task -> score (None: the clip cannot carry the task)


# -- statistics -----------------------------------------------------------------------------------


def bootstrap_interval(
    values: Sequence[float], resamples: int = RESAMPLES, seed: int = SEED, level: float = LEVEL
) -> tuple[float, float] | None:
    """The percentile bootstrap interval of the mean of `values` (resampling them with
    replacement, seeded); None for no values."""
    x = np.asarray(values, dtype=float)
    if not len(x):
        return None
    rng = np.random.default_rng(seed)
    block = max(1, 2_000_000 // len(x))  # bounded memory for large sets
    means = np.concatenate([
        x[rng.integers(0, len(x), (min(block, resamples - start), len(x)))].mean(axis=1)
        for start in range(0, resamples, block)
    ])  # fmt: skip
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class PairStats:
    """Method a against method b on one task, over the clips both scored."""

    n: int
    a_wins: float | None  # share of the clips where a scores higher (a tie counts one half)
    mean_difference: float | None  # mean of a - b
    p_value: float | None  # two-sided Wilcoxon signed-rank; None: too few clips, no difference


def paired_comparison(a: Sequence[float], b: Sequence[float]) -> PairStats:
    """Win share, mean difference and Wilcoxon p-value of paired scores `a[i]`, `b[i]`."""
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if not len(diff):
        return PairStats(0, None, None, None)
    wins = float(np.mean(diff > 0) + 0.5 * np.mean(diff == 0))
    p_value = None
    if len(diff) >= MIN_PAIRS and np.any(diff != 0):
        with warnings.catch_warnings():  # older scipy warns when zeros or ties make it
            warnings.simplefilter("ignore")  # switch to the normal approximation
            p_value = float(wilcoxon(diff).pvalue)
    return PairStats(len(diff), wins, float(diff.mean()), p_value)


# -- the result -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MethodScores:
    """What one method's clips scored: clip name -> scores, and clip name -> why it failed."""

    name: str
    scores: dict[str, Scores]
    failed: dict[str, str]


@dataclass(frozen=True)
class TaskSummary:
    """One method's mean on one task, over the `n` clips with a score, and its interval."""

    n: int
    mean: float | None
    low: float | None
    high: float | None
    band: str | None


@dataclass(frozen=True)
class MethodSummary:
    """One method: how many clips scored, which failed (why), which it lacks, its means."""

    name: str
    scored: int
    failed: dict[str, str]
    missing: list[str]
    tasks: dict[str, TaskSummary]


@dataclass(frozen=True)
class PairSummary:
    """Two methods (a ranked above b) over the clips both scored (`shared`)."""

    a: str
    b: str
    shared: int
    tasks: dict[str, PairStats]


@dataclass(frozen=True)
class Comparison:
    """Methods ordered by overall mean (best first) and every pair of them."""

    methods: list[MethodSummary]
    pairs: list[PairSummary]
    score_range: tuple[float, float] = (SCORE_MIN, SCORE_MAX)
    resamples: int = RESAMPLES
    seed: int = SEED
    level: float = LEVEL

    def to_dict(self) -> dict[str, Any]:
        """The `compare --json` object (keys documented in docs/cli.md)."""
        return jsonable({
            "tasks": list(TASKS),
            "score_range": list(self.score_range),
            "bootstrap": {"resamples": self.resamples, "seed": self.seed, "level": self.level},
            "min_pairs": MIN_PAIRS,
            "methods": [asdict(m) for m in self.methods],
            "pairs": [asdict(p) for p in self.pairs],
        })  # fmt: skip

    def notes(self) -> list[str]:
        """Sentences on how to read the tables, then the `gaps`."""
        first, last = self.score_range
        lines = [
            f"Mean score per task ({first:g}..{last:g}, higher is better) with "
            f"{100 * self.level:g}% bootstrap intervals over clips ({self.resamples} resamples, "
            f"seed {self.seed}); the best mean per task in bold.",
            "Pairs: share of the clips both methods scored where the first scores higher "
            "(ties count half), and the two-sided Wilcoxon signed-rank p-value (none with fewer "
            f"than {MIN_PAIRS} shared clips or no difference).",
        ]
        return lines + self.gaps()

    def gaps(self) -> list[str]:
        """One sentence per method that lacks clips (naming them) and per clip that failed."""
        lines = []
        for m in self.methods:
            if m.missing:
                lines.append(f"{m.name} lacks {len(m.missing)} clip(s): {', '.join(m.missing)}.")
            lines += [f"{m.name} failed on {clip}: {error}" for clip, error in m.failed.items()]
        return lines

    def markdown(self, bands: bool = False) -> str:
        """Both tables and the notes as Markdown."""
        parts = [
            _markdown_table(["method", "scored", "failed", *TASKS], self._rows(_MARKDOWN, bands)),
            _markdown_table(["pair", "shared", *TASKS], self._pair_rows(_MARKDOWN)),
            "\n".join(f"- {line}" for line in self.notes()),
        ]
        return "\n\n".join(parts) + "\n"

    def latex(self, bands: bool = False) -> str:
        """Both tables as LaTeX tabulars (booktabs), the notes as comments above them."""
        tasks = [_tex(t) for t in TASKS]
        parts = [
            "% needs \\usepackage{booktabs}",
            *(f"% {line}" for line in self.notes()),
            _latex_table(["Method", "Scored", "Failed", *tasks], self._rows(_LATEX, bands), "lrr"),
            _latex_table(["Pair", "Shared", *tasks], self._pair_rows(_LATEX), "lr"),
        ]
        return "\n".join(parts) + "\n"

    def rich_tables(self, bands: bool = False) -> list[Table]:
        """Both tables for the terminal."""
        methods = Table("method", "scored", "failed", *TASKS, title="mean [95% interval]")
        for row in self._rows(_RICH, bands):
            methods.add_row(*row)
        pairs = Table("pair", "shared", *TASKS, title="first wins (Wilcoxon p)")
        for row in self._pair_rows(_RICH):
            pairs.add_row(*row)
        return [methods, pairs]

    def _rows(self, style: _Style, bands: bool) -> list[list[str]]:
        """Per method: name, scored, failed, then per task "mean [low, high]" (and the band)."""
        best = {t: max((m.tasks[t].mean for m in self.methods), key=_nan_low) for t in TASKS}
        rows = []
        for m in self.methods:
            cells = [style.name(m.name), str(m.scored), str(len(m.failed))]
            for task in TASKS:
                s = m.tasks[task]
                if s.mean is None:
                    cells.append("-")
                    continue
                mean = style.bold(f"{s.mean:.2f}") if s.mean == best[task] else f"{s.mean:.2f}"
                shown = f" {s.band}" if bands else ""
                cells.append(f"{mean} [{s.low:.2f}, {s.high:.2f}]{shown}")
            rows.append(cells)
        return rows

    def _pair_rows(self, style: _Style) -> list[list[str]]:
        """Per pair: "a vs b", shared clips, then per task "win share (p=...)"."""
        rows = []
        for p in self.pairs:
            cells = [style.name(f"{p.a} vs {p.b}"), str(p.shared)]
            for task in TASKS:
                s = p.tasks[task]
                if s.a_wins is None:
                    cells.append("-")
                    continue
                test = "" if s.p_value is None else f" (p={_p_text(s.p_value, style)})"
                cells.append(f"{100 * s.a_wins:.0f}{style.percent}{test}")
            rows.append(cells)
        return rows

    def write_csv(self, path: str | Path) -> None:
        """One row per method and task, then one per pair and task (`CSV_COLUMNS`)."""
        rows = []
        for m in self.methods:
            for task, s in m.tasks.items():
                rows.append({
                    "method": m.name, "task": task, "n": s.n, "mean": s.mean, "ci_low": s.low,
                    "ci_high": s.high, "band": s.band, "scored": m.scored,
                    "failed": len(m.failed), "missing": len(m.missing),
                })  # fmt: skip
        for p in self.pairs:
            for task, s in p.tasks.items():
                rows.append({
                    "method": p.a, "versus": p.b, "task": task, "n": s.n, "win_share": s.a_wins,
                    "mean_difference": s.mean_difference, "p_value": s.p_value,
                })  # fmt: skip

        def write(tmp: str) -> None:
            with open(tmp, "w", newline="", encoding="utf-8") as file:
                writer = csv.DictWriter(file, CSV_COLUMNS)
                writer.writeheader()
                writer.writerows({k: neutralise(v) for k, v in row.items()} for row in rows)

        atomic_write(path, write)

    def figure_png(self) -> bytes:
        """Per-task means with their intervals, one colour per method (PNG)."""
        from matplotlib.figure import Figure

        from talkscore.report.figures import png_bytes

        figure = Figure(figsize=(2 + 1.4 * len(TASKS), 3.8))
        ax = figure.subplots()
        width = 0.8 / len(self.methods)
        for i, m in enumerate(self.methods):
            x = [k - 0.4 + width * (i + 0.5) for k, t in enumerate(TASKS) if m.tasks[t].n]
            s = [m.tasks[t] for t in TASKS if m.tasks[t].n]
            errors = [[v.mean - v.low for v in s], [v.high - v.mean for v in s]]
            ax.errorbar(x, [v.mean for v in s], yerr=errors, fmt="o", capsize=4, label=m.name)
        first, last = self.score_range
        margin = 0.03 * (last - first)  # a mean at an end of the scale stays in view
        ax.set(xticks=range(len(TASKS)), ylim=(first - margin, last + margin), ylabel="mean score")
        ax.set_xticklabels(TASKS)
        ax.set_title(f"mean per task, {100 * self.level:g}% bootstrap interval over clips")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
        return png_bytes(figure)

    def save(
        self,
        csv_path: str | Path | None = None,
        markdown: str | Path | None = None,
        latex: str | Path | None = None,
        json_path: str | Path | None = None,
        png: str | Path | None = None,
        bands: bool = False,
    ) -> list[Path]:
        """Write the outputs that are given a path (folders made); returns those paths."""
        outputs: list[tuple[str | Path | None, Callable[[Path], object]]] = [
            (csv_path, self.write_csv),
            (markdown, lambda p: _write_text(p, self.markdown(bands))),
            (latex, lambda p: _write_text(p, self.latex(bands))),
            (json_path, lambda p: _write_text(p, json.dumps(self.to_dict(), indent=2) + "\n")),
            (png, lambda p: atomic_write(p, lambda tmp: Path(tmp).write_bytes(self.figure_png()))),
        ]
        written = []
        for path, write in outputs:
            if path is not None:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                write(Path(path))
                written.append(Path(path))
        return written


def compare(
    methods: Sequence[MethodScores],
    score_range: tuple[float, float] = (SCORE_MIN, SCORE_MAX),
    resamples: int = RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> Comparison:
    """The comparison of `methods` (pure statistics over their scores)."""
    clips = {c for m in methods for c in (*m.scores, *m.failed)}
    summaries = []
    for m in methods:
        tasks = {}
        for task in TASKS:
            values = [s[task] for s in m.scores.values() if s.get(task) is not None]
            mean = float(np.mean(values)) if values else None
            low, high = bootstrap_interval(values, resamples, seed, level) or (None, None)
            tasks[task] = TaskSummary(len(values), mean, low, high, band(mean, score_range))
        missing = sorted(clips - set(m.scores) - set(m.failed))
        summaries.append(MethodSummary(m.name, len(m.scores), dict(m.failed), missing, tasks))
    summaries.sort(key=lambda s: (-_nan_low(s.tasks[OVERALL_TASK].mean), s.name))
    by_name = {m.name: m for m in methods}
    pairs = [_pair(by_name[a.name], by_name[b.name]) for a, b in combinations(summaries, 2)]
    return Comparison(summaries, pairs, tuple(score_range), resamples, seed, level)


def _pair(a: MethodScores, b: MethodScores) -> PairSummary:
    shared = sorted(set(a.scores) & set(b.scores))
    tasks = {}
    for task in TASKS:
        both = [c for c in shared if None not in (a.scores[c].get(task), b.scores[c].get(task))]
        tasks[task] = paired_comparison(
            [a.scores[c][task] for c in both], [b.scores[c][task] for c in both]
        )
    return PairSummary(a.name, b.name, len(shared), tasks)


# -- methods and their videos ---------------------------------------------------------------------


@dataclass(frozen=True)
class Method:
    """A method's name, its folder and its videos (clip name -> video)."""

    name: str
    folder: Path
    videos: dict[str, Path]


def find_methods(
    root: str | Path | None = None, named: Sequence[str] = (), work: str | Path | None = None
) -> list[Method]:
    """The methods in `root`'s sub-folders (hidden ones and `work` left out) and `named`
    ("NAME=DIR" each); an error for fewer than two, a clash or a folder without videos."""
    folders: dict[str, Path] = {}
    if root is not None:
        root = Path(root)
        if not root.is_dir():
            raise TalkscoreError(f"{root} is not a folder")
        skip = Path(work).absolute() if work is not None else None
        for folder in sorted(root.iterdir()):
            if folder.is_dir() and not folder.name.startswith(".") and folder.absolute() != skip:
                folders[folder.name] = folder
    for text in named:
        name, sep, folder = text.partition("=")
        if not sep or not name or not folder or "/" in name:
            raise TalkscoreError(f"--method takes NAME=DIR (a name without '/'), got {text!r}")
        if name in folders:
            raise TalkscoreError(f"two methods are named {name!r}")
        folders[name] = Path(folder)
    if len(folders) < 2:
        found = ", ".join(folders) or "none"
        raise TalkscoreError(f"compare needs at least two methods, found {found}")
    return [_method(name, folder) for name, folder in folders.items()]


def _method(name: str, folder: Path) -> Method:
    if not folder.is_dir():
        raise TalkscoreError(f"method {name}: {folder} is not a folder")
    videos: dict[str, Path] = {}
    for video in find_videos([folder.absolute()]):
        if video.stem in videos:
            raise TalkscoreError(
                f"method {name}: two videos of clip {video.stem!r} ({videos[video.stem].name}, "
                f"{video.name}); clips are matched by name without extension"
            )
        videos[video.stem] = video
    if not videos:
        raise TalkscoreError(f"method {name}: no videos in {folder}")
    return Method(name, folder, videos)


def score_csv(method: Method, work: str | Path | None = None) -> Path:
    """Where `method`'s scores are kept: `work/NAME.csv`, else `CSV_NAME` in its folder."""
    return Path(work) / f"{method.name}.csv" if work is not None else method.folder / CSV_NAME


def compare_methods(
    methods: Sequence[Method],
    job: ScoreJob | None = None,
    work: str | Path | None = None,
    workers: int = 1,
    on_row: Callable[[str, str | None], None] | None = None,
    **statistics: Any,
) -> Comparison:
    """Score every method's videos not yet in its CSV (`score_csv`) with `job`, then compare
    them (`statistics`: `compare`'s resamples, seed, level). `on_row(video, error)` follows
    each video scored now; an error when a CSV holds another model's scores."""
    job = job or ScoreJob()
    model = job.model_name or model_label(job.checkpoint)
    config = read_metadata(job.checkpoint)["model_config"]  # a bad checkpoint fails here, early
    score_range = (config.get("score_min", SCORE_MIN), config.get("score_max", SCORE_MAX))
    engine = _Engine(job)
    scores = []
    for method in methods:
        path = score_csv(method, work)
        score_batch(list(method.videos.values()), path, None, job, workers, on_row, engine)
        scores.append(_read_scores(method, path, model))
    return compare(scores, score_range, **statistics)


def _read_scores(method: Method, path: Path, model: str) -> MethodScores:
    with path.open(newline="", encoding="utf-8") as file:
        rows = {row["video"]: row for row in csv.DictReader(file)}
    scores, failed = {}, {}
    for clip, video in method.videos.items():
        row = rows[neutralise(str(video))]
        if row["status"] != "ok":
            failed[clip] = row["error"]
            continue
        if row["model"] != neutralise(model):
            raise TalkscoreError(
                f"method {method.name}: {path} holds scores of model {row['model']!r}, not "
                f"{model!r}; delete it or use another --work folder"
            )
        scores[clip] = {t: float(row[t]) if row[t] else None for t in TASKS}
    return MethodScores(method.name, scores, failed)


class _Engine:
    """Runs each method's batch: with one worker, one scorer in this process for every method
    (loaded when a video first needs it); with more, worker processes (`run_jobs`)."""

    def __init__(self, job: ScoreJob) -> None:
        self.job = job
        self.work: Callable[[str], Any] | None = None

    def __call__(
        self, make: Make, videos: Sequence[str], workers: int, crashed: Callable[[str, str], Any]
    ) -> Iterator:
        if not videos:
            return iter(())
        if workers > 1:
            return run_jobs(make, videos, workers, crashed)
        if self.work is None:
            self.work = self.job()
        return map(self.work, videos)


# -- text -----------------------------------------------------------------------------------------


def _nan_low(value: float | None) -> float:
    return -np.inf if value is None else value


def _p_text(p: float, style: _Style) -> str:
    return f"{style.less}0.001" if p < 0.001 else f"{p:.3f}"


def _markdown_table(head: list[str], rows: list[list[str]]) -> str:
    lines = [head, [":--", *["--:"] * (len(head) - 1)], *rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


_TEX = {c: "\\" + c for c in "&%$#_{}"} | {
    "\\": r"\textbackslash{}", "~": r"\textasciitilde{}", "^": r"\^{}", "<": "$<$", ">": "$>$",
    "|": r"\textbar{}",
}  # fmt: skip


def _tex(text: str) -> str:
    """`text` as LaTeX text, its special characters escaped."""
    return "".join(_TEX.get(c, c) for c in text)


@dataclass(frozen=True)
class _Style:
    """How a table writes a bold mean, a method's name, a percent sign and "less than"."""

    bold: Callable[[str], str]
    name: Callable[[str], str]
    percent: str = "%"
    less: str = "<"


_MARKDOWN = _Style(lambda s: f"**{s}**", lambda s: s.replace("|", "\\|"))
_LATEX = _Style(lambda s: rf"\textbf{{{s}}}", _tex, r"\%", "$<$")
_RICH = _Style(lambda s: f"[bold]{s}[/bold]", escape)


def _latex_table(head: list[str], rows: list[list[str]], align: str) -> str:
    align += "c" * (len(head) - len(align))
    body = [" & ".join(row) + r" \\" for row in rows]
    return "\n".join([
        rf"\begin{{tabular}}{{{align}}}", r"\toprule", " & ".join(head) + r" \\", r"\midrule",
        *body, r"\bottomrule", r"\end{tabular}",
    ])  # fmt: skip


def _write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
