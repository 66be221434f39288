"""The BT.1359 verdict and lip_sync ceiling of a measured audio-visual offset."""

import numpy as np
import pytest

from talkscore.sync.perception import (
    ACCEPTABLE_MS,
    MIN_CONFIDENCE,
    offset_ceiling,
    sync_verdict,
)

SURE = 0.4
RANGE = (1.0, 5.0)


@pytest.mark.parametrize(
    ("offset_ms", "verdict"),
    [
        (0.0, "in_sync"),
        (40.0, "in_sync"),
        (-120.0, "in_sync"),
        (60.0, "noticeable"),  # audio leading is noticed sooner than lagging
        (-160.0, "noticeable"),
        (100.0, "out_of_sync"),
        (-200.0, "out_of_sync"),
        (-480.0, "out_of_sync"),
    ],
)
def test_the_verdict_follows_the_human_thresholds(offset_ms, verdict):
    result = sync_verdict(offset_ms, SURE).to_dict()
    assert result["verdict"] == verdict
    assert result["offset_ms"] == offset_ms
    assert "audio leads" in result["convention"]


@pytest.mark.parametrize("confidence", [None, float("nan"), MIN_CONFIDENCE / 2])
def test_an_unreliable_offset_gets_no_verdict_and_no_ceiling(confidence):
    assert sync_verdict(-480.0, confidence).verdict == "uncertain"
    assert sync_verdict(None, SURE).verdict == "uncertain"
    assert offset_ceiling(-480.0, confidence, RANGE) == RANGE[1]


def test_the_ceiling_falls_with_the_offset_to_the_bottom_of_the_scale():
    lags = np.arange(0, 700, 10)
    for sign in (1, -1):
        ceilings = [offset_ceiling(sign * float(m), SURE, RANGE) for m in lags]
        assert np.all(np.diff(ceilings) <= 0)
        assert ceilings[0] == RANGE[1] and ceilings[-1] == RANGE[0]
    for acceptable in ACCEPTABLE_MS:
        assert offset_ceiling(acceptable, SURE, RANGE) == pytest.approx(3.0)
        assert offset_ceiling(2 * acceptable, SURE, RANGE) == pytest.approx(RANGE[0])
    assert offset_ceiling(100.0, SURE, RANGE) < offset_ceiling(-100.0, SURE, RANGE)


def test_the_ceiling_follows_the_scale():
    assert offset_ceiling(0.0, SURE, (0.0, 100.0)) == 100.0
    assert offset_ceiling(-1000.0, SURE, (0.0, 100.0)) == 0.0
    assert offset_ceiling(ACCEPTABLE_MS[1], SURE, (0.0, 100.0)) == pytest.approx(50.0)
