"""Tests for safetensors checkpoints: exact round trips, config survival, refusal of bad files."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

import talkscore
import talkscore.checkpoint as checkpoint
from talkscore.checkpoint import (
    FORMAT,
    FORMAT_VERSION,
    METADATA_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    load_model,
    read_metadata,
    save_checkpoint,
)
from talkscore.models import ModelConfig, TalkingFaceQualityModel
from talkscore.tasks import MODALITIES

SMALL = {"encoder_dim": 32, "d_ff": 64, "num_heads": 4}
DIMS = {"visual": 12, "audio": 20, "keypoint": 9, "au": 17}
EXTRA_AUDIO_DIM = 24
FRAMES = 6


def _features(dims: dict[str, int], batch: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {m: torch.randn(batch, FRAMES, d, generator=generator) for m, d in dims.items()}


def _frame_masks(modalities, batch: int = 3) -> dict[str, torch.Tensor]:
    """Some padding and faceless frames, so masking takes part in the comparison."""
    masks = {m: torch.ones(batch, FRAMES, dtype=torch.bool) for m in modalities}
    masks[modalities[0]][0, -2:] = False
    masks[modalities[-1]][1, ::2] = False
    return masks


def _small_model(seed: int = 0, **overrides) -> TalkingFaceQualityModel:
    torch.manual_seed(seed)
    model = TalkingFaceQualityModel(ModelConfig(**{**SMALL, **overrides}))
    model(_features(DIMS))  # creates the adaptive projections on first sight
    model.add_input_dims({"audio": EXTRA_AUDIO_DIM})
    return model.eval()


def _assert_same_outputs(a: TalkingFaceQualityModel, b: TalkingFaceQualityModel, dims) -> None:
    features = _features(dims, seed=1)
    masks = _frame_masks(list(dims))
    b = b.to(next(a.parameters()).device)  # load_model picks CUDA when there is one
    with torch.no_grad():
        out_a, out_b = a(features, masks), b(features, masks)
    for name in ("scores", "log_var", "gates"):
        assert torch.equal(getattr(out_a, name), getattr(out_b, name)), name


@pytest.fixture
def saved(tmp_path: Path) -> tuple[TalkingFaceQualityModel, Path]:
    model = _small_model()
    folder = save_checkpoint(tmp_path / "ckpt", model)
    return model, folder


# -- round trip ----------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["folder", "weights-file", "metadata-file"])
def test_round_trip_gives_identical_outputs(tmp_path: Path, target: str) -> None:
    model = _small_model()
    extra = {"training": {"note": "unit test", "val_metrics": {"lip_sync": {"srcc": 0.5}}}}
    folder = save_checkpoint(tmp_path / "ckpt", model, extra)
    path = {
        "folder": folder,
        "weights-file": folder / WEIGHTS_FILE,
        "metadata-file": folder / METADATA_FILE,
    }[target]

    loaded = load_model(path)
    assert not loaded.training
    assert loaded.input_dims() == model.input_dims()
    assert loaded.input_dims()["audio"] == (DIMS["audio"], EXTRA_AUDIO_DIM)
    _assert_same_outputs(model, loaded, DIMS)
    _assert_same_outputs(model, loaded, {**DIMS, "audio": EXTRA_AUDIO_DIM})

    meta = loaded.metadata
    assert meta["format"] == FORMAT
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["versions"]["talkscore"] == talkscore.__version__
    assert meta["versions"]["torch"] == torch.__version__
    assert "python" in meta["versions"]
    assert ModelConfig.from_dict(meta["model_config"]) == loaded.config
    assert meta["model_config"]["input_dims"]["audio"] == [DIMS["audio"], EXTRA_AUDIO_DIM]
    assert meta["training"] == extra["training"]
    assert read_metadata(folder) == meta


def test_a_fresh_model_differs_so_the_round_trip_check_can_fail() -> None:
    model = _small_model(seed=0)
    other = _small_model(seed=1)
    features = _features(DIMS, seed=1)
    with torch.no_grad():
        assert not torch.equal(model(features).scores, other(features).scores)


def test_non_finite_metadata_is_written_as_null(tmp_path: Path) -> None:
    folder = save_checkpoint(tmp_path, _small_model(), {"val": {"plcc": float("nan")}})
    assert load_model(folder).metadata["val"] == {"plcc": None}


def test_extra_metadata_cannot_override_the_format_marker(tmp_path: Path) -> None:
    folder = save_checkpoint(tmp_path, _small_model(), {"format": "x", "format_version": 99})
    assert read_metadata(folder)["format_version"] == 1
    load_model(folder)


def test_package_level_load_model(saved) -> None:
    model, folder = saved
    assert talkscore.load_model is load_model
    loaded = talkscore.load_model(str(folder), device="cpu")
    _assert_same_outputs(model, loaded, DIMS)


@pytest.mark.parametrize("gating, cross_modal", [(False, False), (True, False), (False, True)])
def test_config_changes_survive(tmp_path: Path, gating: bool, cross_modal: bool) -> None:
    modalities = (*MODALITIES, "head_pose")
    tasks = ("t1", "t2", "t3", "t4", "t5", "overall")
    dims = {**DIMS, "head_pose": 7}
    torch.manual_seed(0)
    config = ModelConfig(
        **SMALL, gating=gating, cross_modal=cross_modal, tasks=tasks, modalities=modalities
    )
    model = TalkingFaceQualityModel(config).eval()
    model(_features(dims))

    loaded = load_model(save_checkpoint(tmp_path, model))
    assert loaded.config.tasks == tasks
    assert loaded.config.modalities == modalities
    assert loaded.config.gating is gating
    assert loaded.config.cross_modal is cross_modal
    assert (loaded.gate is None) is not gating
    assert len(loaded.cross) == (4 if cross_modal else 0)
    assert loaded.input_dims() == {m: (d,) for m, d in dims.items()}
    _assert_same_outputs(model, loaded, dims)
    with torch.no_grad():
        assert loaded(_features(dims)).scores.shape == (3, 6)


# -- refusal of unusable paths -------------------------------------------------------------


class _Exploit:
    """Unpickling this creates `marker` (a stand-in for arbitrary code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _rewrite_metadata(folder: Path, **changes) -> None:
    meta = json.loads((folder / METADATA_FILE).read_text())
    meta.update(changes)
    (folder / METADATA_FILE).write_text(json.dumps(meta))


def test_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_model(tmp_path / "does-not-exist")


def test_empty_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not a talkscore checkpoint"):
        load_model(tmp_path)


def test_other_file_in_folder_is_not_a_checkpoint_path(saved) -> None:
    _, folder = saved
    other = folder / "notes.txt"
    other.write_text("hello")
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_model(other)


@pytest.mark.parametrize(
    "text",
    ['{"name": "bert", "version": 2}', "[1, 2, 3]", '"talkscore-checkpoint"', "{not json"],
    ids=["other-json", "list", "string", "invalid"],
)
def test_foreign_metadata_raises(saved, text: str) -> None:
    _, folder = saved
    (folder / METADATA_FILE).write_text(text)
    with pytest.raises(CheckpointError, match=METADATA_FILE):
        load_model(folder)


def test_missing_weights_raise(saved) -> None:
    _, folder = saved
    (folder / WEIGHTS_FILE).unlink()
    with pytest.raises(CheckpointError, match="unusable weights"):
        load_model(folder)


@pytest.mark.parametrize("keep", [0.5, 0.01])
def test_truncated_weights_raise(saved, keep: float) -> None:
    _, folder = saved
    data = (folder / WEIGHTS_FILE).read_bytes()
    (folder / WEIGHTS_FILE).write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match="unusable weights"):
        load_model(folder)


