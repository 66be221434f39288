"""Per-modality reduction: shapes, imputation, PCA, winsorising, train-only fitting, files."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from talkscore.reduction import (
    TARGET_DIMS,
    ModalityReducer,
    Reducer,
    ReducerError,
    ReductionSettings,
)

SETTINGS = ReductionSettings()


def low_rank(n: int, d: int, rank: int, noise: float, seed: int = 0) -> np.ndarray:
    """`rank` latent factors mixed into `d` dims, plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, rank)) * np.linspace(3, 1, rank)
    x = latent @ rng.normal(size=(rank, d)) + noise * rng.normal(size=(n, d))
    return (x + rng.normal(size=d) * 5).astype(np.float32)


def video(frames: int, seed: int, dims=None) -> tuple[dict, dict]:
    """(streams, masks) of one synthetic video; a third of the frames are masked out."""
    rng = np.random.default_rng(seed)
    dims = dims or {"visual": 120, "au": 17}
    streams = {m: rng.normal(size=(frames, d)).astype(np.float32) for m, d in dims.items()}
    masks = {m: np.arange(frames) % 3 != 0 for m in dims}
    return streams, masks


def flat(reducer: Reducer) -> dict[str, np.ndarray]:
    """Copies of every fitted array, keyed `<modality>.<array>`."""
    return {
        f"{m}.{name}": a.copy()
        for m, r in reducer.modalities.items()
        for name, a in r.arrays().items()
    }


def same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    ("n", "d", "target", "expected"),
    [(200, 1404, 50, 50), (100, 17, 17, 17), (100, 10, 17, 10), (30, 200, 200, 30)],
)
def test_output_dims(n, d, target, expected):
    frames = np.random.default_rng(0).normal(size=(n, d)).astype(np.float32)
    reducer = ModalityReducer.fit(frames, target, SETTINGS)
    out = reducer.transform(frames[:7])
    assert out.shape == (7, expected) and out.dtype == np.float32
    assert reducer.input_dim == d and reducer.output_dim == expected
    assert (reducer.components is None) == (expected == d)


def test_nan_imputed_with_training_medians():
    frames = low_rank(300, 20, 3, 0.1)
    frames[::4, 5] = np.nan
    frames[1::7] = np.nan
    reducer = ModalityReducer.fit(frames, 5, SETTINGS)
    np.testing.assert_allclose(reducer.median, np.nanmedian(frames, axis=0), rtol=1e-6)
    queries = np.full((2, 20), np.nan, dtype=np.float32)
    queries[1, :3] = [np.inf, -np.inf, np.nan]
    out = reducer.transform(queries)
    assert np.isfinite(out).all()
    expected = reducer.transform(reducer.median[None])
    np.testing.assert_allclose(out, np.repeat(expected, 2, axis=0), atol=1e-6)


def test_standardised_components_centred_and_ordered():
    frames = low_rank(500, 30, 6, 0.5)
    reducer = ModalityReducer.fit(frames, 8, SETTINGS)
    out = reducer.transform(frames)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-4)
    variances = out.var(axis=0)
    assert np.all(np.diff(variances) <= 1e-6)
    ratio = reducer.explained_variance_ratio
    assert np.all(np.diff(ratio) <= 0) and ratio.sum() <= 1 + 1e-6
    assert reducer.explained_variance == pytest.approx(float(ratio.sum()))
    # per-dim unit variance after the z-score: component variances are shares of D
    np.testing.assert_allclose(variances / 30, ratio, rtol=1e-3)


def test_low_rank_structure_is_recovered():
    frames = low_rank(400, 40, 3, 0.05)
    reducer = ModalityReducer.fit(frames, 3, SETTINGS)
    assert reducer.explained_variance > 0.95
    z = (frames - reducer.mean) / reducer.std
    reconstructed = reducer.transform(frames) @ reducer.components
    assert np.linalg.norm(reconstructed - z) / np.linalg.norm(z) < 0.1


def test_winsorising_limits_an_outlier():
    rng = np.random.default_rng(1)
    factor = rng.normal(size=(400, 1))
    frames = (factor + rng.normal(size=(400, 10))).astype(np.float32)
    frames[17] = 1e6 * np.where(np.arange(10) % 2, 1.0, -1.0)
    common = np.ones(10) / np.sqrt(10)
    plain = ModalityReducer.fit(frames, 2, SETTINGS)
    clipped = ModalityReducer.fit(frames, 2, ReductionSettings(winsorize=1.5))
    assert abs(plain.components[0] @ common) < 0.3  # the outlier's direction wins
    assert abs(clipped.components[0] @ common) > 0.95
    assert np.abs(clipped.transform(frames[17:18])).max() < 20
    assert clipped.std.max() < 2  # the outlier does not inflate the scale


