"""Span cutting shared by DNSMOS windows, long-video segments and timelines."""

from __future__ import annotations

from talkscore.spans import equal, sliding


def test_sliding_windows_cover_the_timeline_and_the_last_one_ends_at_the_end():
    assert sliding(10, 4, 3) == [(0, 4), (3, 7), (6, 10)]
    assert sliding(11, 4, 3) == [(0, 4), (3, 7), (6, 10), (7, 11)]
    assert sliding(3, 4, 3) == [(0, 3)]


def test_equal_windows_are_the_fewest_of_at_most_the_given_length():
    assert equal(10, 4) == [(0, 3), (3, 7), (7, 10)]
    assert equal(4, 4) == [(0, 4)] and equal(0, 4) == [(0, 0)]
    assert all(b - a <= 30 for a, b in equal(1000, 30)) and len(equal(1000, 30)) == 34
