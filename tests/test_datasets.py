"""Label files, splits, THQA-NTIRE labels and human preferences."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA_DIR

from talkscore.tasks import TASKS
from talkscore.training.datasets import (
    DEFAULT_DIMENSION_TASKS,
    LabelledVideo,
    LabelsError,
    LabelSet,
    PreferencePair,
    preference_agreement,
    read_labels,
    read_preferences,
)

THQA_DIR = DATA_DIR / "thqa_ntire"
PREFERENCES = DATA_DIR / "adthqa_dev" / "preferences.csv"
NAN = float("nan")


def write(folder: Path, text: str, name: str = "labels.csv") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


LABELS = f"""video,{",".join(TASKS)},group,split,notes
a.mp4,1,2,3,4,5,spk1,train,ignored
sub/b.mp4,,nan,NaN,-1,2.5,spk2,val,
{{absolute}},-1,4.5,,3,,,test,x
"""


def test_labels_masks_groups_splits_and_paths(tmp_path):
    absolute = tmp_path / "elsewhere" / "c.mp4"
    path = write(tmp_path, LABELS.format(absolute=absolute))
    labels = read_labels(path)
    assert labels.source_format == "talkscore"
    videos = [row.video for row in labels.rows]
    assert videos == [tmp_path / "a.mp4", tmp_path / "sub/b.mp4", absolute]
    expected = [[1, 2, 3, 4, 5], [NAN, NAN, NAN, NAN, 2.5], [NAN, 4.5, NAN, 3, NAN]]
    np.testing.assert_array_equal(np.stack([row.labels for row in labels.rows]), expected)
    assert all(row.labels.dtype == np.float32 for row in labels.rows)
    assert [row.group for row in labels.rows] == ["spk1", "spk2", None]
    assert [row.split for row in labels.rows] == ["train", "val", "test"]
    assert labels.score_range == (1.0, 5.0)

    folder = tmp_path / "videos"
    folder.mkdir()
    moved = read_labels(path, videos_dir=folder)
    assert [row.video for row in moved.rows] == [folder / "a.mp4", folder / "sub/b.mp4", absolute]


def test_labels_subset_of_tasks_and_score_range_option(tmp_path):
    path = write(tmp_path, "video,overall\na.mp4,2\nb.mp4,3\n")
    labels = read_labels(path, score_range=(1, 5))
    assert labels.score_range == (1.0, 5.0)
    np.testing.assert_array_equal(labels.rows[1].labels, [NAN, NAN, NAN, NAN, 3])
    assert read_labels(path).score_range == (2.0, 3.0)
    with pytest.raises(LabelsError) as exc:
        read_labels(path, score_range=(2.5, 5))
    assert "outside score_range" in one_line(exc)


def test_single_label_value_requires_the_option(tmp_path):
    path = write(tmp_path, "video,overall\na.mp4,3\nb.mp4,3\n")
    with pytest.raises(LabelsError) as exc:
        read_labels(path)
    assert "pass score_range" in one_line(exc)
    assert read_labels(path, score_range=(1, 5)).score_range == (1.0, 5.0)


def labelled(name: str, group: str | None = None, split: str | None = None) -> LabelledVideo:
    return LabelledVideo(Path(f"/v/{name}.mp4"), np.zeros(len(TASKS), np.float32), group, split)


def grouped_set() -> LabelSet:
    rows = [labelled(f"g{g}_{i}", f"g{g}") for g in range(10) for i in range(g % 3 + 1)]
    rows += [labelled(f"solo{i}") for i in range(5)]
    return LabelSet(rows, "talkscore", (1.0, 5.0))


@pytest.mark.parametrize("seed", range(40))
def test_random_split_keeps_groups_on_one_side(seed):
    labels = grouped_set()
    sides = labels.split(val_fraction=0.2, test_fraction=0.2, seed=seed)
    assert set(sides) == {"train", "val", "test"}
    assert all(sides[side] for side in ("train", "val", "test"))
    videos = [row.video for rows in sides.values() for row in rows]
    assert sorted(videos) == sorted(row.video for row in labels.rows)
    groups = [{row.group for row in rows if row.group} for rows in sides.values()]
    assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])


def test_random_split_is_seeded():
    labels = grouped_set()
    first, again = labels.split(seed=3), labels.split(seed=3)
    assert first == again
    splits = {tuple(row.video for row in labels.split(seed=s)["val"]) for s in range(10)}
    assert len(splits) > 1
    assert labels.split()["test"] == []


def test_split_column_is_used_when_present():
    rows = [labelled("a", "x", "train"), labelled("b", "y", "val"), labelled("c", None, "test")]
    rows.append(labelled("d", "x", "train"))
    sides = LabelSet(rows, "talkscore", (1.0, 5.0)).split(val_fraction=0.5, seed=7)
    assert sides == {"train": [rows[0], rows[3]], "val": [rows[1]], "test": [rows[2]]}


@pytest.mark.parametrize(
    ("rows", "kwargs", "expected"),
    [
        ([labelled(f"v{i}", "same") for i in range(5)], {}, "a split that leaves a side empty"),
        ([labelled("a", split="train"), labelled("b", split="test")], {}, "val would have no"),
        ([labelled("a", split="train"), labelled("b")], {}, "have no split while others do"),
        (
            [labelled("a", "x", "train"), labelled("b", "x", "val")],
            {},
            "puts a group on several sides: x (train, val)",
        ),
        ([labelled("a"), labelled("b")], {"val_fraction": 0.0}, "0 < val_fraction"),
        ([labelled("a"), labelled("b")], {"val_fraction": 0.6, "test_fraction": 0.5}, "< 1"),
    ],
)
def test_split_errors(rows, kwargs, expected):
    with pytest.raises(LabelsError) as exc:
        LabelSet(rows, "talkscore", (1.0, 5.0)).split(**kwargs)
    assert expected in one_line(exc)


def thqa_file(name: str) -> Path:
    path = THQA_DIR / f"thqa_ntire_{name}.csv"
    if not path.is_file():
        pytest.skip(f"THQA-NTIRE labels not found at {path} (set TALKSCORE_DATA)")
    return path


def data_lines(path: Path) -> int:
    """Rows under the header, counted without the csv module."""
    return sum(1 for line in path.read_text().splitlines()[1:] if line.strip())


@pytest.mark.parametrize("name", ["train", "val", "test"])
def test_thqa_ntire_files(name):
    path = thqa_file(name)
    labels = read_labels(path)
    assert labels.source_format == "thqa"
    assert len(labels.rows) == data_lines(path)
    overall = np.array([row.labels[TASKS.index("overall")] for row in labels.rows])
    low, high = labels.score_range
    assert 0 <= low < high <= 5
    assert np.isfinite(overall).all()
    np.testing.assert_allclose([overall.min(), overall.max()], [low, high], rtol=1e-6)
    others = np.stack([np.delete(row.labels, TASKS.index("overall")) for row in labels.rows])
    assert np.isnan(others).all()
    assert all(row.group is None and row.split is None for row in labels.rows)
    missing = labels.missing_videos()
    assert missing == [row.video for row in labels.rows]
    assert missing[0].is_absolute()
    assert missing[0].name == path.read_text().splitlines()[1].split(",")[0]
    assert labels.present().rows == []


def test_thqa_ntire_total():
    total = sum(data_lines(thqa_file(name)) for name in ("train", "val", "test"))
    assert 12_000 <= total < 12_500


def test_missing_videos_lists_all_and_present_keeps_the_rest(tmp_path):
    (tmp_path / "b.mp4").write_bytes(b"")
    path = write(tmp_path, "video,overall\na.mp4,1\nb.mp4,2\nc.mp4,3\nd/e.mp4,4\n")
    labels = read_labels(path)
    assert labels.missing_videos() == [tmp_path / "a.mp4", tmp_path / "c.mp4", tmp_path / "d/e.mp4"]
    present = labels.present()
    assert [row.video for row in present.rows] == [tmp_path / "b.mp4"]
    assert present.score_range == labels.score_range


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("path,overall,split\na.mp4,3,train\n", ["no 'video' column", "path, overall, split"]),
        ("video,score,group\na.mp4,3,g\n", ["no task column", ", ".join(TASKS)]),
        (
            "video,lip_sync,overall\na.mp4,good,3\nb.mp4,2,bad\nc.mp4,x,y\nd.mp4,?,1\n",
            [
                "row 2 column lip_sync: 'good'; row 3 column overall: 'bad'; "
                "row 4 column lip_sync: 'x' (and 2 more)"
            ],
        ),
        ("video,overall\na.mp4,inf\nb.mp4,2\n", ["row 2 column overall: 'inf'"]),
        ("video,overall,split\na.mp4,3,train\nb.mp4,2,dev\n", ["row 3: 'dev'", "train, val, test"]),
        ("", ["is empty"]),
        ("video,overall\n", ["has a header but no rows"]),
        ("video,overall\na.mp4,3\nb.mp4,2\n./a.mp4,4\n", ["a.mp4 on rows 2 and 4"]),
        ("video,overall\na.mp4,3\n,2\n", ["row 3 has no video path"]),
        ("video,overall\na.mp4,3,extra\n", ["row 2 has 3 cells"]),
        ("video,overall\na.mp4,\nb.mp4,-1\n", ["has no labels"]),
    ],
)
def test_label_errors_are_one_line(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(LabelsError) as exc:
        read_labels(path)
    message = one_line(exc)
    assert str(path) in message
    for part in expected:
        assert part in message


def test_missing_file_and_videos_dir(tmp_path):
    with pytest.raises(LabelsError) as exc:
        read_labels(tmp_path / "absent.csv")
    assert "does not exist" in one_line(exc)
    path = write(tmp_path, "video,overall\na.mp4,3\nb.mp4,2\n")
    with pytest.raises(LabelsError) as exc:
        read_labels(path, videos_dir=tmp_path / "nowhere")
    assert "videos folder" in one_line(exc)


def test_real_preferences():
    if not PREFERENCES.is_file():
        pytest.skip(f"ADTH-QA preferences not found at {PREFERENCES} (set TALKSCORE_DATA)")
    pairs = read_preferences(PREFERENCES)
    assert len(pairs) == 90
    assert {d: sum(p.dimension == d for p in pairs) for d in DEFAULT_DIMENSION_TASKS} == {
        "lip": 30,
        "head": 30,
        "render": 30,
    }
    assert all(p.task == DEFAULT_DIMENSION_TASKS[p.dimension] for p in pairs)
    videos = {v for p in pairs for v in (p.video_a, p.video_b)}
    assert all(v.is_file() and v.parent == PREFERENCES.parent / "videos" for v in videos)
    assert all(p.votes_a + p.votes_b == 15 and p.source for p in pairs)
    assert pairs[0].share_a == pytest.approx(pairs[0].votes_a / 15)


def test_preferences_mapping_paths_and_errors(tmp_path):
    text = "dimension,video_a,video_b,votes_a,votes_b\nsmile,a.mp4,b.mp4,10,5\n"
    path = write(tmp_path, text, "prefs.csv")
    with pytest.raises(LabelsError) as exc:
        read_preferences(path)
    message = one_line(exc)
    assert "'smile'" in message and "'lip': 'lip_sync'" in message
    (pair,) = read_preferences(path, videos_dir=tmp_path, dimension_tasks={"smile": "expression"})
    assert (pair.task, pair.video_a, pair.source) == ("expression", tmp_path / "a.mp4", None)
    assert pair.share_a == pytest.approx(2 / 3)
    bad = write(tmp_path, "dimension,video_a,votes_a,votes_b\nlip,a.mp4,1,2\n", "bad.csv")
    with pytest.raises(LabelsError) as exc:
        read_preferences(bad)
    assert "no column video_b" in one_line(exc)
    votes = write(tmp_path, text.replace("smile", "lip").replace("10", "ten"), "votes.csv")
    with pytest.raises(LabelsError) as exc:
        read_preferences(votes)
    assert "row 2 column votes_a: 'ten'" in one_line(exc)


def pair(dimension: str, a: str, b: str, votes_a: float, votes_b: float) -> PreferencePair:
    task = DEFAULT_DIMENSION_TASKS[dimension]
    return PreferencePair(dimension, task, Path(a), Path(b), votes_a, votes_b, None)


AGREEMENT_PAIRS = [
    pair("lip", "a", "b", 10, 5),  # majority a, a scores higher: 1
    pair("lip", "b", "a", 12, 3),  # majority b, a scores higher: 0
    pair("lip", "c", "d", 9, 4),  # the scores tie: 0.5
    pair("lip", "a", "b", 7, 3),  # margin 4: not clear at min_margin 5, agrees (1)
    pair("head", "a", "c", 2, 13),  # expression scores: majority c, c higher: 1
    pair("head", "c", "d", 13, 2),  # c higher: 1
    pair("head", "a", "d", 5, 10),  # d higher: 1
    pair("head", "b", "d", 0, 15),  # the scores tie: 0.5
    pair("render", "a", "b", 8, 7),  # no clear pair
    pair("render", "a", "c", 6, 9),
]
SCORES = {
    "lip_sync": {"a": 3, "b": 1, "c": 2, "d": 2},
    "expression": {"a": 1, "b": 4, "c": 5, "d": 4},
}


def test_preference_agreement_arithmetic():
    calls = []

    def score_of(video: Path, task: str) -> float:
        calls.append((video, task))
        return SCORES.get(task, {}).get(str(video), 0.0)

    result = preference_agreement(AGREEMENT_PAIRS, score_of)
    assert result["lip"] == {"task": "lip_sync", "pairs": 3, "agreement": pytest.approx(1.5 / 3)}
    assert result["head"] == {"task": "expression", "pairs": 4, "agreement": 3.5 / 4}
    assert (result["render"]["task"], result["render"]["pairs"]) == ("overall", 0)
    assert math.isnan(result["render"]["agreement"])
    assert list(result) == ["lip", "head", "render"]
    assert len(calls) == len(set(calls))
    wider = preference_agreement(AGREEMENT_PAIRS, score_of, min_margin=4)
    assert (wider["lip"]["pairs"], wider["lip"]["agreement"]) == (4, 2.5 / 4)
    assert wider["head"]["pairs"] == 4
