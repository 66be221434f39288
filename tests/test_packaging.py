"""The distributions: `python -m build` makes a wheel and an sdist; the wheel carries the bundled
model, the sync scorer and their licences; installed into a fresh venv outside the checkout, it
scores a shared clip offline."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import site
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLIP = "real/sadtalker_ref_WDA_KatieHill_000.mp4"
TASKS = ("lip_sync", "expression", "audio_quality", "cross_modal", "overall")
SUBPACKAGES = ("extractors", "models", "sync", "training", "batch", "report")
#: bundled files that must reach users, relative to the package
ASSETS = (
    "assets/LICENSE",
    "assets/sync_scorer.safetensors",
    "assets/sync_scorer.json",
    "assets/default_model/model.safetensors",
    "assets/default_model/reducer.safetensors",
    "assets/default_model/talkscore.json",
    "assets/default_model/MODEL_CARD.md",
)


def _run(args, *, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} exited {result.returncode}\n"
        f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    )
    return result


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _clean_copy(dest: Path) -> Path:
    """The checkout's files as a fresh clone would have them, plus files not yet committed (git's
    tracked and untracked-but-not-ignored files). Building in the checkout itself would let a
    stale talkscore.egg-info/SOURCES.txt there put files into the sdist that the pyproject no
    longer asks for, hiding a packaging mistake."""
    git = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    listed = (
        subprocess.run(git, cwd=ROOT, capture_output=True, timeout=60)
        if shutil.which("git")
        else None
    )
    if listed is not None and listed.returncode == 0:
        for name in filter(None, listed.stdout.decode().split("\0")):
            source = ROOT / name
            if source.is_file():  # tracked files deleted in the work tree are gone
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, dest / name)
    else:  # not a git checkout (an unpacked sdist, say)
        ignored = ("*.egg-info", "build", "dist", "__pycache__", ".*", "runs")
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(*ignored), dirs_exist_ok=True)
    return dest


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict[str, Path]:
    """Wheel and sdist of the checkout, built once (sdist first, the wheel from the sdist)."""
    source = _clean_copy(tmp_path_factory.mktemp("source"))
    out = tmp_path_factory.mktemp("dist")
    # --no-isolation: offline and quick; build still checks [build-system] requires against this
    # environment (the dev extra brings a new enough setuptools)
    _run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
        cwd=source,
        timeout=300,
    )
    wheels = sorted(out.glob("talkscore-*-py3-none-any.whl"))
    sdists = sorted(out.glob("talkscore-*.tar.gz"))
    assert len(wheels) == 1, f"expected one pure-Python wheel, got {sorted(out.iterdir())}"
    assert len(sdists) == 1, f"expected one sdist, got {sorted(out.iterdir())}"
    return {"wheel": wheels[0], "sdist": sdists[0]}


def test_wheel_carries_code_models_and_licences(dist):
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        names = set(wheel.namelist())
        version = dist["wheel"].name.split("-")[1]
        info = f"talkscore-{version}.dist-info"

        # only the package and its metadata: no tests/, examples/, benchmarks/, caches
        assert {name.split("/")[0] for name in names} == {"talkscore", info}
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]

        # every module of the checkout, every subpackage
        source = {
            p.relative_to(ROOT).as_posix()
            for p in (ROOT / "talkscore").rglob("*.py")
            if "__pycache__" not in p.parts
        }
        assert source - names == set(), "modules missing from the wheel"
        for sub in SUBPACKAGES:
            assert f"talkscore/{sub}/__init__.py" in names

        # the bundled weights, byte for byte, and their licence as package data
        for asset in ASSETS:
            member = f"talkscore/{asset}"
            assert member in names, f"{member} missing from the wheel"
            expected = (ROOT / "talkscore" / asset).read_bytes()
            assert _sha256(wheel.read(member)) == _sha256(expected), f"{member} differs"

        # the project's licence and the weights' licence in the metadata (PEP 639)
        licence = wheel.read(f"{info}/licenses/LICENSE").decode()
        assert "MIT License" in licence
        assert licence == (ROOT / "LICENSE").read_text()
        assert f"{info}/licenses/talkscore/assets/LICENSE" in names
        metadata = wheel.read(f"{info}/METADATA").decode()
        assert "License-Expression: MIT" in metadata.splitlines()
        assert "License-File: LICENSE" in metadata.splitlines()
        assert "talkscore = talkscore.cli:app" in wheel.read(f"{info}/entry_points.txt").decode()

    assets_licence = (ROOT / "talkscore/assets/LICENSE").read_text()
    assert "MIT" in assets_licence
    for asset in ASSETS[1:]:
        assert Path(asset).name in assets_licence, f"the assets' licence does not name {asset}"


def test_sdist_rebuilds_the_same_package(dist):
    with tarfile.open(dist["sdist"]) as sdist:
        top = dist["sdist"].name.removesuffix(".tar.gz")
        names = set(sdist.getnames())
    for path in ("LICENSE", "pyproject.toml", "README.md", *(f"talkscore/{a}" for a in ASSETS)):
        assert f"{top}/{path}" in names, f"{path} missing from the sdist"


@pytest.fixture(scope="module")
def venv(dist, tmp_path_factory) -> Path:
    """A fresh venv outside the checkout with the wheel installed; torch, mediapipe and the other
    dependencies come from this environment's site-packages, so nothing is downloaded."""
    folder = tmp_path_factory.mktemp("venv") / "env"
    assert not folder.resolve().is_relative_to(ROOT)
    _run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(folder)],
        timeout=120,
    )
    python = folder / "bin" / "python"
    if sys.prefix != sys.base_prefix:
        # this interpreter is itself a venv: --system-site-packages would reach only the base
        # interpreter's packages, so chain this venv's site-packages after the new venv's own
        purelib = _run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], timeout=60
        ).stdout.strip()
        parents = [p for p in site.getsitepackages() if Path(p).is_dir()]
        (Path(purelib) / "_talkscore_test_parent.pth").write_text(
            f"import site; [site.addsitedir(p) for p in {parents!r}]\n"
        )
    # pip comes from the outer environment; --ignore-installed: the checkout's editable install
    # is visible through the system site-packages and must not stop the install
    _run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--ignore-installed",
            "--disable-pip-version-check",
            str(dist["wheel"]),
        ],
        timeout=180,
    )
    return folder


