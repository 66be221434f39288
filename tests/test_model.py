"""The advanced model: shapes, ranges, masks, adaptive projections, extensibility."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import SMALL_DIMS, random_features, small_config

from talkscore import MODALITIES, TASKS
from talkscore.models import ModelConfig, TalkingFaceQualityModel
from talkscore.samples import Sample
from talkscore.training import TrainConfig, Trainer
from talkscore.training.synthetic import factor_samples


def eval_model(**overrides) -> TalkingFaceQualityModel:
    return TalkingFaceQualityModel(small_config(**overrides)).eval()


def test_default_config_follows_the_design():
    config = ModelConfig()
    assert (config.encoder_dim, config.num_heads, config.fusion_layers) == (256, 4, 2)
    assert config.dropout == 0.1
    assert config.tasks == TASKS
    assert TASKS == ("lip_sync", "expression", "audio_quality", "cross_modal", "overall")


@pytest.mark.parametrize("score_range", [(1.0, 5.0), (0.0, 100.0)])
def test_outputs_have_task_shapes_and_stay_in_range(score_range):
    model = eval_model(score_min=score_range[0], score_max=score_range[1])
    out = model(random_features(batch=4))
    assert out.scores.shape == out.log_var.shape == (4, len(TASKS))
    assert out.gates.shape == (4, len(MODALITIES))
    assert ((out.scores >= score_range[0]) & (out.scores <= score_range[1])).all()
    low, high = model.config.log_var_range
    assert ((out.log_var >= low) & (out.log_var <= high)).all()
    assert torch.allclose(out.std, torch.exp(0.5 * out.log_var))
    assert ((out.gates > 0) & (out.gates < 1)).all()


def test_adaptive_projection_is_created_once_and_registered():
    model = eval_model()
    assert model.input_dims() == {}
    model(random_features())
    assert model.input_dims() == {m: (d,) for m, d in SMALL_DIMS.items()}
    assert "projections.visual.by_size.12.weight" in model.state_dict()
    before = model.projections["visual"].by_size["12"].weight.clone()
    model(random_features(seed=1))
    assert torch.equal(model.projections["visual"].by_size["12"].weight, before)
    model(random_features(dims={**SMALL_DIMS, "visual": 7}))
    assert model.input_dims()["visual"] == (7, 12)


def test_masked_modality_ignores_garbage_and_gets_zero_gate():
    model = eval_model()
    features = random_features(batch=3)
    present = torch.ones(3, len(MODALITIES), dtype=torch.bool)
    present[0, 1] = False  # sample 0 has no audio
    clean = model(features, present=present)
    features["audio"][0] = float("nan")
    garbage = model(features, present=present)
    assert torch.isfinite(garbage.scores).all()
    assert torch.equal(clean.scores, garbage.scores)
    assert torch.equal(clean.log_var, garbage.log_var)
    assert garbage.gates[0, 1] == 0 and (garbage.gates[1:, 1] > 0).all()


def test_frames_without_a_face_are_ignored_but_matter():
    model = eval_model()
    features = random_features(batch=2, frames=12)
    masks = {m: torch.ones(2, 12, dtype=torch.bool) for m in ("keypoint", "au")}
    masks["keypoint"][0, 3:8] = False
    masks["au"][1, :6] = False
    clean = model(features, masks)
    for modality, mask in masks.items():
        features[modality][~mask] = 1e30
    garbage = model(features, masks)
    assert torch.equal(clean.scores, garbage.scores)
    unmasked = model(random_features(batch=2, frames=12))
    assert not torch.allclose(unmasked.scores, clean.scores)


def test_padding_does_not_change_a_sample():
    model = eval_model()
    short = random_features(batch=1, frames=9)
    padded = {m: torch.cat([x, torch.randn(1, 5, x.shape[-1])], dim=1) for m, x in short.items()}
    masks = {m: torch.arange(14)[None] < 9 for m in padded}
    assert torch.allclose(model(short).scores, model(padded, masks).scores, atol=1e-5)


def test_leaving_a_modality_out_equals_masking_it():
    model = eval_model()
    features = random_features(batch=2)
    present = torch.tensor([[False, True, True, False, False, False]] * 2)
    masked = model(features, present=present)
    left_out = model({m: features[m] for m in ("audio", "keypoint")})
    assert torch.allclose(masked.scores, left_out.scores, atol=1e-6)


def test_no_modality_at_all_still_gives_finite_scores():
    model = eval_model()
    out = model(random_features(batch=2), present=torch.zeros(2, len(MODALITIES), dtype=torch.bool))
    assert torch.isfinite(out.scores).all() and torch.isfinite(out.log_var).all()
    assert (out.gates == 0).all()


def test_gating_switch():
    model = eval_model(gating=False)
    present = torch.tensor([[True, False, True, True, False, True]])
    out = model(random_features(batch=1), present=present)
    assert torch.equal(out.gates, present.float())


def test_bad_inputs_raise_clear_errors():
    model = eval_model()
    with pytest.raises(ValueError, match="unknown modality 'video'"):
        model({"video": torch.randn(1, 4, 3)})
    with pytest.raises(ValueError, match="one timeline"):
        model({"audio": torch.randn(1, 8, 20), "keypoint": torch.randn(1, 6, 9)})
    with pytest.raises(ValueError, match="one column per modality"):
        model(random_features(batch=1), present=torch.ones(1, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"\[batch, time, dim\]"):
        model({"audio": torch.randn(8, 20)})
    with pytest.raises(ValueError, match="divisible"):
        ModelConfig(encoder_dim=30, num_heads=4)
    with pytest.raises(ValueError, match="cross_modal_pairs"):
        ModelConfig(cross_modal_pairs=(("audio", "lips"),))


def test_config_round_trips_through_a_dict():
    config = small_config(
        modalities=("visual", "audio", "sync"),
        cross_modal_pairs=(("audio", "sync"),),
        input_dims={"sync": (3,)},
    )
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown ModelConfig fields"):
        ModelConfig.from_dict({**config.to_dict(), "layers": 3})


def test_a_new_modality_and_a_sixth_task_are_a_config_change():
    modalities = (*small_config().modalities, "gaze")
    tasks = (*TASKS, "naturalness")
    config = small_config(
        modalities=modalities,
        tasks=tasks,
        cross_modal_pairs=(("audio", "keypoint"), ("audio", "gaze")),
    )
    rng = np.random.default_rng(0)
    samples = []
    for sample in factor_samples(64, dims=SMALL_DIMS, frames=(12, 16)):
        frames = sample.num_frames
        gaze = rng.normal(size=(frames, 3)).astype(np.float32)
        level = rng.uniform()
        gaze[:, 0] += 3 * level
        labels = np.append(sample.labels, 1 + 4 * level).astype(np.float32)
        samples.append(Sample({**sample.features, "gaze": gaze}, labels, sample.frame_masks))
    model = TalkingFaceQualityModel(config)
    trainer = Trainer(model, TrainConfig(epochs=4, batch_size=16, lr=3e-3, weighting="gradnorm"))
    result = trainer.fit(samples)
    losses = [record["loss"] for record in result.history]
    assert losses[-1] < losses[0]
    assert set(result.history[-1]["task_weight"]) == set(tasks)
    out = model(random_features(batch=2, dims={**SMALL_DIMS, "gaze": 3}))
    assert out.scores.shape == (2, 6) and out.gates.shape == (2, len(modalities))
    assert len(model.pooling) == len(modalities) and len(model.heads) == 6
    assert model.path_a[0].in_features == len(modalities) * config.encoder_dim
    assert trainer.weighting.task_weights.shape == (6,)
    assert dataclasses.replace(config) == model.config
