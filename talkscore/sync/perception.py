"""How people perceive an audio-visual offset (ITU-R BT.1359): a verdict and a lip_sync ceiling.

Sign convention (as everywhere in talkscore): offset > 0 means the audio leads the video, < 0
that it lags (comes late). People notice audio that leads sooner than audio that lags: BT.1359
puts detectability at +45 / -125 ms and acceptability at +90 / -185 ms.

The ceiling is a rule, not a fit: a confidently measured offset past the detectability limit
caps lip_sync, falling linearly from the top of the scale at detectability to its middle (3 on
1..5, the border of fair and good) at acceptability and to the bottom of the scale at twice the
acceptability limit. Offsets measured with a confidence below `MIN_CONFIDENCE` are not acted on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: ms: (audio leading, audio lagging) where people start to notice / stop accepting an offset
DETECTABLE_MS = (45.0, -125.0)
ACCEPTABLE_MS = (90.0, -185.0)
#: best-minus-median similarity of the sync scorer's lag curve below which its offset is not
#: trusted: the least confident real recording in the shared clips reads 0.12, the unreliable
#: peaks of a mouth that barely follows speech (DFA-NeRF on ADTH-QA) 0.02-0.06
MIN_CONFIDENCE = 0.1
#: the lip_sync ceiling at the acceptability limit, as a share of the scale above its bottom
FAIR_SHARE = 0.5

IN_SYNC, NOTICEABLE, OUT_OF_SYNC, UNCERTAIN = "in_sync", "noticeable", "out_of_sync", "uncertain"


@dataclass(frozen=True)
class SyncVerdict:
    """What people would make of a measured offset."""

    verdict: str  # in_sync | noticeable | out_of_sync | uncertain (offset not measured reliably)
    offset_ms: float | None
    confidence: float | None

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "offset_ms": self.offset_ms,
            "confidence": self.confidence,
            "convention": "offset_ms > 0: audio leads the video; < 0: audio lags",
            "thresholds_ms": {
                "detectable": {"audio_leads": DETECTABLE_MS[0], "audio_lags": DETECTABLE_MS[1]},
                "acceptable": {"audio_leads": ACCEPTABLE_MS[0], "audio_lags": ACCEPTABLE_MS[1]},
            },
            "min_confidence": MIN_CONFIDENCE,
        }


def reliable(offset_ms: float | None, confidence: float | None) -> bool:
    """Whether an offset was measured confidently enough to act on."""
    return (
        offset_ms is not None
        and confidence is not None
        and math.isfinite(offset_ms)
        and math.isfinite(confidence)
        and confidence >= MIN_CONFIDENCE
    )


def sync_verdict(offset_ms: float | None, confidence: float | None) -> SyncVerdict:
    """The BT.1359 verdict of an offset measured with `confidence`."""
    if not reliable(offset_ms, confidence):
        return SyncVerdict(UNCERTAIN, offset_ms, confidence)
    if _past(offset_ms, ACCEPTABLE_MS):
        verdict = OUT_OF_SYNC
    elif _past(offset_ms, DETECTABLE_MS):
        verdict = NOTICEABLE
    else:
        verdict = IN_SYNC
    return SyncVerdict(verdict, offset_ms, confidence)


def offset_ceiling(
    offset_ms: float | None, confidence: float | None, score_range: tuple[float, float]
) -> float:
    """The highest lip_sync a video with this offset can have (the top of the scale when the
    offset is within detectability or not measured reliably)."""
    low, high = score_range
    fair = low + FAIR_SHARE * (high - low)
    if not reliable(offset_ms, confidence):
        return high
    side = 0 if offset_ms > 0 else 1
    detectable, acceptable = abs(DETECTABLE_MS[side]), abs(ACCEPTABLE_MS[side])
    size = abs(offset_ms)
    if size <= detectable:
        return high
    if size <= acceptable:
        return high - (high - fair) * (size - detectable) / (acceptable - detectable)
    return max(low, fair - (fair - low) * (size - acceptable) / acceptable)


def _past(offset_ms: float, limits: tuple[float, float]) -> bool:
    return offset_ms > limits[0] or offset_ms < limits[1]
