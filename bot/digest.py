"""The weekly digest: last week's report, posted to reports.channel once per week.

Every clock ticks every minute. A tick finds the latest digest time that has
passed (``reports.digest``, like mon 09:00 in the business's zone) and the
Monday-to-Sunday week before it, and queues that week's digest in the Slack
outbox's digest lane with ``OutboxQueue.put_once``: claiming the week and queueing
the job are one Redis step, so however many clocks tick, one queues it. The
outbox then posts it once (in flight marking and message metadata, like every
post), the chart upload included.

A clock that was down when the digest was due queues it when it comes back;
only the latest due week is ever queued, since each digest shows the week
before it beside its own. A digest time from before the first tick ever (the
digest was just switched on) is not caught up: the first digest is the next
one due.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import redis

from bot.clock import Clock
from bot.outbox_queue import OutboxQueue
from bot.reports import Figures, Period, Report, Reports, Scope
from bot.store import Keys
from config import BatonConfig

logger = logging.getLogger(__name__)

LANE = "digest"
# How long a week's claim is kept: well past the week after it, whose tick no longer looks back.
CLAIM_KEPT = 60 * 86400
# A digest job that waited this long with no worker on it lost its wake-up (a crash): wake one.
WAKE_AFTER = 60.0


@dataclass(frozen=True)
class Digest:
    """What a digest shows: the week's report and each day's figures for the chart."""

    report: Report
    # Monday to Sunday of the week; None for the days still to come (so far).
    days: tuple[tuple[date, Figures | None], ...]
    so_far: bool  # this week until today, asked for with /sms digest


class Digests:
    """Queue the weekly digest once per week (and now, to try it)."""

    def __init__(
        self,
        redis_client: redis.Redis,
        keys: Keys,
        reports: Reports,
        outbox: OutboxQueue,
        config: BatonConfig,
        clock: Clock,
    ) -> None:
        self.redis = redis_client
        self.keys = keys
        self.reports = reports
        self.outbox = outbox
        self.config = config
        self.clock = clock
        self.zone = ZoneInfo(config.business.timezone)

    def due(self, now: float) -> tuple[float, Period] | None:
        """Return the digest time that passed last and its week, or None when there is no digest."""
        digest = self.config.reports.digest
        if digest is None or self.config.reports.channel is None:
            return None
        today = datetime.fromtimestamp(now, self.zone).date()
        due_day = today - timedelta(days=(today.weekday() - digest.weekday) % 7)
        if datetime.combine(due_day, digest.at, self.zone).timestamp() > now:
            due_day -= timedelta(days=7)
        due_at = datetime.combine(due_day, digest.at, self.zone).timestamp()
        # The Monday-to-Sunday week before the digest's own.
        last = due_day - timedelta(days=due_day.weekday() + 1)
        return due_at, Period(last - timedelta(days=6), last, "week")

    def tick(self) -> Period | None:
        """Queue the latest due week's digest unless it was queued; return the week if this did."""
        now = self.clock.now()
        found = self.due(now)
        if found is None:
            return None
        due_at, week = found
        self.redis.set(self.keys.digest_since, repr(now), nx=True)
        if due_at < float(self.redis.get(self.keys.digest_since) or now):
            return None  # due before the digest was switched on
        if self.outbox.put_once(LANE, week.first.isoformat(), self._job(week), CLAIM_KEPT):
            logger.info("weekly digest of %s..%s queued", week.first, week.last)
            return week
        self.outbox.wake_if_idle(LANE, WAKE_AFTER)
        return None

    def post_now(self) -> Period:
        """Queue this week's digest so far (Monday to today), to try it."""
        today = self.reports.today(self.clock.now())
        week = Period(today - timedelta(days=today.weekday()), today, "week")
        self.outbox.put(LANE, self._job(week, so_far=True))
        return week

    def _job(self, week: Period, so_far: bool = False) -> dict[str, str]:
        return {
            "kind": "digest",
            "channel": self.config.reports.channel or "",
            "first": week.first.isoformat(),
            "last": week.last.isoformat(),
            "so_far": "1" if so_far else "",
        }


def compose(reports: Reports, first: date, last: date, so_far: bool) -> Digest:
    """Return the digest of first..last: the report and the figures of each day of its week."""
    week = Period(first, last, "week")
    monday = first - timedelta(days=first.weekday())
    days = tuple(monday + timedelta(days=i) for i in range(7))
    return Digest(
        report=reports.compute(week, Scope()),
        days=tuple(
            (day, reports.figures(Period(day, day), Scope()) if day <= last else None)
            for day in days
        ),
        so_far=so_far,
    )