def _offline_env(face_model: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(
        HF_HUB_OFFLINE="1",
        TALKSCORE_FACE_MODEL=str(face_model),
        TALKSCORE_CACHE=str(cache),  # empty: nothing may come from a user's cache
        PYTHONNOUSERSITE="1",
    )
    return env


IMPORT_CHECK = """
import importlib, json, sys
import talkscore, talkscore.cli
for sub in {subs!r}:
    importlib.import_module("talkscore." + sub)
print(json.dumps({{name: getattr(m, "__file__", None) for name, m in sys.modules.items()
                  if name == "talkscore" or name.startswith("talkscore.")}}))
"""


def test_installed_wheel_scores_a_clip_offline(venv, dist, clips_dir, face_model, tmp_path):
    clip = clips_dir / CLIP
    if not clip.is_file():
        pytest.skip(f"shared clip {clip} not found (set TALKSCORE_DATA)")
    outside = tmp_path / "work"  # run from outside the checkout: no talkscore/ under the cwd
    outside.mkdir()
    (tmp_path / "cache").mkdir()
    env = _offline_env(face_model, tmp_path / "cache")
    version = dist["wheel"].name.split("-")[1]
    venv_root = venv.resolve()

    # the venv's own copy wins over the checkout's editable install
    found = _run(
        [venv / "bin" / "python", "-c", IMPORT_CHECK.format(subs=SUBPACKAGES)],
        cwd=outside,
        env=env,
        timeout=120,
    )
    modules = json.loads(found.stdout.strip().splitlines()[-1])
    assert {"talkscore", "talkscore.cli", *(f"talkscore.{s}" for s in SUBPACKAGES)} <= set(modules)
    for name, file in modules.items():
        assert file is not None, f"{name} has no file (namespace package?)"
        path = Path(file).resolve()
        assert path.is_relative_to(venv_root), f"{name} imported from {path}, not the venv"
        assert not path.is_relative_to(ROOT)

    script = venv / "bin" / "talkscore"
    assert script.read_text().splitlines()[0] == f"#!{venv / 'bin' / 'python'}"
    shown = _run([script, "--version"], cwd=outside, env=env, timeout=120)
    assert version in shown.stdout

    scored = _run([script, "score", str(clip), "--json"], cwd=outside, env=env, timeout=400)
    report = json.loads(scored.stdout)
    assert report["model"] == "default"
    assert report["versions"]["talkscore"] == version
    assert set(report["scores"]) == set(TASKS)
    for task, value in report["scores"].items():
        assert isinstance(value, float) and math.isfinite(value), task
        assert 1.0 <= value <= 5.0, (task, value)
    assert report["unscored"] == {}
    assert report["diagnostics"]["has_audio"] is True
    assert report["diagnostics"]["face_coverage"] > 0.9
    assert list((tmp_path / "cache").iterdir()) == [], "scoring wrote to (or fetched into) cache"
