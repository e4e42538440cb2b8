"""Spans of time and moments in words people read, in Slack and in texts to customers."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

MINUTE, HOUR, DAY = 60, 3600, 86400


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def _units(seconds: float) -> tuple[tuple[str, int], ...]:
    if seconds < MINUTE:
        return (("second", 1),)
    if seconds < HOUR:
        return (("minute", MINUTE),)
    if seconds < 2 * DAY:
        return (("hour", HOUR), ("minute", MINUTE))
    return (("day", DAY), ("hour", HOUR))


def duration(seconds: float, *, round_up: bool = False) -> str:
    """Return a span of time in words: "8 seconds", "1 minute", "2 hours 5 minutes", "3 days".

    It is as precise as its size asks (seconds under a minute, minutes under an
    hour, hours and minutes under two days, then days and hours), rounded to
    the nearest; round_up rounds up instead, for a promise ("within 2 minutes"
    for 90 s) that must not understate. Never less than 1 of its unit.
    """
    seconds = max(0.0, seconds)
    units = _units(seconds)
    step = units[-1][1]
    steps = math.ceil(seconds / step - 1e-9) if round_up else round(seconds / step)
    left = max(1, steps) * step
    units = _units(left)  # rounding may reach the next unit: 59.6 s is 1 minute
    parts = []
    for unit, size in units:
        count, left = divmod(left, size)
        if count:
            parts.append(_plural(int(count), unit))
    return " ".join(parts)


def local_time(at: float, tz: str, pattern: str = "%A %-I:%M %p") -> str:
    """Return a moment in the business's time zone, with the zone named: "Wednesday 9:00 AM EST"."""
    return datetime.fromtimestamp(at, ZoneInfo(tz)).strftime(f"{pattern} %Z")
