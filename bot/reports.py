"""Reports: the figures that tell whether ownership works, for a period and a scope.

``Reports.compute(period, scope)`` returns a ``Report`` (the period's figures,
the previous period's, one line per queue and per person, and the patterns to
watch); ``bot.views.reports`` renders it. ``/sms report`` and the weekly digest
both use this pair. Everything is read from the aggregates (``bot.aggregates``):
two round trips per period, whatever the number of conversations.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import redis

from bot.aggregates import Aggregates, Tallies
from bot.store import Keys
from bot.tally import SCORES
from bot.values import Conversation

# The patterns to watch, and the figures past which they apply.
REASSIGNMENT_WATCH = 0.20  # share of conversations whose owner changed
RESOLUTION_WATCH = 24 * 3600  # median time to resolution, seconds
UNANSWERED_WATCH = 0.05  # share of unanswered stretches that went 24 h
LONGEST_PERIOD = 366  # days a report may span


@dataclass(frozen=True)
class Period:
    """Whole business days, first to last inclusive."""

    first: date
    last: date
    name: str = ""  # how it was asked for: today, 7d, week, …

    @property
    def length(self) -> int:
        """Return how many days the period spans."""
        return (self.last - self.first).days + 1

    def days(self) -> list[str]:
        """Return each day as YYYY-MM-DD."""
        return [(self.first + timedelta(days=i)).isoformat() for i in range(self.length)]

    def previous(self) -> Period:
        """Return the period of the same length just before (a calendar week or month before)."""
        if self.name == "week":
            return Period(self.first - timedelta(days=7), self.last - timedelta(days=7), "week")
        if self.name == "month":
            last_month_end = self.first - timedelta(days=1)
            first = last_month_end.replace(day=1)
            return Period(first, min(first + timedelta(days=self.length - 1), last_month_end))
        return Period(self.first - timedelta(days=self.length), self.first - timedelta(days=1))


class BadPeriod(ValueError):
    """A period typed wrong; the message is the word."""


def parse_period(word: str, today: date) -> Period:
    """Return the period a person typed: today, 7d, 30d, week, month or YYYY-MM-DD..YYYY-MM-DD.

    Raises BadPeriod (wrong form), or ValueError with a sentence (a range that cannot be).
    """
    word = word.lower()
    if word == "today":
        return Period(today, today, word)
    if word in ("7d", "30d"):
        return Period(today - timedelta(days=int(word[:-1]) - 1), today, word)
    if word == "week":
        return Period(today - timedelta(days=today.weekday()), today, word)
    if word == "month":
        return Period(today.replace(day=1), today, word)
    if ".." in word:
        start, _, end = word.partition("..")
        try:
            first, last = date.fromisoformat(start), date.fromisoformat(end)
        except ValueError:
            raise BadPeriod(word) from None
        return Period(first, last, word)
    raise BadPeriod(word)


@dataclass(frozen=True)
class Scope:
    """Which conversations a report covers: all, a queue's, or a person's."""

    queue: str | None = None
    person: str | None = None

    def holds(self, queue: str, person: str) -> bool:
        """Tell whether figures counted under (queue, person) are in scope."""
        return (self.queue is None or queue == self.queue) and (
            self.person is None or person == self.person
        )


def median(values: Sequence[int]) -> float | None:
    """Return the median (the mean of the middle two for an even count), or None."""
    return statistics.median(values) if values else None


def percentile(values: Sequence[int], share: float) -> float | None:
    """Return the nearest-rank percentile: the smallest value at or above share of them."""
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[max(math.ceil(share * len(ordered)), 1) - 1])


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class Figures:
    """The numbers of one period and scope (a whole report, one queue, or one person)."""

    conversations: int = 0  # distinct conversations active
    new: int = 0
    resolved: int = 0
    texts_in: int = 0
    texts_out: int = 0
    first: tuple[int, ...] = ()  # first response durations, seconds
    next: tuple[int, ...] = ()
    resolution: tuple[int, ...] = ()
    met: int = 0
    timed: int = 0  # responses that had a due time
    reassigned: int = 0  # distinct conversations whose owner changed person
    reassignments: int = 0
    stretches: int = 0
    unanswered: int = 0  # stretches that went 24 h without a human reply
    ratings: dict[str, int] = field(default_factory=dict)

    @property
    def first_median(self) -> float | None:
        return median(self.first)

    @property
    def first_p90(self) -> float | None:
        return percentile(self.first, 0.9)

    @property
    def next_median(self) -> float | None:
        return median(self.next)

    @property
    def resolution_median(self) -> float | None:
        return median(self.resolution)

    @property
    def met_share(self) -> float | None:
        return _share(self.met, self.timed)

    @property
    def reassignment_rate(self) -> float | None:
        return _share(self.reassigned, self.conversations)

    @property
    def reassignment_mean(self) -> float | None:
        """Return the mean number of owner changes per conversation."""
        return _share(self.reassignments, self.conversations)

    @property
    def unanswered_rate(self) -> float | None:
        return _share(self.unanswered, self.stretches)

    @property
    def rating_count(self) -> int:
        return sum(self.ratings.values())

    @property
    def csat(self) -> float | None:
        """Return the share of ratings that are 4 or 5."""
        return _share(self.ratings.get("4", 0) + self.ratings.get("5", 0), self.rating_count)

    @property
    def rating_mean(self) -> float | None:
        total = sum(int(score) * n for score, n in self.ratings.items())
        return _share(total, self.rating_count)


def figures(tallies: Tallies, holds: Callable[[str, str], bool]) -> Figures:
    """Return the figures of the (queue, person) pairs holds accepts."""
    counts: dict[str, int] = {}
    for (metric, queue, person), n in tallies.counts.items():
        if holds(queue, person):
            counts[metric] = counts.get(metric, 0) + n

    def durations(kind: str) -> tuple[int, ...]:
        return tuple(
            sorted(
                s
                for (k, q, p), values in tallies.durations.items()
                if k == kind and holds(q, p)
                for s in values
            )
        )

    def distinct(kind: str) -> int:
        found: set[int] = set()
        for (k, q, p), numbers in tallies.sets.items():
            if k == kind and holds(q, p):
                found |= numbers
        return len(found)

    return Figures(
        conversations=distinct("active"),
        new=counts.get("new", 0),
        resolved=counts.get("resolved", 0),
        texts_in=counts.get("texts_in", 0),
        texts_out=counts.get("texts_out", 0),
        first=durations("first"),
        next=durations("next"),
        resolution=durations("resolution"),
        met=counts.get("met", 0),
        timed=counts.get("timed", 0),
        reassigned=distinct("reassigned"),
        reassignments=counts.get("reassignments", 0),
        stretches=counts.get("stretches", 0),
        unanswered=counts.get("unanswered_24h", 0),
        ratings={s: counts[f"rated:{s}"] for s in SCORES if counts.get(f"rated:{s}")},
    )


@dataclass(frozen=True)
class Line:
    """One queue's or one person's figures."""

    name: str  # the queue's name, or the person's Slack user ID
    figures: Figures


@dataclass(frozen=True)
class Pattern:
    """A pattern to watch that applies, and the figure that triggered it."""

    kind: str  # reassignment, resolution or unanswered
    figures: Figures


@dataclass(frozen=True)
class Report:
    """Everything a report shows."""

    period: Period
    previous_period: Period
    scope: Scope
    figures: Figures
    previous: Figures
    open_now: int
    queues: tuple[Line, ...]
    people: tuple[Line, ...]
    patterns: tuple[Pattern, ...]


def patterns_in(current: Figures) -> tuple[Pattern, ...]:
    """Return the patterns to watch that the figures show."""
    found = []
    if (current.reassignment_rate or 0) >= REASSIGNMENT_WATCH:
        found.append(Pattern("reassignment", current))
    if (current.resolution_median or 0) >= RESOLUTION_WATCH:
        found.append(Pattern("resolution", current))
    if (current.unanswered_rate or 0) >= UNANSWERED_WATCH:
        found.append(Pattern("unanswered", current))
    return tuple(found)


class Reports:
    """Compute reports from the aggregates."""

    def __init__(
        self, redis_client: redis.Redis, keys: Keys, aggregates: Aggregates, timezone: str
    ) -> None:
        self.redis = redis_client
        self.keys = keys
        self.aggregates = aggregates
        self.zone = ZoneInfo(timezone)

    def today(self, now: float) -> date:
        """Return the business day of now."""
        return datetime.fromtimestamp(now, self.zone).date()

    def compute(self, period: Period, scope: Scope) -> Report:
        """Return the report of period for scope, with the previous period's figures beside it."""
        previous_period = period.previous()
        tallies = self.aggregates.read(period.days(), scope.holds)
        before = self.aggregates.read(previous_period.days(), scope.holds)
        current = figures(tallies, scope.holds)
        queues = sorted({q for q, _p in tallies.combos()})
        people = sorted({p for _q, p in tallies.combos() if p})
        return Report(
            period=period,
            previous_period=previous_period,
            scope=scope,
            figures=current,
            previous=figures(before, scope.holds),
            open_now=self.aggregates.open_now(scope.holds),
            queues=tuple(
                Line(q, figures(tallies, lambda qq, pp, q=q: qq == q and scope.holds(qq, pp)))
                for q in queues
            ),
            people=tuple(
                Line(p, figures(tallies, lambda qq, pp, p=p: pp == p and scope.holds(qq, pp)))
                for p in people
            ),
            patterns=patterns_in(current),
        )

    def figures(self, period: Period, scope: Scope) -> Figures:
        """Return the figures of period for scope alone."""
        return figures(self.aggregates.read(period.days(), scope.holds), scope.holds)

    def conversations(self, period: Period, scope: Scope) -> list[Conversation]:
        """Return every conversation active in the period for scope, by number."""
        tallies = self.aggregates.read(period.days(), scope.holds)
        numbers: set[int] = set()
        for (kind, _q, _p), found in tallies.sets.items():
            if kind == "active":
                numbers |= found
        ordered = sorted(numbers)
        with self.redis.pipeline(transaction=False) as pipe:
            for number in ordered:
                pipe.hgetall(self.keys.conversation(number))
            raw = pipe.execute()
        return [Conversation.from_fields(r) for r in raw if r]
