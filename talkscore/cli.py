"""The `talkscore` command line: parse arguments, call the library, write results."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from talkscore import __version__

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

#: Commands that are planned but not built yet: name -> what they will do.
UNBUILT: dict[str, str] = {
    "score": "scoring a video with the bundled model",
    "batch": "scoring many videos into one table",
    "extract": "extracting per-frame modality features",
    "train": "training a model on extracted features",
    "evaluate": "comparing model scores with human labels",
}


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
        from talkscore.paths import FACE_MODEL_ENV, cache_dir

        console.print(
            f"face_landmarker not found: set {FACE_MODEL_ENV} or put it in {cache_dir()}",
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


def _add_unbuilt(name: str, planned: str) -> None:
    """Register a placeholder command that accepts anything and exits with code 2."""

    def command(ctx: typer.Context) -> None:
        fail(f"talkscore {name}: not built yet (planned: {planned})", code=2)

    app.command(
        name,
        help=f"Not built yet (planned: {planned}).",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        rich_help_panel="Planned",
    )(command)


for _name, _planned in UNBUILT.items():
    _add_unbuilt(_name, _planned)
