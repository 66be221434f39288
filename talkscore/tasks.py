"""The names that every part of talkscore agrees on: tasks, modalities and the score scale."""

from __future__ import annotations

#: The five quality dimensions, in the order of every score vector and CSV column.
TASKS: tuple[str, ...] = ("lip_sync", "expression", "audio_quality", "cross_modal", "overall")

#: The per-frame modality streams the default model reads: "sync" is the learned sync scorer's
#: frame-level output (`talkscore.sync.scorer`), "pose" the head motion
#: (`talkscore.extractors.keypoints.head_motion`).
MODALITIES: tuple[str, ...] = ("visual", "audio", "keypoint", "au", "sync", "pose")

#: The task that summarises the others; the consistency regulariser leaves it out.
OVERALL_TASK = "overall"

#: Default score scale: 1 (bad) .. 5 (excellent), higher is better.
SCORE_MIN = 1.0
SCORE_MAX = 5.0

#: Label of every task on an untouched real recording (what a clean, real video scores).
CLEAN_LABEL = 4.6

#: A label equal to this (or NaN) means "no label" for that task.
MISSING_LABEL = -1.0
