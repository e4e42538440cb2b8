"""The report aggregates in Redis: written by each commit, read by reports and /metrics.

Every key lives in the ``{rep}`` hash slot (see ``Keys.report_day`` and its
neighbours), so the commit's Lua script adds to them in the same step as the
events it counts. Per business day:

- one hash of counts, field ``metric|queue|person`` (person "" is nobody);
- one string per ``kind|queue|person`` of durations in whole seconds, each
  followed by a comma (APPEND), so percentiles come from the durations
  themselves, merged over any days, queues and people;
- one set per ``kind|queue|person`` of conversation numbers (active,
  reassigned), so a conversation seen on several days counts once.

Each duration and set member also counts ``kind|queue|person`` in the day's
hash, so one HGETALL per day tells which of the other keys exist.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import redis

from bot.store import Keys
from bot.tally import Ledger

# Upper bounds of the /metrics histograms, in seconds.
BUCKETS = {
    "first": (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800),
    "resolution": (900, 3600, 14400, 28800, 86400, 172800, 259200, 604800, 1209600, 2592000),
}
DURATIONS = ("first", "next", "resolution")
SETS = ("active", "reassigned")

Call = Callable[..., Any]


def write(ledger: Ledger, keys: Keys, call: Call) -> None:
    """Turn a ledger into Redis writes: call(command, key, *args) for each."""
    for day, metric, queue, person, amount in ledger.counts:
        call("HINCRBY", keys.report_day(day), f"{metric}|{queue}|{person}", amount)
        if metric.startswith("rated:"):
            call("HINCRBY", keys.report_totals, f"rated|{metric[6:]}", amount)
    for day, kind, queue, person, seconds in ledger.durations:
        call("APPEND", keys.report_durations(day, kind, queue, person), f"{seconds},")
        call("HINCRBY", keys.report_day(day), f"{kind}|{queue}|{person}", 1)
        if kind in BUCKETS:
            bound = next((b for b in BUCKETS[kind] if seconds <= b), "+Inf")
            call("HINCRBY", keys.report_totals, f"{kind}|{queue}|{bound}", 1)
            call("HINCRBY", keys.report_totals, f"{kind}|{queue}|sum", seconds)
    for day, kind, queue, person, number in ledger.members:
        call("SADD", keys.report_set(day, kind, queue, person), number)
        call("HINCRBY", keys.report_day(day), f"{kind}|{queue}|{person}", 1)
    for queue, person, delta in ledger.open:
        call("HINCRBY", keys.report_open, f"{queue}|{person}", delta)


@dataclass
class Tallies:
    """Aggregates read back for some days, summed, by (name, queue, person)."""

    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    durations: dict[tuple[str, str, str], list[int]] = field(
        default_factory=lambda: defaultdict(list)
    )
    sets: dict[tuple[str, str, str], set[int]] = field(default_factory=lambda: defaultdict(set))

    def combos(self) -> set[tuple[str, str]]:
        """Return every (queue, person) seen."""
        return {(q, p) for _n, q, p in self.counts}


@dataclass(frozen=True)
class Histogram:
    """One /metrics histogram: non-cumulative counts per upper bound, and the sum."""

    buckets: dict[str, int]
    total: int


class Aggregates:
    """Read the report aggregates."""

    def __init__(self, redis_client: redis.Redis, keys: Keys) -> None:
        self.redis = redis_client
        self.keys = keys

    def read(self, days: Iterable[str], want: Callable[[str, str], bool]) -> Tallies:
        """Return the aggregates of days for the (queue, person) pairs want accepts.

        Two round trips whatever the number of days: the days' counts, then the
        durations and sets of the pairs wanted.
        """
        days = list(days)
        with self.redis.pipeline(transaction=False) as pipe:
            for day in days:
                pipe.hgetall(self.keys.report_day(day))
            hashes = pipe.execute()
        tallies = Tallies()
        fetch: list[tuple[str, str, str, str]] = []
        for day, raw in zip(days, hashes, strict=True):
            for name, value in raw.items():
                metric, queue, person = name.split("|", 2)
                if not want(queue, person):
                    continue
                tallies.counts[(metric, queue, person)] += int(value)
                if metric in DURATIONS or metric in SETS:
                    fetch.append((day, metric, queue, person))
        with self.redis.pipeline(transaction=False) as pipe:
            for day, kind, queue, person in fetch:
                if kind in DURATIONS:
                    pipe.get(self.keys.report_durations(day, kind, queue, person))
                else:
                    pipe.smembers(self.keys.report_set(day, kind, queue, person))
            found = pipe.execute()
        for (_day, kind, queue, person), value in zip(fetch, found, strict=True):
            if kind in DURATIONS:
                tallies.durations[(kind, queue, person)] += [
                    int(s) for s in (value or "").split(",") if s
                ]
            else:
                tallies.sets[(kind, queue, person)] |= {int(n) for n in value}
        return tallies

    def open_now(self, want: Callable[[str, str], bool]) -> int:
        """Return how many conversations are not closed now, of the pairs want accepts."""
        raw = self.redis.hgetall(self.keys.report_open)
        return sum(int(v) for name, v in raw.items() if want(*name.split("|", 1)) and int(v) > 0)

    def histograms(self, kind: str) -> dict[str, Histogram]:
        """Return a duration kind's all-time histogram per queue, for /metrics."""
        raw = self.redis.hgetall(self.keys.report_totals)
        per_queue: dict[str, dict[str, int]] = defaultdict(dict)
        for name, value in raw.items():
            metric, _, rest = name.partition("|")
            if metric != kind:
                continue
            queue, _, bound = rest.rpartition("|")
            per_queue[queue][bound] = int(value)
        return {
            queue: Histogram({b: n for b, n in values.items() if b != "sum"}, values.get("sum", 0))
            for queue, values in per_queue.items()
        }

    def ratings(self) -> dict[str, int]:
        """Return how many ratings of each score were ever given, for /metrics."""
        raw = self.redis.hgetall(self.keys.report_totals)
        return {score: int(raw.get(f"rated|{score}", 0)) for score in ("1", "2", "3", "4", "5")}

    def keys_of(self) -> Iterable[str]:
        """Yield every aggregate key (what a backfill replaces)."""
        yield from self.redis.scan_iter(match=f"{self.keys.prefix}:{{rep}}:*", count=1000)
