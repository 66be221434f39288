"""The training engine on synthetic features: accuracy, logs, checkpoints, early stopping."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import SMALL_DIMS, small_config

from talkscore import TASKS, load_model
from talkscore.models import TalkingFaceQualityModel
from talkscore.samples import collate
from talkscore.training import CHECKPOINT_DIR, RankingPair, TrainConfig, Trainer
from talkscore.training.run_log import JSONL_FILE, TENSORBOARD_DIR, correlation_image
from talkscore.training.synthetic import factor_samples


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One run on the design's reduced sizes (100/200/50/17), logged to a folder."""
    out = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    model = TalkingFaceQualityModel(small_config(encoder_dim=64, d_ff=128))
    trainer = Trainer(
        model, TrainConfig(epochs=12, lr=2e-3, consistency="corr", consistency_lambda=0.05), out
    )
    result = trainer.fit(factor_samples(384, seed=1), factor_samples(128, seed=2))
    return trainer, result, out


def test_synthetic_targets_are_learned_on_a_held_out_split(trained):
    trainer, _, _ = trained
    metrics = trainer.evaluate(factor_samples(160, seed=3))
    assert set(metrics) == set(TASKS)
    for task, values in metrics.items():
        assert values["srcc"] >= 0.9, (task, values)


def test_best_epoch_is_restored(trained):
    trainer, result, _ = trained
    monitored = [record["monitor"] for record in result.history]
    assert result.best_epoch == int(np.nanargmax(monitored)) + 1
    again = trainer.evaluate(factor_samples(128, seed=2))
    for task in TASKS:
        assert again[task]["srcc"] == pytest.approx(result.best_metrics[task]["srcc"])


def test_logs_hold_losses_weights_metrics_and_correlations(trained):
    _, result, out = trained
    lines = (out / JSONL_FILE).read_text().splitlines()
    assert len(lines) == len(result.history)
    record = json.loads(lines[-1])
    assert set(record["task_loss"]) == set(record["task_weight"]) == set(TASKS)
    assert set(record["val"]) == set(TASKS)
    assert np.array(record["prediction_correlation"]).shape == (len(TASKS), len(TASKS))
    assert record["consistency"] > 0
    assert list((out / TENSORBOARD_DIR).glob("events.out.tfevents.*"))


def test_checkpoint_reloads_to_identical_predictions(trained):
    trainer, result, out = trained
    assert result.checkpoint == out / CHECKPOINT_DIR
    reloaded = load_model(result.checkpoint)
    assert reloaded.metadata["training"]["best_epoch"] == result.best_epoch
    samples = factor_samples(16, seed=4)
    expected = trainer.predict(samples).scores
    assert np.array_equal(Trainer(reloaded).predict(samples).scores, expected)


def test_training_is_reproducible_with_a_seed():
    def run():
        torch.manual_seed(0)
        model = TalkingFaceQualityModel(small_config())
        result = Trainer(model, TrainConfig(epochs=2, batch_size=16, seed=3)).fit(
            factor_samples(48, dims=SMALL_DIMS, frames=(8, 12))
        )
        return [record["loss"] for record in result.history]

    assert run() == run()


def test_early_stopping_ends_a_run_that_does_not_improve():
    model = TalkingFaceQualityModel(small_config())
    samples = factor_samples(32, dims=SMALL_DIMS, frames=(8, 12))
    config = TrainConfig(epochs=20, batch_size=16, lr=1e-12, patience=2, monitor="rmse")
    result = Trainer(model, config).fit(samples, samples)
    assert len(result.history) < 20
    assert result.best_epoch <= len(result.history) - 2


def test_train_config_rejects_bad_options():
    with pytest.raises(ValueError, match="weighting must be one of"):
        TrainConfig(weighting="dwa")
    with pytest.raises(ValueError, match="consistency must be one of"):
        TrainConfig(consistency="kl")
    with pytest.raises(ValueError, match="monitor"):
        TrainConfig(monitor="accuracy")
    with pytest.raises(ValueError, match="empty"):
        Trainer(TalkingFaceQualityModel(small_config())).fit([])
    with pytest.raises(ValueError, match="one weight per task"):
        Trainer(TalkingFaceQualityModel(small_config()), TrainConfig(ranking_task_weights=(1.0,)))


def test_ranking_task_weights_scale_each_tasks_pairs():
    samples = factor_samples(8, dims=SMALL_DIMS, frames=(8, 12))
    lip, overall = TASKS.index("lip_sync"), TASKS.index("overall")
    lip_pairs = [RankingPair(samples[i], samples[i + 1], lip, 0.8) for i in (0, 2)]
    overall_pairs = [RankingPair(samples[i], samples[i + 1], overall, 0.8) for i in (4, 6)]
    model = TalkingFaceQualityModel(small_config()).eval()

    def ranking(pairs, weights=None) -> float:
        trainer = Trainer(model, TrainConfig(ranking_task_weights=weights, device="cpu"))
        batch = collate(samples[:2], model.config.modalities)
        return float(trainer.loss_terms(batch, pairs)["ranking"])

    weights = tuple(3.0 if t == "lip_sync" else 0.5 if t == "overall" else 1.0 for t in TASKS)
    expected = (3.0 * ranking(lip_pairs) + 0.5 * ranking(overall_pairs)) / 2
    assert ranking(lip_pairs + overall_pairs, weights) == pytest.approx(expected, rel=1e-5)
    assert ranking(lip_pairs + overall_pairs) != pytest.approx(expected, rel=1e-3)


def test_correlation_image_colours_sign_and_size():
    image = correlation_image(np.array([[1.0, -1.0], [0.0, np.nan]]), cell=4)
    assert image.shape == (3, 8, 8) and image.dtype == np.uint8
    red, blue, white = image[:, 0, 0], image[:, 0, 4], image[:, 4, 0]
    assert tuple(red) == (255, 0, 0) and tuple(blue) == (0, 0, 255)
    assert tuple(white) == (255, 255, 255) and tuple(image[:, 4, 4]) == (255, 255, 255)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_mixed_precision_training_on_cuda():
    model = TalkingFaceQualityModel(small_config())
    trainer = Trainer(model, TrainConfig(epochs=2, batch_size=16, device="cuda", amp=True))
    result = trainer.fit(factor_samples(64, dims=SMALL_DIMS, frames=(8, 12)))
    assert trainer.amp_dtype is not None
    assert all(np.isfinite(record["loss"]) for record in result.history)
    assert next(model.parameters()).is_cuda
