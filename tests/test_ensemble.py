"""ModelEnsemble: averaged scores, variance widened by disagreement, checkpoint round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from talkscore.checkpoint import CheckpointError, load_model, read_metadata, save_checkpoint
from talkscore.models import ModelConfig, ModelEnsemble, TalkingFaceQualityModel

SMALL = {"encoder_dim": 32, "d_ff": 64, "num_heads": 4}
DIMS = {"visual": 12, "audio": 20, "keypoint": 9, "au": 17}


def _features(seed: int = 1) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {m: torch.randn(3, 6, d, generator=generator) for m, d in DIMS.items()}


def _member(seed: int) -> TalkingFaceQualityModel:
    torch.manual_seed(seed)
    model = TalkingFaceQualityModel(ModelConfig(**SMALL))
    model.add_input_dims(DIMS)
    return model.eval()


@pytest.fixture
def ensemble() -> ModelEnsemble:
    return ModelEnsemble([_member(seed) for seed in range(3)]).eval()


def test_scores_are_the_members_mean_and_variance_adds_their_disagreement(ensemble) -> None:
    features = _features()
    with torch.no_grad():
        out = ensemble(features)
        members = [m(features) for m in ensemble.members]
    scores = torch.stack([o.scores for o in members])
    assert torch.allclose(out.scores, scores.mean(0))
    mean_variance = torch.stack([o.log_var.exp() for o in members]).mean(0)
    assert torch.allclose(out.log_var.exp(), mean_variance + scores.var(0, unbiased=False))
    assert (out.std > mean_variance.sqrt()).all()  # the members differ, so the interval widens
    assert out.embedding.shape[-1] == 3 * ensemble.config.encoder_dim


def test_members_of_different_configs_or_input_sizes_are_refused() -> None:
    other = TalkingFaceQualityModel(ModelConfig(**{**SMALL, "encoder_dim": 64}))
    other.add_input_dims(DIMS)
    with pytest.raises(ValueError, match="share one config"):
        ModelEnsemble([_member(0), other])
    fewer = TalkingFaceQualityModel(ModelConfig(**SMALL))
    fewer.add_input_dims({"audio": 20})
    with pytest.raises(ValueError, match="share one config"):
        ModelEnsemble([_member(0), fewer])
    with pytest.raises(ValueError, match="at least one"):
        ModelEnsemble([])


def test_an_ensemble_checkpoint_round_trips(tmp_path: Path, ensemble) -> None:
    folder = save_checkpoint(tmp_path / "ckpt", ensemble, {"training": {"member_seeds": [0, 1]}})
    assert read_metadata(folder)["ensemble_size"] == 3
    loaded = load_model(folder, device="cpu")
    assert isinstance(loaded, ModelEnsemble) and len(loaded.members) == 3
    assert not loaded.training
    features = _features()
    with torch.no_grad():
        expected, got = ensemble(features), loaded(features)
    for name in ("scores", "log_var", "gates"):
        assert torch.equal(getattr(expected, name), getattr(got, name)), name


def test_a_single_model_checkpoint_says_ensemble_size_one(tmp_path: Path) -> None:
    folder = save_checkpoint(tmp_path, _member(0))
    assert read_metadata(folder)["ensemble_size"] == 1
    assert isinstance(load_model(folder), TalkingFaceQualityModel)


@pytest.mark.parametrize("size", [0, "3", True])
def test_an_invalid_ensemble_size_is_a_checkpoint_error(tmp_path: Path, size) -> None:

    folder = save_checkpoint(tmp_path, _member(0))
    meta_file = folder / "talkscore.json"
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps({**meta, "ensemble_size": size}))
    with pytest.raises(CheckpointError, match="ensemble_size"):
        load_model(folder)


def test_a_wrong_member_count_is_a_checkpoint_error(tmp_path: Path, ensemble) -> None:

    folder = save_checkpoint(tmp_path, ensemble)
    meta_file = folder / "talkscore.json"
    meta_file.write_text(json.dumps({**json.loads(meta_file.read_text()), "ensemble_size": 2}))
    with pytest.raises(CheckpointError, match="unusable weights"):
        load_model(folder)
