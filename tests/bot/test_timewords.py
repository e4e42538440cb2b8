"""Spans of time in words: plurals, rounding, and promises that never understate."""

from __future__ import annotations

import pytest

from bot.timewords import duration, local_time


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "1 second"),
        (8, "8 seconds"),
        (59.6, "1 minute"),
        (60, "1 minute"),
        (61, "1 minute"),
        (12 * 60, "12 minutes"),
        (3599.6, "1 hour"),
        (5400, "1 hour 30 minutes"),
        (2 * 86400 - 10, "2 days"),
        (3 * 86400 + 7200, "3 days 2 hours"),
    ],
)
def test_durations_are_words_with_their_plurals(seconds: float, words: str) -> None:
    assert duration(seconds) == words


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (30, "30 seconds"),
        (60, "1 minute"),
        (61, "2 minutes"),
        (90, "2 minutes"),
        (900, "15 minutes"),
    ],
)
def test_a_promise_is_rounded_up(seconds: float, words: str) -> None:
    assert duration(seconds, round_up=True) == words


def test_a_local_time_names_its_zone_summer_and_winter() -> None:
    assert local_time(1_794_927_600.0, "America/New_York") == "Tuesday 10:00 AM EST"
    assert local_time(1_783_000_000.0, "America/New_York").endswith(" EDT")
