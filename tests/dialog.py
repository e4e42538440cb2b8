"""The cast of dialog tests: the customer and teammates (standins.actors), and a clock tests move."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from standins.actors import (
    BUSINESS_NUMBER,
    PUBLIC_URL,
    Customer,
    Teammate,
    command_payload,
    eventually,
    new_sid,
    shape,
)

__all__ = [
    "BUSINESS_NUMBER",
    "PUBLIC_URL",
    "Customer",
    "Teammate",
    "TestClock",
    "command_payload",
    "eventually",
    "new_sid",
    "ny",
    "shape",
]


class TestClock:
    """A clock the test moves by hand; starts on a weekday morning, business hours."""

    __test__ = False

    def __init__(self, start: float = 1_794_927_600.0) -> None:  # Tue 2026-11-17 10:00 New York
        self.current = start

    def now(self) -> float:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += seconds


def ny(*args: int) -> float:
    """Return the epoch seconds of a New York wall-clock moment (the test business's zone)."""
    return datetime(*args, tzinfo=ZoneInfo("America/New_York")).timestamp()
