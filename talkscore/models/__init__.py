"""The advanced multi-task model, its losses and task weighting."""

from talkscore.models.config import ModelConfig
from talkscore.models.ensemble import ModelEnsemble
from talkscore.models.network import ModelOutput, TalkingFaceQualityModel

__all__ = ["ModelConfig", "ModelEnsemble", "ModelOutput", "TalkingFaceQualityModel"]
