"""The `talkscore` command line: parse arguments, call the library, write results."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from talkscore import __version__
from talkscore.jsonable import jsonable

app = typer.Typer(
    name="talkscore",
    help="Multi-dimensional, explainable quality scores for talking-face videos.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> None:
    """Print `error: message` as one line on stderr and exit with `code`."""
    err_console.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    raise typer.Exit(code)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"talkscore {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version_callback,
        is_eager=True,
        help="Show the version and exit.",
    ),
) -> None:
    """Multi-dimensional, explainable quality scores for talking-face videos."""


@app.command()
def info(
    as_json: bool = typer.Option(False, "--json", help="Print the description as JSON."),
) -> None:
    """Show versions, device, optional backends and model files."""
    from talkscore.environment import describe_environment

    env = describe_environment()
    if as_json:
        typer.echo(json.dumps(env, indent=2))
        return
    for table in (_versions_table(env), _backends_table(env), _models_table(env)):
        console.print(table)
    if env["models"]["face_landmarker"]["path"] is None:
        from talkscore.paths import FACE_MODEL, cache_dir

        console.print(
            f"face_landmarker not found: set {FACE_MODEL.env} or put it in {cache_dir()}",
            markup=False,
            soft_wrap=True,
        )


def _versions_table(env: dict[str, Any]) -> Table:
    table = Table("component", "version", title="versions", title_justify="left")
    for key in ("talkscore", "python", "platform", "torch", "numpy"):
        table.add_row(key, str(env[key]))
    device = env["device"]
    table.add_row("device", f"cuda: {device['name']}" if device["cuda"] else "cpu")
    return table


def _backends_table(env: dict[str, Any]) -> Table:
    table = Table("package", "status", title="optional backends", title_justify="left")
    for name, version in env["backends"].items():
        status = f"[green]installed[/] {version}" if version else "[dim]not installed[/]"
        table.add_row(name, status)
    return table


def _models_table(env: dict[str, Any]) -> Table:
    table = Table("model", "path", "source", "checksum", title="model files", title_justify="left")
    checksum = {True: "[green]ok[/]", False: "[red]mismatch[/]", None: "-"}
    for name, model in env["models"].items():
        path = model["path"] or "[yellow]missing[/]"
        table.add_row(name, path, model["source"] or "-", checksum[model["sha256_ok"]])
    return table


models_app = typer.Typer(
    help="Model files talkscore uses (face landmarker) or measures (speaker networks).",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")


@models_app.command("fetch")
def models_fetch(
    names: list[str] = typer.Argument(None, help="Which: face (the default), lr-asd, light-asd."),
) -> None:
    """Download model files into the user cache, checked by sha256: the MediaPipe face
    landmarker, or the speaker networks LR-ASD and Light-ASD (measured, not used to score)."""
    from talkscore.paths import MODEL_FILES, fetch_model

    names = names or ["face"]
    unknown = [name for name in names if name not in MODEL_FILES]
    if unknown:
        fail(f"unknown model {unknown[0]!r}; choose from {', '.join(MODEL_FILES)}", 2)
    for name in names:
        model = MODEL_FILES[name]
        try:
            path = fetch_model(model)
        except (OSError, ValueError) as exc:
            reason = " ".join(str(exc).split())
            fail(f"could not download {model.url} ({reason}); copy {model.filename} by hand")
        console.print(f"{name} model saved to {path}", markup=False, soft_wrap=True)


DEVICE_HELP = "auto (CUDA when available), cpu or cuda; face tracking and DNSMOS stay on the CPU."
ENGINE_HELP = "local (worker processes here) or ray (a Ray cluster; pip install talkscore[ray])."
ADDRESS_HELP = "Ray: address of a running cluster (default: start one on this machine)."


def _engine(name: str, address: str | None, cpus: float, gpus: float):
    """The function that runs jobs: worker processes here, or Ray."""
    if name == "local":
        from talkscore.batch.jobs import run_jobs

        return run_jobs
    if name != "ray":
        fail(f"--engine must be local or ray, got {name!r}", code=2)
    from talkscore.batch.ray_engine import RayEngine

    return RayEngine(address, cpus, gpus)


@app.command()
def extract(
    paths: list[Path] = typer.Argument(..., help="Video files or folders of videos."),
    out: Path = typer.Option(..., "--out", help="Feature cache folder (one .npz per video)."),
    visual: str = typer.Option("quality", help="Visual backend: quality or clip."),
    audio: str = typer.Option("spectral", help="Audio backend: spectral or wav2vec2."),
    visual_model: str = typer.Option(None, help="Hub id or local folder of the CLIP weights."),
    audio_model: str = typer.Option(None, help="Hub id or local folder of the wav2vec2 weights."),
    face_model: Path = typer.Option(None, help="Path of face_landmarker.task."),
    fps: float = typer.Option(25.0, help="Frames per second of the common timeline."),
    workers: int = typer.Option(1, min=1, help="Worker processes."),
    recursive: bool = typer.Option(False, help="Look for videos in sub-folders too."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
    engine: str = typer.Option("local", help=ENGINE_HELP),
    address: str = typer.Option(None, help=ADDRESS_HELP),
    cpus_per_task: float = typer.Option(1.0, min=0.1, help="Ray: CPUs per worker."),
    gpus_per_task: float = typer.Option(0.0, min=0.0, help="Ray: GPUs per worker."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
) -> None:
    """Extract the modality streams and diagnostics of videos into a cache folder."""
    from talkscore.batch.features import extract_videos
    from talkscore.batch.jobs import find_videos
    from talkscore.extraction import ExtractionSettings

    try:
        settings = ExtractionSettings(
            fps=fps, visual=visual, audio=audio, visual_model=visual_model, audio_model=audio_model
        )
    except ValueError as exc:
        fail(str(exc), code=2)
    videos = find_videos(paths, recursive)
    if not videos:
        fail("no videos found in the given paths", code=2)
    with _progress(as_json) as progress:
        task = progress.add_task("extracting", total=len(videos))
        try:
            results = extract_videos(
                videos, out, settings, face_model, workers,
                on_result=lambda _: progress.advance(task),
                engine=_engine(engine, address, cpus_per_task, gpus_per_task),
                ship_face_model=engine == "ray", device=device,
            )  # fmt: skip
        except Exception as exc:
            from talkscore.batch.jobs import error_line

            fail(error_line(exc))
    if as_json:
        typer.echo(json.dumps([jsonable(asdict(r)) for r in results], indent=2))
    else:
        console.print(_extract_table(results))
        for r in results:
            if r.status == "failed":
                err_console.print(f"failed: {r.video}: {r.error}", markup=False, soft_wrap=True)
    if any(r.status == "failed" for r in results):
        raise typer.Exit(1)


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=quiet or not err_console.is_terminal,  # no bar in logs and pipes
        transient=True,
    )


def _extract_table(results) -> Table:
    table = Table(title="extraction")
    table.add_column("video", overflow="fold")
    for name in ("status", "frames", "face", "offset", "DNSMOS"):
        table.add_column(name)
    for r in results:
        s = r.summary or {}
        face = f"{s['face_coverage']:.0%}" if s else ""
        ovrl = s.get("dnsmos_ovrl")
        table.add_row(
            r.video,
            {"failed": "[red]failed[/]", "cached": "cached"}.get(r.status, "[green]done[/]"),
            str(s.get("frames", "")),
            face,
            f"{s['offset_frames']:+d}" if s and s["has_audio"] else "",
            f"{ovrl:.2f}" if ovrl is not None else "",
        )
    return table


MODEL_HELP = "A bundled model's name or a checkpoint folder (talkscore train); default: default."


VISUAL_HELP = "Visual backend; must be the checkpoint's (default: the checkpoint's own)."
AUDIO_HELP = "Audio backend; must be the checkpoint's (default: the checkpoint's own)."
MAX_SECONDS_HELP = "Score only the first N seconds of each video."


@app.command()
def score(
    video: Path = typer.Argument(..., help="The video to score."),
    model: Path = typer.Option(None, help=MODEL_HELP),
    face_model: Path = typer.Option(None, help="Path of face_landmarker.task."),
    visual: str = typer.Option(None, help=VISUAL_HELP),
    audio: str = typer.Option(None, help=AUDIO_HELP),
    max_seconds: float = typer.Option(None, min=0.5, help=MAX_SECONDS_HELP),
    timeline: bool = typer.Option(False, "--timeline", help="Also score sliding windows."),
    timeline_csv: Path = typer.Option(None, help="Write the timeline here as CSV."),
    window: float = typer.Option(2.0, min=0.5, help="Timeline window, seconds."),
    hop: float = typer.Option(1.0, min=0.1, help="Timeline hop, seconds."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
) -> None:
    """Score one video on lip_sync, expression, audio_quality, cross_modal and overall."""
    from talkscore.scoring import load_scorer
    from talkscore.timeline import Timeline, write_timeline_csv

    windows = Timeline(window, hop) if timeline or timeline_csv else None
    _set_threads()
    with _progress(as_json) as progress:
        bar = progress.add_task("frames", total=None)

        def follow(done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total)

        def run():
            scorer = load_scorer(model, device, face_model, visual=visual, audio=audio)
            result = scorer(video, follow, max_seconds, windows)
            if timeline_csv:
                write_timeline_csv(result.timeline, timeline_csv)
            return result

        result, error = _attempt(run)
    if error is not None:
        fail(error)
    if as_json:
        typer.echo(json.dumps(jsonable(result.to_dict()), indent=2))
        return
    from talkscore.report.readable import diagnostic_rows, score_cells

    console.print(str(video), markup=False, soft_wrap=True, style="bold")
    table = Table("task", "score", "band", "95% interval")
    for task in result.scores:
        table.add_row(task, *score_cells(result, task))
    console.print(table)
    if timeline:
        console.print(_timeline_table(result))
    details = Table("diagnostic", "value", title="diagnostics")
    for name, value in diagnostic_rows(result.diagnostics):
        details.add_row(name, value)
    console.print(details)
    if result.diagnostics.get("realism"):
        console.print(_realism_table(result.diagnostics["realism"]))
    for warning in result.warnings:
        err_console.print(f"warning: {warning}", style="yellow", markup=False, soft_wrap=True)


def _realism_table(realism: dict[str, dict]) -> Table:
    table = Table("signal", "value", "better", "real recordings below", title="against real")
    for name, entry in realism.items():
        value, share = entry["value"], entry["real_percentile"]
        table.add_row(
            name.replace("_", " "),
            "-" if value is None else f"{value:.3g}",
            {"real": "closest to real"}.get(entry["better"], entry["better"]),
            "-" if share is None else f"{100 * share:.0f}%",
        )
    return table


def _timeline_table(result) -> Table:
    tasks = list(result.scores)
    table = Table("window (s)", *tasks, "offset ms", "DNSMOS", title="timeline")
    for w in result.timeline:
        scores = [("-" if w["scores"][t] is None else f"{w['scores'][t]:.2f}") for t in tasks]
        offset, ovrl = w["sync_scorer_offset_ms"], w["dnsmos_ovrl"]
        table.add_row(
            f"{w['start_s']:.1f}-{w['end_s']:.1f}",
            *scores,
            "-" if offset is None else f"{offset:+.0f}",
            "-" if ovrl is None else f"{ovrl:.2f}",
        )
    return table


@app.command()
def report(
    video: Path = typer.Argument(..., help="The video to report on."),
    out: Path = typer.Option(Path("report.html"), help="HTML file to write."),
    png: Path = typer.Option(None, help="Also write the figures on one PNG page here."),
    model: Path = typer.Option(None, help=MODEL_HELP),
    face_model: Path = typer.Option(None, help="Path of face_landmarker.task."),
    max_seconds: float = typer.Option(None, min=0.5, help=MAX_SECONDS_HELP),
    device: str = typer.Option("auto", help=DEVICE_HELP),
) -> None:
    """Write a self-contained HTML report: scores, timeline, sync, DNSMOS, faces, diagnostics."""
    from talkscore.report import make_report
    from talkscore.scoring import load_scorer

    _set_threads()
    with _progress(False) as progress:
        progress.add_task("scoring and drawing", total=None)
        _, error = _attempt(
            lambda: make_report(
                video, out, load_scorer(model, device, face_model), png, max_seconds
            )
        )
    if error is not None:
        fail(error)
    console.print(f"report: {out}" + (f", {png}" if png else ""), markup=False, soft_wrap=True)


@app.command()
def batch(
    paths: list[Path] = typer.Argument(..., help="Video files or folders of videos."),
    csv_out: Path = typer.Option(..., "--csv", help="CSV to write (appended; resumes)."),
    model: Path = typer.Option(None, help=MODEL_HELP),
    jsonl: Path = typer.Option(None, help="Also write one JSON object per video here."),
    workers: int = typer.Option(1, min=1, help="Worker processes."),
    recursive: bool = typer.Option(False, help="Look for videos in sub-folders too."),
    face_model: Path = typer.Option(None, help="Path of face_landmarker.task."),
    max_seconds: float = typer.Option(None, min=0.5, help=MAX_SECONDS_HELP),
    report_dir: Path = typer.Option(None, help="Also write an HTML report per video here."),
    engine: str = typer.Option("local", help=ENGINE_HELP),
    address: str = typer.Option(None, help=ADDRESS_HELP),
    cpus_per_task: float = typer.Option(1.0, min=0.1, help="Ray: CPUs per worker."),
    gpus_per_task: float = typer.Option(0.0, min=0.0, help="Ray: GPUs per worker."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
) -> None:
    """Score many videos into a CSV; re-running skips videos already in it."""
    from talkscore.batch.jobs import find_videos
    from talkscore.batch.scores import ScoreJob, score_batch

    videos = find_videos(paths, recursive)
    if not videos:
        fail("no videos found in the given paths", code=2)
    job = ScoreJob(_text(model), _text(face_model), max_seconds, _text(report_dir), device=device)
    run = _engine(engine, address, cpus_per_task, gpus_per_task)
    if engine == "ray":
        job = _run_library(job.packed)  # the model travels once, through Ray's object store
    interrupted = False
    with _progress(False) as progress:
        bar = progress.add_task("scoring", total=len(videos))
        try:
            summary, error = _attempt(
                lambda: score_batch(
                    videos, csv_out, jsonl, job, workers, lambda *_: progress.advance(bar), run
                )
            )
        except KeyboardInterrupt:
            interrupted = True
    if interrupted:
        fail(f"interrupted; the rows written so far are in {csv_out}, re-run to resume", 130)
    if error is not None:
        fail(error)
    console.print(
        f"scored {summary['scored']}, skipped {summary['skipped']} already in {csv_out}, "
        f"failed {len(summary['failures'])}",
        markup=False,
        soft_wrap=True,
    )
    if report_dir:
        console.print(f"reports: {report_dir / 'index.html'}", markup=False, soft_wrap=True)
    for video, message in summary["failures"]:
        err_console.print(f"failed: {video}: {message}", markup=False, soft_wrap=True)
    if summary["failures"]:
        raise typer.Exit(1)


WORK_HELP = "Folder for the methods' score CSVs (default: talkscore_scores.csv in each folder)."


@app.command("compare")
def compare_command(
    root: Path = typer.Argument(None, help="A folder with one sub-folder of videos per method."),
    methods: list[str] = typer.Option(None, "--method", help="NAME=DIR, a method (repeatable)."),
    csv_out: Path = typer.Option(None, "--csv", help="Write the tables here as CSV."),
    markdown: Path = typer.Option(None, help="Write the tables here as Markdown."),
    latex: Path = typer.Option(None, help="Write the tables here as LaTeX (booktabs)."),
    json_out: Path = typer.Option(None, "--json", help="Write the comparison here as JSON."),
    png: Path = typer.Option(None, help="Write a figure of the means and intervals here."),
    work: Path = typer.Option(None, help=WORK_HELP),
    bands: bool = typer.Option(False, "--bands", help="Show each mean's band (poor..excellent)."),
    model: Path = typer.Option(None, help=MODEL_HELP),
    face_model: Path = typer.Option(None, help="Path of face_landmarker.task."),
    max_seconds: float = typer.Option(None, min=0.5, help=MAX_SECONDS_HELP),
    workers: int = typer.Option(1, min=1, help="Worker processes."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
) -> None:
    """Compare methods on the same clips: means with bootstrap intervals, paired tests."""
    from talkscore.batch.compare import compare_methods, find_methods, score_csv
    from talkscore.batch.scores import ScoreJob

    found = _run_library(lambda: find_methods(root, methods or (), work), code=2)
    job = ScoreJob(_text(model), _text(face_model), max_seconds, device=device)
    total = sum(len(m.videos) for m in found)
    scored_now: list[str] = []
    interrupted = False
    with _progress(False) as progress:
        bar = progress.add_task("scoring", total=total)

        def on_row(video: str, _: str | None) -> None:
            scored_now.append(video)
            progress.advance(bar)

        try:
            comparison, error = _attempt(lambda: compare_methods(found, job, work, workers, on_row))
        except KeyboardInterrupt:
            interrupted = True
    if interrupted:
        fail("interrupted; the scores so far are kept in the methods' CSVs, re-run to resume", 130)
    if error is not None:
        fail(error)
    written = _run_library(lambda: comparison.save(csv_out, markdown, latex, json_out, png, bands))
    for table in comparison.rich_tables(bands):
        console.print(table)
    csvs = ", ".join(str(score_csv(m, work)) for m in found)
    console.print(
        f"scored {len(scored_now)} videos now, reused {total - len(scored_now)} from {csvs}",
        markup=False,
        soft_wrap=True,
    )
    if written:
        console.print(f"wrote {', '.join(map(str, written))}", markup=False, soft_wrap=True)
    for line in comparison.gaps():
        err_console.print(f"warning: {line}", style="yellow", markup=False, soft_wrap=True)


@app.command()
def train(
    labels: Path = typer.Option(None, help="Labels CSV (talkscore columns or THQA `Video,Score`)."),
    videos: Path = typer.Option(None, help="Folder the CSV's video paths are relative to."),
    preferences: Path = typer.Option(None, help="Pairwise preferences CSV (ranking loss)."),
    config: Path = typer.Option(None, help="TOML file with every option; flags override it."),
    out: Path = typer.Option(Path("runs/train"), help="Run folder to write."),
    features: Path = typer.Option(None, help="Feature cache folder."),
    weighting: str = typer.Option(None, help="fixed, learned, uncertainty or gradnorm."),
    consistency: str = typer.Option(None, help="Consistency mode: none, std, corr or cov."),
    consistency_lambda: float = typer.Option(None, help="Weight of the consistency loss."),
    epochs: int = typer.Option(None, help="Training epochs."),
    batch_size: int = typer.Option(None, help="Videos per step."),
    lr: float = typer.Option(None, help="Peak learning rate."),
    seed: int = typer.Option(None, help="Seed for splits, initialisation and shuffling."),
    device: str = typer.Option(None, help="auto (CUDA when available), cpu or cuda."),
    visual: str = typer.Option(None, help="Visual backend: quality or clip."),
    audio: str = typer.Option(None, help="Audio backend: spectral or wav2vec2."),
    face_model: Path = typer.Option(None, help="Path of face_landmarker.task."),
    workers: int = typer.Option(None, help="Extraction worker processes."),
) -> None:
    """Train a model on labelled videos (and preferences); writes checkpoint, logs and plots."""
    from talkscore.training.workflow import load_run_config, train_from_labels

    overrides = {
        "data": {
            "labels": _text(labels),
            "videos": _text(videos),
            "preferences": _text(preferences),
            "features": _text(features),
            "face_model": _text(face_model),
            "workers": workers,
        },
        "extraction": {"visual": visual, "audio": audio},
        "training": {
            "weighting": weighting,
            "consistency": consistency,
            "consistency_lambda": consistency_lambda,
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "seed": seed,
            "device": device,
        },
    }
    run_config = _run_library(lambda: load_run_config(config, overrides), code=2)
    _set_threads(training=True)
    with _progress(False) as progress:
        bars: dict[str, Any] = {}

        def on_stage(stage: str, done: int, total: int) -> None:
            if stage not in bars:
                bars[stage] = progress.add_task(stage, total=total)
            progress.update(bars[stage], completed=done)

        epochs_bar = progress.add_task("training", total=run_config.training.epochs)

        def on_epoch(record: dict) -> None:
            srcc = [m["srcc"] for m in record.get("val", {}).values()]
            shown = f"val SRCC {np.nanmean(srcc):.3f}" if srcc else f"loss {record['loss']:.3f}"
            progress.update(epochs_bar, completed=record["epoch"], description=f"training, {shown}")

        result, error = _attempt(lambda: train_from_labels(run_config, out, on_stage, on_epoch))
    if error is not None:  # reported once the progress display is gone
        fail(error)
    console.print(_metrics_table(result["val"], "validation (best epoch)"))
    if result["test"]:
        console.print(_metrics_table(result["test"], "test"))
    console.print(f"checkpoint: {result['checkpoint']}", markup=False, soft_wrap=True)


@app.command()
def evaluate(
    model: Path = typer.Option(..., help="A bundled model's name or a checkpoint folder."),
    labels: Path = typer.Option(None, help="Labels CSV."),
    videos: Path = typer.Option(None, help="Folder the CSV's video paths are relative to."),
    preferences: Path = typer.Option(None, help="Pairwise preferences CSV."),
    features: Path = typer.Option(None, help="Feature cache folder."),
    face_model: Path = typer.Option(None, help="Path of face_landmarker.task."),
    workers: int = typer.Option(1, min=1, help="Extraction worker processes."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
) -> None:
    """Compare a model's scores with labels (PLCC, SRCC, ...) and with human preferences."""
    from talkscore.training.workflow import DataConfig, evaluate_model

    data = DataConfig(
        labels=_text(labels),
        videos=_text(videos),
        preferences=_text(preferences),
        features=_text(features),
        face_model=_text(face_model),
        workers=workers,
    )
    _set_threads()
    with _progress(as_json) as progress:
        bar = progress.add_task("features", total=None)

        def on_stage(stage: str, done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total)

        report, error = _attempt(lambda: evaluate_model(model, data, on_stage, device))
    if error is not None:
        fail(error)
    if as_json:
        typer.echo(json.dumps(jsonable(report), indent=2))
        return
    if "tasks" in report:
        console.print(_metrics_table(report["tasks"], "agreement with labels"))
    if "preferences" in report:
        table = Table("dimension", "task", "clear pairs", "agreement", title="preferences")
        for dimension, row in report["preferences"].items():
            table.add_row(dimension, row["task"], str(row["pairs"]), f"{row['agreement']:.3f}")
        console.print(table)