def test_pickled_weights_are_never_unpickled(saved, tmp_path: Path) -> None:
    _, folder = saved
    # the payload really does run code when unpickled (so the check below can fail)
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_Exploit(probe)))
    assert probe.exists()

    marker = tmp_path / "pwned"
    with open(folder / WEIGHTS_FILE, "wb") as f:
        pickle.dump(_Exploit(marker), f)
    with pytest.raises(CheckpointError, match="unusable weights"):
        load_model(folder)
    assert not marker.exists()


def test_newer_format_version_raises(saved) -> None:
    _, folder = saved
    _rewrite_metadata(folder, format_version=FORMAT_VERSION + 1)
    with pytest.raises(CheckpointError, match="upgrade talkscore"):
        load_model(folder)


@pytest.mark.parametrize(
    "model_config",
    [
        {"encoder_dim": 32, "not_a_field": 1},
        {"encoder_dim": 30},
        {"encoder_dim": 64, "d_ff": 64, "num_heads": 4},
        "encoder_dim",
    ],
    ids=["unknown-field", "invalid-value", "shape-mismatch", "not-a-dict"],
)
def test_bad_model_config_raises(saved, model_config) -> None:
    _, folder = saved
    _rewrite_metadata(folder, model_config=model_config)
    with pytest.raises(CheckpointError, match=str(folder)):
        load_model(folder)


def test_missing_model_config_raises(saved) -> None:
    _, folder = saved
    meta = json.loads((folder / METADATA_FILE).read_text())
    del meta["model_config"]
    (folder / METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="invalid model config"):
        load_model(folder)


def test_non_integer_format_version_raises_checkpoint_error(saved) -> None:
    _, folder = saved
    _rewrite_metadata(folder, format_version="2")
    with pytest.raises(CheckpointError):
        load_model(folder)


def test_checkpoint_error_is_a_value_error() -> None:
    assert issubclass(CheckpointError, ValueError)


# -- atomic writes -------------------------------------------------------------------------


def test_saving_over_a_checkpoint_leaves_no_temp_files(saved) -> None:
    _, folder = saved
    replacement = _small_model(seed=1)
    save_checkpoint(folder, replacement, {"round": 2})
    assert sorted(p.name for p in folder.iterdir()) == sorted([METADATA_FILE, WEIGHTS_FILE])
    assert not list(folder.glob("*.tmp"))
    loaded = load_model(folder)
    assert loaded.metadata["round"] == 2
    _assert_same_outputs(replacement, loaded, DIMS)


def test_failed_write_keeps_the_old_checkpoint(saved, monkeypatch: pytest.MonkeyPatch) -> None:
    model, folder = saved

    def broken(model, path):
        Path(path).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "_save_weights", broken)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(folder, _small_model(seed=1))
    assert not list(folder.glob("*.tmp"))
    _assert_same_outputs(model, load_model(folder), DIMS)
