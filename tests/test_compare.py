"""`talkscore compare`: the statistics on synthetic numbers, missing clips and the errors, the
CSVs reused without models (a fake job), and one end-to-end run on shared generated clips."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from talkscore.batch.compare import (
    CSV_COLUMNS,
    CSV_NAME,
    MIN_PAIRS,
    MethodScores,
    bootstrap_interval,
    compare,
    compare_methods,
    find_methods,
    paired_comparison,
)
from talkscore.batch.scores import ScoreJob
from talkscore.cli import app
from talkscore.errors import TalkscoreError
from talkscore.scoring import VideoScore
from talkscore.tasks import TASKS

runner = CliRunner()


# -- statistics -----------------------------------------------------------------------------------


def test_the_interval_holds_the_mean_narrows_with_more_clips_and_is_seeded():
    rng = np.random.default_rng(3)
    few, many = rng.normal(3.0, 0.5, 10), rng.normal(3.0, 0.5, 400)
    widths = []
    for values in (few, many):
        low, high = bootstrap_interval(values)
        assert low < np.mean(values) < high
        widths.append(high - low)
    assert widths[1] < widths[0] / 3
    assert bootstrap_interval(few) == bootstrap_interval(few)
    assert bootstrap_interval(few, seed=1) != bootstrap_interval(few)


def test_no_clips_have_no_interval_and_one_clip_a_point():
    assert bootstrap_interval([]) is None
    assert bootstrap_interval([3.2]) == (3.2, 3.2)


def test_a_method_better_on_every_clip_wins_them_all_with_a_small_p():
    rng = np.random.default_rng(0)
    b = rng.uniform(2, 4, 20)
    a = b + rng.uniform(0.1, 0.5, 20)
    better = paired_comparison(a, b)
    assert better.n == 20 and better.a_wins == 1.0 and better.p_value < 0.001
    assert better.mean_difference == pytest.approx(np.mean(a - b))
    worse = paired_comparison(b, a)
    assert worse.a_wins == 0.0 and worse.p_value == pytest.approx(better.p_value)


def test_ties_count_half_and_no_difference_has_no_p():
    same = paired_comparison([3.0] * 10, [3.0] * 10)
    assert same.a_wins == 0.5 and same.p_value is None and same.mean_difference == 0.0
    half = paired_comparison([3, 3, 4, 4, 2, 2, 5, 5], [3, 3, 3, 3, 3, 3, 3, 3])
    assert half.a_wins == pytest.approx((2 + 0.5 * 2) / 8 + 2 / 8)


def test_too_few_clips_have_a_win_share_but_no_p():
    few = paired_comparison([4.0] * (MIN_PAIRS - 1), [3.0] * (MIN_PAIRS - 1))
    assert few.a_wins == 1.0 and few.p_value is None
    assert paired_comparison([], []).a_wins is None


# -- the comparison -------------------------------------------------------------------------------


def scores(values: dict[str, float]) -> dict[str, dict[str, float | None]]:
    return {clip: dict.fromkeys(TASKS, v) for clip, v in values.items()}


@pytest.fixture
def three_methods() -> list[MethodScores]:
    """good beats plain by 0.5 on 8 clips; partial lacks two clips and failed on one."""
    base = {f"clip{i}": 2.0 + 0.2 * i for i in range(8)}
    good = MethodScores("good", scores({c: v + 0.5 for c, v in base.items()}), {})
    plain = MethodScores("plain", scores(base), {})
    partial = MethodScores(
        "partial", scores({c: base[c] for c in list(base)[:5]}), {"clip5": "no face"}
    )
    return [plain, partial, good]


def test_methods_are_ranked_and_missing_clips_named(three_methods):
    result = compare(three_methods)
    assert [m.name for m in result.methods] == ["good", "plain", "partial"]
    partial = result.methods[2]
    assert partial.missing == ["clip6", "clip7"] and partial.failed == {"clip5": "no face"}
    assert partial.scored == 5 and result.methods[0].missing == []
    overall = result.methods[0].tasks["overall"]
    assert overall.n == 8 and overall.low < overall.mean < overall.high
    assert overall.band == "good"  # mean 3.2
    assert "partial lacks 2 clip(s): clip6, clip7." in result.gaps()
    assert "partial failed on clip5: no face" in result.gaps()


def test_pairs_use_the_shared_clips_only(three_methods):
    pairs = {(p.a, p.b): p for p in compare(three_methods).pairs}
    assert set(pairs) == {("good", "plain"), ("good", "partial"), ("plain", "partial")}
    good_plain = pairs["good", "plain"].tasks["lip_sync"]
    assert good_plain.n == 8 and good_plain.a_wins == 1.0 and good_plain.p_value < 0.01
    assert pairs["plain", "partial"].shared == 5
    tie = pairs["plain", "partial"].tasks["overall"]
    assert tie.n == 5 and tie.a_wins == 0.5 and tie.p_value is None


def test_an_unscored_task_has_no_mean_and_no_pair():
    a = MethodScores("a", {"c": {**dict.fromkeys(TASKS, 3.0), "lip_sync": None}}, {})
    b = MethodScores("b", scores({"c": 4.0}), {})
    result = compare([a, b])
    assert result.methods[1].tasks["lip_sync"].mean is None
    assert result.pairs[0].tasks["lip_sync"].n == 0 and result.pairs[0].tasks["overall"].n == 1


def test_the_outputs(three_methods, tmp_path):
    result = compare(three_methods)
    data = result.to_dict()
    assert list(data) == [
        "tasks", "score_range", "bootstrap", "min_pairs", "methods", "pairs",
    ]  # fmt: skip
    assert data["bootstrap"] == {"resamples": 2000, "seed": 0, "level": 0.95}
    assert set(data["methods"][0]) == {"name", "scored", "failed", "missing", "tasks"}
    assert set(data["methods"][0]["tasks"]["overall"]) == {"n", "mean", "low", "high", "band"}
    pair_keys = {"n", "a_wins", "mean_difference", "p_value"}
    assert set(data["pairs"][0]["tasks"]["overall"]) == pair_keys
    json.dumps(data, allow_nan=False)

    markdown = result.markdown(bands=True)
    assert markdown.startswith("| method | scored | failed | lip_sync |")
    assert "| good | 8 | 0 | **3.20** [" in markdown and "] good |" in markdown
    assert "| good vs plain | 8 | 100% (p=" in markdown
    assert "- partial lacks 2 clip(s): clip6, clip7." in markdown

    latex = result.latex()
    assert r"\begin{tabular}" in latex and r"lip\_sync" in latex and r"\textbf{3.20}" in latex
    assert r"100\% (p=" in latex

    written = result.save(tmp_path / "t.csv", tmp_path / "t.md", png=tmp_path / "out" / "t.png")
    assert written == [tmp_path / "t.csv", tmp_path / "t.md", tmp_path / "out" / "t.png"]
    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert list(rows[0]) == list(CSV_COLUMNS) and len(rows) == 3 * len(TASKS) + 3 * len(TASKS)
    assert rows[0]["method"] == "good" and rows[0]["versus"] == ""
    assert (tmp_path / "out" / "t.png").read_bytes().startswith(b"\x89PNG")


# -- methods and their folders --------------------------------------------------------------------


def make_methods(root: Path, layout: dict[str, dict[str, float]]) -> Path:
    """Method folders of fake videos whose text is the score the fake job gives them."""
    for method, clips in layout.items():
        (root / method).mkdir(parents=True)
        for clip, value in clips.items():
            (root / method / f"{clip}.mp4").write_text(str(value))
    return root


def test_methods_come_from_sub_folders_and_named_folders(tmp_path):
    root = make_methods(tmp_path / "runs", {"a": {"x": 3}, "b": {"x": 4}, ".hidden": {"x": 1}})
    make_methods(tmp_path, {"c": {"x": 2}})
    (root / "work").mkdir()  # the work folder inside runs/ is no method
    found = find_methods(root, [f"c={tmp_path / 'c'}"], work=root / "work")
    assert [m.name for m in found] == ["a", "b", "c"]
    assert found[0].videos == {"x": (root / "a" / "x.mp4").absolute()}


@pytest.mark.parametrize(
    ("layout", "named", "message"),
    [
        ({"a": {"x": 3}}, [], "compare needs at least two methods, found a"),
        ({"a": {"x": 3}, "b": {}}, [], "method b: no videos in"),
        ({"a": {"x": 3}, "b": {"x": 3}}, ["b=elsewhere"], "two methods are named 'b'"),
        ({"a": {"x": 3}, "b": {"x": 3}}, ["c"], "--method takes NAME=DIR"),
        ({"a": {"x": 3}}, ["b=nowhere"], "method b: nowhere is not a folder"),
    ],
)
def test_bad_methods_are_one_error(tmp_path, layout, named, message):
    root = make_methods(tmp_path / "runs", layout)
    with pytest.raises(TalkscoreError, match=message):
        find_methods(root, named)


def test_two_videos_of_one_clip_are_an_error(tmp_path):
    root = make_methods(tmp_path / "runs", {"a": {"x": 3}, "b": {"x": 3}})
    (root / "b" / "x.mov").write_text("3")
    with pytest.raises(TalkscoreError, match="method b: two videos of clip 'x'"):
        find_methods(root)


@pytest.mark.parametrize(
    ("layout", "reason"),
    [({"a": {"x": 3}, "empty": {}}, "method empty: no videos in "), ({"a": {"x": 3}}, "at least")],
)
def test_the_cli_says_what_is_wrong_in_one_line(tmp_path, layout, reason):
    root = make_methods(tmp_path / "runs", layout)
    result = runner.invoke(app, ["compare", str(root)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and reason in lines[0]


def fake_score(video: str) -> tuple[str, VideoScore | None, str | None]:
    text = Path(video).read_text()
    if text == "bad":
        return video, None, "not a readable video"
    value = float(text)
    return video, VideoScore(video, "default", dict.fromkeys(TASKS, value), {}, {}), None


@dataclass(frozen=True)
class FakeJob(ScoreJob):
    """Scores a fake video with the number written in it (no models)."""

    def __call__(self):
        return fake_score


def test_each_video_is_scored_once_and_the_csvs_are_reused(tmp_path):
    layout = {"a": {"x": 4, "y": 4.5, "z": "bad"}, "b": {"x": 3, "y": 3.5}}
    found = find_methods(make_methods(tmp_path / "runs", layout))
    seen: list[str] = []
    first = compare_methods(found, FakeJob(), on_row=lambda video, _: seen.append(video))
    assert len(seen) == 5 and (tmp_path / "runs" / "a" / CSV_NAME).is_file()
    assert first.methods[0].failed == {"z": "not a readable video"}
    assert first.methods[1].missing == ["z"]
    again = compare_methods(found, FakeJob(), on_row=lambda video, _: seen.append(video))
    assert len(seen) == 5 and again.to_dict() == first.to_dict()
    in_work = compare_methods(found, FakeJob(), tmp_path / "work")
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["a.csv", "b.csv"]
    assert in_work.to_dict() == first.to_dict()


def test_scores_of_another_model_are_not_mixed_in(tmp_path):
    found = find_methods(make_methods(tmp_path / "runs", {"a": {"x": 4}, "b": {"x": 3}}))
    compare_methods(found, FakeJob())
    with pytest.raises(TalkscoreError, match="holds scores of model 'default', not 'mine'"):
        compare_methods(found, FakeJob(model_name="mine"))


# -- end to end -----------------------------------------------------------------------------------

CLIPS = ("vexpress_short_case_tys_gt", "vexpress_short_case_10_gt")


def shifted_copy(video: Path, out: Path) -> None:
    """The first 3 s of `video` with its audio moved by 480 ms."""
    from talkscore.decoding import iter_frames, read_audio
    from talkscore.training.degradations import (
        FPS,
        MAX_SIDE,
        SAMPLE_RATE,
        Clip,
        Variant,
        render_variant,
    )

    frames = [f.image for f in iter_frames(video, FPS, MAX_SIDE, max_seconds=3)]
    frames = [f[: f.shape[0] // 2 * 2, : f.shape[1] // 2 * 2] for f in frames]
    audio = read_audio(video, SAMPLE_RATE, max_seconds=3)
    clip = Clip(frames, audio, [None] * len(frames))
    render_variant(clip, Variant("audio_shift", 3, value=12), out)


def test_compare_end_to_end(clips_dir, face_model, tmp_path):
    root = tmp_path / "runs"
    for method in ("A", "B", "C"):
        (root / method).mkdir(parents=True)
    for name in CLIPS:
        source = clips_dir / "generated" / f"{name}.mp4"
        if not source.is_file():
            pytest.skip(f"{source} not found (shared generated clips)")
        shutil.copy(source, root / "A")
        shifted_copy(source, root / "B" / f"{name}.mp4")
    shutil.copy(clips_dir / "generated" / f"{CLIPS[0]}.mp4", root / "C")
    out = tmp_path / "out"
    command = [
        "compare", str(root), "--csv", str(out / "t.csv"), "--markdown", str(out / "t.md"),
        "--latex", str(out / "t.tex"), "--json", str(out / "t.json"), "--png", str(out / "t.png"),
        "--max-seconds", "3", "--face-model", str(face_model), "--device", "cpu", "--bands",
    ]  # fmt: skip
    first = runner.invoke(app, command, terminal_width=200)
    assert first.exit_code == 0, first.output
    assert "scored 5 videos now, reused 0" in first.stdout
    assert f"warning: C lacks 1 clip(s): {CLIPS[1]}." in first.stderr
    data = json.loads((out / "t.json").read_text())
    methods = {m["name"]: m for m in data["methods"]}
    assert set(methods) == {"A", "B", "C"} and methods["C"]["missing"] == [CLIPS[1]]
    assert all(m["scored"] == (1 if n == "C" else 2) for n, m in methods.items())
    a_b = next(p for p in data["pairs"] if {p["a"], p["b"]} == {"A", "B"})
    lip_sync = a_b["tasks"]["lip_sync"]["a_wins"]
    a_wins = lip_sync if a_b["a"] == "A" else 1 - lip_sync
    assert a_b["shared"] == 2 and a_wins == 1.0  # 480 ms off loses lip sync on both clips
    assert (out / "t.md").read_text().startswith("| method | scored | failed |")
    assert r"\toprule" in (out / "t.tex").read_text()
    assert (out / "t.png").read_bytes().startswith(b"\x89PNG")
    assert len(list(csv.DictReader((out / "t.csv").open()))) == 6 * len(TASKS)
    assert len(list(csv.DictReader((root / "A" / CSV_NAME).open()))) == 2

    again = runner.invoke(app, command, terminal_width=200)
    assert again.exit_code == 0, again.output
    assert "scored 0 videos now, reused 5" in again.stdout
    assert json.loads((out / "t.json").read_text()) == data
