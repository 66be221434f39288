"""Training: the engine (`Trainer`), label and preference data sets, the train/evaluate
workflow, run logs and plots, metrics, degradations and synthetic data.

Nothing on the scoring path imports this package.
"""

from talkscore.training.engine import (
    CHECKPOINT_DIR,
    Predictions,
    RankingPair,
    TrainConfig,
    Trainer,
    TrainResult,
)

__all__ = ["CHECKPOINT_DIR", "Predictions", "RankingPair", "TrainConfig", "TrainResult", "Trainer"]
