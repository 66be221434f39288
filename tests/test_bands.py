"""What a score means: its band, and its interval kept on the scale."""

import pytest

from talkscore.bands import band, interval


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (1.0, "poor"),
        (1.99, "poor"),
        (2.0, "fair"),
        (3.5, "good"),
        (4.0, "excellent"),
        (5.0, "excellent"),
    ],
)
def test_a_score_falls_in_one_band_of_the_default_scale(score, expected):
    assert band(score) == expected


def test_bands_follow_other_scales_and_no_score_has_none():
    assert band(10.0, (0.0, 100.0)) == "poor" and band(80.0, (0.0, 100.0)) == "excellent"
    assert band(None) is None and interval(None, 0.2) is None


def test_the_interval_is_clipped_to_the_scale():
    assert interval(4.8, 0.3) == (pytest.approx(4.8 - 1.96 * 0.3), 5.0)
    assert interval(1.1, 0.5) == (1.0, pytest.approx(1.1 + 1.96 * 0.5))
    assert interval(3.0, 0.1) == (pytest.approx(2.804), pytest.approx(3.196))
