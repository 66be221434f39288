"""The terminal table and the report show scores and diagnostics as people read them."""

import re

from talkscore.report.readable import diagnostic_rows, offset_text, score_cells
from talkscore.scoring import VideoScore
from talkscore.sync.perception import sync_verdict

DIAGNOSTICS = {
    "duration_s": 12.345678,
    "fps": 25.0,
    "face_coverage": 0.9876,
    "has_audio": True,
    "audio_peak_dbfs": -3.14159,
    "av_offset_ms": 40.0,
    "sync_scorer_offset_frames": -3,
    "sync_scorer_offset_ms": -120.0,
    "sync_scorer_confidence": 0.21740109247521172,
    "sync_verdict": sync_verdict(-120.0, 0.2174).to_dict(),
    "dnsmos": {"ovrl": 3.2111, "sig": 3.5, "bak": 4.0123, "p808": 3.6},
    "signals": {"head_speed": {"value": 1.0}},
    "realism": {"head_speed": {"value": 1.0}},
    "backends": {"visual": "quality", "audio": "spectral"},
}


def test_diagnostics_are_rounded_with_units_and_named_numbers():
    rows = dict(diagnostic_rows(DIAGNOSTICS))
    assert rows["duration scored"] == "12.3 s" and rows["fps"] == "25 fps"
    assert rows["face coverage"] == "99%" and rows["has audio"] == "yes"
    assert rows["audio peak"] == "-3.1 dBFS"
    assert rows["offset (correlation)"] == "+40 ms (audio leads)"
    assert rows["offset (sync scorer)"] == "-120 ms (audio lags)"
    assert rows["offset confidence (sync scorer)"] == "0.22"
    assert rows["sync verdict"].startswith("in sync")
    assert rows["DNSMOS"] == "OVRL 3.21, SIG 3.50, BAK 4.01, P808 3.60"
    assert not {"signals", "realism", "sync scorer offset frames"} & set(rows)
    assert not any(re.search(r"\d\.\d{4}", text) for text in rows.values())


def test_score_cells_give_the_band_and_an_interval_on_the_scale():
    result = VideoScore(
        video="v.mp4",
        model="default",
        scores={"lip_sync": 4.8, "audio_quality": None},
        std={"lip_sync": 0.4, "audio_quality": None},
        gates={},
        unscored={"audio_quality": "no audio track"},
    )
    assert score_cells(result, "lip_sync") == ("4.80", "excellent", "4.02 .. 5.00")
    assert score_cells(result, "audio_quality") == ("-", "-", "not scored: no audio track")
    assert offset_text(0.2) == "0 ms" and offset_text(None) == "-"
