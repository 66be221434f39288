"""Scores and diagnostics as people read them (the terminal table and the report): rounded,
with units, named numbers instead of nested objects. Machines read `VideoScore.to_dict()`."""

from __future__ import annotations

import json
from typing import Any

from talkscore.jsonable import jsonable

#: diagnostics that repeat another one for machines (the frames of an offset given in ms; the
#: named signals, shown in their own table)
_SKIPPED = ("sync_scorer_offset_frames", "signals", "realism")
_LABELS = {
    "duration_s": "duration scored",
    "video_duration_s": "video duration",
    "audio_peak_dbfs": "audio peak",
    "av_offset_ms": "offset (correlation)",
    "av_offset_confidence": "offset confidence (correlation)",
    "sync_scorer_offset_ms": "offset (sync scorer)",
    "sync_scorer_confidence": "offset confidence (sync scorer)",
    "sync_scorer_zero_lag_confidence": "in-sync confidence (sync scorer)",
    "dnsmos": "DNSMOS",
}


def score_cells(result: Any, task: str) -> tuple[str, str, str]:
    """(score, band, 95% interval) of one task of a `VideoScore`, as text."""
    value = result.scores[task]
    if value is None:
        return "-", "-", f"not scored: {result.unscored[task]}"
    low, high = result.intervals[task]
    return f"{value:.2f}", result.bands[task], f"{low:.2f} .. {high:.2f}"


def offset_text(offset_ms: float | None) -> str:
    """An offset with its unit and its direction (offset > 0: audio leads)."""
    if offset_ms is None:
        return "-"
    if round(offset_ms) == 0:
        return "0 ms"
    side = "audio leads" if offset_ms > 0 else "audio lags"
    return f"{offset_ms:+.0f} ms ({side})"


def diagnostic_rows(diagnostics: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, value) rows of a video's diagnostics for people."""
    rows = []
    for key, value in diagnostics.items():
        if key in _SKIPPED:
            continue
        rows.append((_LABELS.get(key, key.replace("_", " ")), _value(key, value)))
    return rows


def _value(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "sync_verdict":
        return (
            f"{value['verdict'].replace('_', ' ')} (ITU-R BT.1359: noticed past +45 / -125 ms, "
            "accepted to +90 / -185 ms)"
        )
    if key == "dnsmos":
        return ", ".join(f"{name.upper()} {v:.2f}" for name, v in value.items())
    if key == "backends":
        return ", ".join(f"{name} {v}" for name, v in value.items())
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key.endswith("_ms"):
        return offset_text(value)
    if key.endswith("_s"):
        return f"{value:.1f} s"
    if key.endswith("_dbfs"):
        return f"{value:.1f} dBFS"
    if key == "face_coverage":
        return f"{100 * value:.0f}%"
    if key == "fps":
        return f"{value:g} fps"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, int | str):
        return str(value)
    return json.dumps(jsonable(value))
