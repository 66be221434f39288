"""talkscore: multi-dimensional, explainable quality scores for talking-face videos."""

from talkscore.tasks import MODALITIES, TASKS

__version__ = "0.1.0"

__all__ = ["MODALITIES", "TASKS", "__version__"]