def test_settings_validate_and_round_trip():
    settings = ReductionSettings(winsorize=3.0, max_fit_frames=50, seed=4)
    assert ReductionSettings.from_dict(settings.to_dict()) == settings
    assert ReductionSettings().target_dims == TARGET_DIMS
    for bad in [
        {"winsorize": 0.0},
        {"max_fit_frames": 0},
        {"seed": -1},
        {"target_dims": {"au": 0}},
    ]:
        with pytest.raises(ValueError):
            ReductionSettings(**bad)
    with pytest.raises(ValueError, match="unknown"):
        ReductionSettings.from_dict({"winsorise": 1.0})


def test_fit_reads_only_valid_frames():
    videos = [video(60, seed) for seed in range(3)]
    reducer = Reducer.fit(videos)
    for streams, masks in videos:
        for m in streams:
            streams[m][~masks[m]] = 1e4
            streams[m][~masks[m], 0] = np.nan
    assert same(flat(reducer), flat(Reducer.fit(videos)))
    assert reducer.output_dims() == {"visual": 100, "au": 17}


def test_fitted_on_training_videos_only():
    train = [video(60, seed) for seed in range(3)]
    val = [video(60, seed) for seed in range(10, 12)]
    reducer = Reducer.fit(train)
    before = flat(reducer)
    for streams, _ in val:
        out = reducer.transform(streams)
        assert all(np.isfinite(x).all() for x in out.values())
    assert same(flat(reducer), before)
    assert not same(before, flat(Reducer.fit(train + val)))


def test_skips_modalities_without_frames_and_drops_unknown():
    streams, masks = video(30, 0, {"visual": 120, "audio": 8, "extra": 4})
    masks["audio"][:] = False
    settings = ReductionSettings(target_dims={**TARGET_DIMS, "extra": 2})
    reducer = Reducer.fit([(streams, masks)], settings)
    assert set(reducer.modalities) == {"visual", "extra"}
    out = reducer.transform({**streams, "other": np.zeros((5, 3))})
    assert set(out) == {"visual", "extra"}
    with pytest.raises(ValueError, match="no valid training frame"):
        Reducer.fit([({"audio": streams["audio"]}, masks)])


def test_seeded_sampling_is_deterministic():
    videos = [video(90, seed) for seed in range(4)]
    settings = ReductionSettings(max_fit_frames=50, seed=3)
    first = Reducer.fit(videos, settings)
    assert same(flat(first), flat(Reducer.fit(videos, settings)))
    other = Reducer.fit(videos, ReductionSettings(max_fit_frames=50, seed=4))
    assert not same(flat(first), flat(other))


def test_save_load_round_trip(tmp_path: Path):
    videos = [video(60, seed) for seed in range(3)]
    reducer = Reducer.fit(videos, ReductionSettings(winsorize=1.5))
    path = tmp_path / "reducer.safetensors"
    reducer.save(path)
    loaded = Reducer.load(path)
    assert loaded.settings == reducer.settings
    assert same(flat(reducer), flat(loaded))
    for m, x in reducer.transform(videos[0][0]).items():
        np.testing.assert_array_equal(x, loaded.transform(videos[0][0])[m])
    assert [p.name for p in tmp_path.iterdir()] == ["reducer.safetensors"]


class _Marker:
    """Unpickling this creates `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_load_rejects_foreign_corrupt_and_pickled_files(tmp_path: Path):
    foreign = tmp_path / "foreign.safetensors"
    save_file({"weight": np.ones(3, np.float32)}, str(foreign))
    with pytest.raises(ReducerError, match="not a talkscore reducer"):
        Reducer.load(foreign)

    marker = tmp_path / "unpickled"
    pickled = tmp_path / "reducer.pkl"
    pickled.write_bytes(pickle.dumps(_Marker(marker)))
    with pytest.raises(ValueError, match="not a readable reducer file"):
        Reducer.load(pickled)
    assert not marker.exists()

    good = tmp_path / "good.safetensors"
    Reducer.fit([video(30, 0)]).save(good)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:-50])
    with pytest.raises(ValueError, match="not a readable reducer file") as info:
        Reducer.load(truncated)
    assert "\n" not in str(info.value)
