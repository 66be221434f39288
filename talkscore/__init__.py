"""talkscore: multi-dimensional, explainable quality scores for talking-face videos."""

from __future__ import annotations

import importlib
from typing import Any

from talkscore.tasks import MODALITIES, TASKS

__version__ = "0.1.0"

# torch-backed parts load on first use, so `talkscore --help` stays fast
_LAZY = {
    "load_scorer": "talkscore.scoring",
    "available_models": "talkscore.scoring",
    "score_video": "talkscore.scoring",
    "Scorer": "talkscore.scoring",
    "VideoScore": "talkscore.scoring",
    "load_model": "talkscore.checkpoint",
    "save_checkpoint": "talkscore.checkpoint",
}

__all__ = ["MODALITIES", "TASKS", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'talkscore' has no attribute {name!r}")