@app.command("sync-fix")
def sync_fix(
    video: Path = typer.Argument(..., help="The video whose audio to move."),
    out: Path = typer.Option(..., "--out", help="Fixed video to write (.mp4, .mov, .m4v, .mkv)."),
    offset_ms: float = typer.Option(
        None, help="Offset to undo, ms (> 0: audio leads); default: the measured one."
    ),
    force: bool = typer.Option(False, "--force", help="Act on an uncertain measured offset too."),
    face_model: Path = typer.Option(None, help="Path of face_landmarker.task."),
    max_seconds: float = typer.Option(None, min=0.5, help="Measure on the first N seconds only."),
    as_json: bool = typer.Option(False, "--json", help="Print what was done as one JSON object."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
) -> None:
    """Move a video's audio to undo its audio-visual offset; the video is copied as it is."""
    from talkscore.scoring import load_scorer
    from talkscore.sync.repair import fix_sync

    _set_threads()
    with _progress(as_json) as progress:
        progress.add_task("measuring the offset" if offset_ms is None else "writing", total=None)

        def run() -> dict[str, Any]:
            scorer = None if offset_ms is not None else load_scorer(None, device, face_model)
            return fix_sync(video, out, offset_ms, force, scorer, max_seconds)

        done, error = _attempt(run)
    if error is not None:
        fail(error)
    if as_json:
        typer.echo(json.dumps(jsonable(done), indent=2))
        return
    measured, applied, audio = done["measured"], done["applied_ms"], done["audio"]
    lines = [
        f"offset: {applied:+.0f} ms given (not measured)"
        if measured is None
        else f"measured: offset {measured['offset_ms']:+.0f} ms (> 0: audio leads), confidence "
        f"{measured['confidence']:.3f}, verdict {measured['verdict']}",
        f"applied: audio moved {abs(applied):.0f} ms {'later' if applied >= 0 else 'earlier'}",
        f"wrote {out}: video copied ({done['video_packets']} packets), audio re-encoded "
        f"({audio['codec']}, {audio['sample_rate']} Hz, {audio['layout']})",
    ]
    for line in lines:
        console.print(line, markup=False, soft_wrap=True, highlight=False)


@app.command("select")
def select_command(
    scores_csv: Path = typer.Argument(..., help="A scores CSV written by talkscore batch --csv."),
    max_abs_offset_ms: float = typer.Option(None, help="Keep |sync_scorer_offset_ms| <= this."),
    minimum: list[str] = typer.Option(None, "--min", help="TASK=V: keep TASK >= V (repeatable)."),
    maximum: list[str] = typer.Option(None, "--max", help="TASK=V: keep TASK <= V (repeatable)."),
    verdicts: list[str] = typer.Option(
        None, "--verdict", help="Keep this sync_verdict (repeatable: any of them)."
    ),
) -> None:
    """Print the videos of a batch CSV whose ok rows pass every condition, one per line."""
    from talkscore.batch.select import conditions, select_videos

    selection = _run_library(
        lambda: select_videos(
            scores_csv, conditions(minimum or (), maximum or (), max_abs_offset_ms, verdicts or ())
        ),
        code=2,
    )
    for video in selection.videos:
        typer.echo(video)
    err_console.print(selection.summary(), markup=False, soft_wrap=True, highlight=False)


def _set_threads(training: bool = False) -> None:
    """Torch's thread count for this command (see talkscore.runtime.configure_threads)."""
    from talkscore.runtime import configure_threads

    configure_threads(training=training)


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _attempt(call) -> tuple[Any, str | None]:
    """(result, None), or (None, one-line message) when the call raises."""
    from talkscore.errors import TalkscoreError

    try:
        return call(), None
    except (TalkscoreError, ValueError, OSError) as exc:
        return None, " ".join(str(exc).split())
    except Exception as exc:  # a bug, not bad input: still one line, with where to look
        return None, f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())}"


def _run_library(call, code: int = 1):
    """Run a library call; a user error becomes one `error:` line and exit `code`."""
    result, error = _attempt(call)
    if error is not None:
        fail(error, code=code)
    return result


def _metrics_table(metrics: dict[str, dict], title: str) -> Table:
    table = Table("task", "n", "PLCC", "SRCC", "KRCC", "RMSE", "MAE", title=title)
    for task, m in metrics.items():
        values = [f"{m[k]:.3f}" for k in ("plcc", "srcc", "krcc", "rmse", "mae")]
        table.add_row(task, str(m["n"]), *values)
    return table
