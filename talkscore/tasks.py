"""The names that every part of talkscore agrees on: tasks, modalities and the score scale."""

from __future__ import annotations

#: The five quality dimensions, in the order of every score vector and CSV column.
TASKS: tuple[str, ...] = ("lip_sync", "expression", "audio_quality", "cross_modal", "overall")

#: The five per-frame modality streams the default model reads ("sync": the learned
#: sync scorer's frame-level outputs, see `talkscore.extractors.sync_scorer`).
MODALITIES: tuple[str, ...] = ("visual", "audio", "keypoint", "au", "sync")

#: The task that summarises the others; the consistency regulariser leaves it out.
OVERALL_TASK = "overall"

#: Default score scale: 1 (bad) .. 5 (excellent), higher is better.
SCORE_MIN = 1.0
SCORE_MAX = 5.0

#: A label equal to this (or NaN) means "no label" for that task.
MISSING_LABEL = -1.0
