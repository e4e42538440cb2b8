"""Business hours: when the team is open, and arithmetic in open time only.

Times are epoch seconds; opening hours are wall-clock times in the business's
time zone, so a day that gains or loses an hour at a DST change is as long as
its opening hours really are on that day.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# Looking further than this for an open moment means the calendar has none.
SEARCH_DAYS = 800


@dataclass(frozen=True)
class BusinessCalendar:
    """Opening hours per weekday (0 = Monday) in a time zone, less holidays.

    No hours at all means always open.
    """

    timezone: str = "UTC"
    hours: dict[int, tuple[tuple[time, time], ...]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()

    @property
    def always_open(self) -> bool:
        """Tell whether the business never closes."""
        return not self.hours

    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def _spans_from(self, at: float) -> Iterator[tuple[float, float]]:
        """Yield open spans (start, end) in epoch seconds that end after `at`, in order."""
        zone = self._zone()
        day = datetime.fromtimestamp(at, zone).date() - timedelta(days=1)
        for offset in range(SEARCH_DAYS):
            current = day + timedelta(days=offset)
            if current in self.holidays:
                continue
            for opens, closes in self.hours.get(current.weekday(), ()):
                start = datetime.combine(current, opens, zone).timestamp()
                end = datetime.combine(current, closes, zone).timestamp()
                if end > at and end > start:
                    yield max(start, at), end

    def is_open(self, at: float) -> bool:
        """Tell whether the business is open at `at`."""
        if self.always_open:
            return True
        span = next(self._spans_from(at), None)
        return span is not None and span[0] <= at < span[1]

    def next_open(self, at: float) -> float | None:
        """Return the next moment the business is open, `at` itself if open now."""
        if self.always_open:
            return at
        span = next(self._spans_from(at), None)
        return span[0] if span else None

    def add(self, start: float, seconds: float) -> float:
        """Return the moment `seconds` of open time after `start`."""
        if self.always_open or seconds <= 0:
            return start + max(seconds, 0)
        left = seconds
        for span_start, span_end in self._spans_from(start):
            length = span_end - span_start
            if left <= length:
                return span_start + left
            left -= length
        return float("inf")

    def open_seconds(self, start: float, end: float) -> float:
        """Return how many seconds the business is open between start and end."""
        if end <= start:
            return 0.0
        if self.always_open:
            return end - start
        total = 0.0
        for span_start, span_end in self._spans_from(start):
            if span_start >= end:
                break
            total += min(span_end, end) - span_start
        return total
