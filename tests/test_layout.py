"""The package's architecture, as rules that a change can break: the scoring path never loads
the training wing, extractors do not reach into the models, the top level stays small, and
every import is a declared dependency (and every dependency is used or says why it is there)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import tomllib

PACKAGE = Path(__file__).resolve().parents[1] / "talkscore"
PYPROJECT = PACKAGE.parent / "pyproject.toml"
SCORING_PATH = (
    "talkscore.scoring",
    "talkscore.batch.scores",
    "talkscore.batch.features",
    "talkscore.batch.ray_engine",
    "talkscore.report",
    "talkscore.cli",
)


def imported_modules(file: Path) -> set[str]:
    """Absolute module names imported anywhere in `file` (at the top or inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_the_scoring_path_does_not_import_the_training_wing():
    code = f"import sys, {', '.join(SCORING_PATH)}; print(sorted(sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "talkscore.scoring" in loaded
    assert "talkscore.training" not in loaded


def test_extractors_do_not_import_the_models():
    for file in (PACKAGE / "extractors").glob("*.py"):
        reaching = {m for m in imported_modules(file) if m.startswith("talkscore.models")}
        assert not reaching, f"{file.name} imports {sorted(reaching)}"


def test_the_top_level_holds_at_most_twenty_modules():
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(modules) <= 20, modules


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement string."""
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _declared() -> dict[str, str]:
    """Declared distribution (dependencies and extras) -> the comment on its line, if any."""
    text = PYPROJECT.read_text()
    project = tomllib.loads(text)["project"]
    requirements = project["dependencies"] + sum(project["optional-dependencies"].values(), [])
    comments = {}
    for requirement in requirements:
        project_lines = text[text.index("[project]") :].splitlines()
        line = next(ln for ln in project_lines if f'"{requirement}"' in ln)
        comments[_name(requirement)] = line.partition("#")[2].strip()
    return comments


def test_every_import_is_a_declared_dependency():
    declared = _declared()
    owners = packages_distributions()
    third_party = set()
    for file in PACKAGE.rglob("*.py"):
        third_party |= {m.split(".")[0] for m in imported_modules(file)}
    third_party -= set(sys.stdlib_module_names) | {"talkscore"}
    undeclared = {
        name: owners.get(name)
        for name in third_party
        if not {d.lower().replace("_", "-") for d in owners.get(name, [name])} & declared.keys()
    }
    assert not undeclared


def test_every_dependency_is_imported_or_says_why():
    owners = packages_distributions()
    imported = set()
    for file in PACKAGE.rglob("*.py"):
        for module in imported_modules(file):
            top = module.split(".")[0]
            imported |= {d.lower().replace("_", "-") for d in owners.get(top, [top])}
    tools = {"pytest", "ruff", "build"}  # the dev extra's tools are run, not imported
    unexplained = [
        name
        for name, comment in _declared().items()
        if name not in imported | tools and not comment
    ]
    assert not unexplained
