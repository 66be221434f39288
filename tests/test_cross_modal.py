"""The cross-modal block sees a planted audio-keypoint time shift; pooled-only fusion cannot."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import small_config

from talkscore import TASKS
from talkscore.models import TalkingFaceQualityModel
from talkscore.training import TrainConfig, Trainer
from talkscore.training.synthetic import planted_shift_samples


def ranking_auc(scores: np.ndarray, aligned: np.ndarray) -> float:
    """Share of (aligned, shifted) pairs where the aligned clip scores higher (ties count half)."""
    diff = scores[aligned][:, None] - scores[~aligned][None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


@pytest.fixture(scope="module")
def shift_data():
    return planted_shift_samples(512, seed=1), planted_shift_samples(128, seed=2)


def held_out_auc(cross_modal: bool, shift_data) -> float:
    train, test = shift_data
    config = small_config(cross_modal=cross_modal, cross_modal_pairs=(("audio", "keypoint"),))
    trainer = Trainer(TalkingFaceQualityModel(config), TrainConfig(epochs=12, lr=3e-3, patience=0))
    trainer.fit(train)
    predictions = trainer.predict(test)
    lip_sync = TASKS.index("lip_sync")
    aligned = predictions.labels[:, lip_sync] > 3
    return ranking_auc(predictions.scores[:, lip_sync], aligned)


def test_planted_shift_needs_the_cross_modal_block(shift_data):
    with_block = held_out_auc(True, shift_data)
    without_block = held_out_auc(False, shift_data)
    assert with_block >= 0.9, f"with cross-modal attention: AUC {with_block:.3f}"
    assert without_block <= 0.65, f"pooled-only fusion: AUC {without_block:.3f}"
