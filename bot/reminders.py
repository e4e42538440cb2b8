"""The response-time sweep: remind owners before targets slip, escalate when they do.

Each conversation whose clock runs has a wake-up time in one sorted set (the
next reminder level, or the next card refresh). The sweep claims the members
that are due with a short lease (one script, one round trip per batch of
BATCH), reads the batch in one round trip, queues the card refreshes of those
that only need one in two more, and handles each that crossed a reminder level
in the conversation's own transaction, which records the highest level sent. So several sweeps at once, or a sweep that dies half-way, never send a
level twice and never lose one: a claimed member whose sweep died comes back
when its lease runs out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import redis

from bot import response, views
from bot.away import Availability, Away
from bot.calendar import BusinessCalendar
from bot.change import Change
from bot.clock import Clock
from bot.commit import Commits
from bot.conversations import Conversations
from bot.metrics import Counters
from bot.store import Keys
from bot.values import REFRESH, Conversation, SlackJob, direct, notice, to_channel
from bot.views import notices
from config import BatonConfig

logger = logging.getLogger(__name__)

LEASE_SECONDS = 30
BATCH = 500

_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], member) end
return due
"""


@dataclass(frozen=True)
class SweepReport:
    """What one sweep did."""

    woken: int
    reminders: int


class Schedule:
    """The wake-up schedule: when the sweep must next look at each conversation."""

    def __init__(
        self,
        redis_client: redis.Redis,
        keys: Keys,
        config: BatonConfig,
        calendar: BusinessCalendar,
        clock: Clock,
    ) -> None:
        self.redis = redis_client
        self.keys = keys
        self.config = config
        self.calendar = calendar
        self.clock = clock

    def __call__(self, conv: Conversation, pipe: Any = None) -> None:
        """Set when the sweep must next look at conv, or drop it when nothing is awaited."""
        self.many([conv], self.redis if pipe is None else pipe)

    def many(self, convs: list[Conversation], pipe: Any) -> None:
        """Set when the sweep must next look at each of convs, in one or two commands on pipe."""
        now = self.clock.now()
        wakes: dict[str, float] = {}
        dropped: list[int] = []
        for conv in convs:
            targets = self.config.targets_for(conv.queue)
            wake = response.next_wake(conv, targets, self.calendar, now)
            if wake is None:
                dropped.append(conv.number)
            else:
                wakes[str(conv.number)] = wake
        if wakes:
            pipe.zadd(self.keys.wake, wakes)
        if dropped:
            pipe.zrem(self.keys.wake, *dropped)


class Reminders:
    """Run the sweep over the wake-up schedule."""

    def __init__(
        self,
        conversations: Conversations,
        commits: Commits,
        schedule: Schedule,
        counters: Counters,
        availability: Availability,
    ) -> None:
        self.conversations = conversations
        self.commits = commits
        self.schedule = schedule
        self.counters = counters
        self.availability = availability
        self.redis = schedule.redis
        self.keys = schedule.keys
        self.config = schedule.config
        self.clock = schedule.clock
        self.calendar = schedule.calendar
        self._claim = self.redis.register_script(_CLAIM)

    def sweep(self) -> SweepReport:
        """Handle every conversation whose wake-up time has come; safe to run anywhere, at once."""
        woken = sent = 0
        while True:
            now = self.clock.now()
            due = self._claim(keys=[self.keys.wake], args=[now, now + LEASE_SECONDS, BATCH])
            woken += len(due)
            sent += self._wake([int(member) for member in due])
            if len(due) < BATCH:
                return SweepReport(woken, sent)

    def _wake(self, numbers: list[int]) -> int:
        """Handle a claimed batch: a few round trips for all of it, plus a commit per reminder."""
        if not numbers:
            return 0
        now = self.clock.now()
        erased: list[int] = []
        refreshed: list[Conversation] = []
        crossing: list[int] = []
        for number, conv in zip(numbers, self.conversations.get_many(numbers), strict=True):
            if conv is None:
                erased.append(number)
            elif response.unanswered_too_long(conv, now) or response.crossed(
                conv, self.config.targets_for(conv.queue), self.calendar, now
            ):
                crossing.append(number)
            else:
                refreshed.append(conv)

        def reschedule(pipe: Any) -> None:
            self.schedule.many(refreshed, pipe)
            if erased:
                pipe.zrem(self.keys.wake, *erased)

        # Most wake-ups only refresh the card's due time: no state changes, so
        # no transaction; the reminder levels are decided inside one below.
        self.commits.post_to_threads({conv.number: REFRESH for conv in refreshed}, reschedule)
        away: dict[str, Away | None] = {}
        return sum(self._remind(number, away) for number in crossing)

    def _remind(self, number: int, away: dict[str, Away | None]) -> int:
        """Send the reminder levels conversation number has crossed, once, in its commit."""
        levels: list[int] = []

        def decide(conv: Conversation) -> Change:
            now = self.clock.now()
            targets = self.config.targets_for(conv.queue)
            levels[:] = response.crossed(conv, targets, self.calendar, now)
            # A stretch unanswered for 24 hours is counted by this commit (bot.tally).
            due_at = response.reply_due_at(conv, targets, self.calendar)
            jobs = [REFRESH]
            for level in levels:
                jobs += self._messages(conv, level, due_at, now, away)
            return Change(replace(conv, reminded=max([conv.reminded, *levels])), jobs=jobs)

        change = self.commits.update(number, decide)
        if not change.ok:  # erased meanwhile
            self.redis.zrem(self.keys.wake, number)
            return 0
        if levels:
            self.counters.add("reminders_sent", len(levels))
            logger.info(
                "#%d reminders sent: %s",
                number,
                ", ".join(response.LEVEL_NAMES[lv] for lv in levels),
            )
        return len(levels)

    def _messages(
        self,
        conv: Conversation,
        level: int,
        due_at: float | None,
        now: float,
        known_away: dict[str, Away | None],
    ) -> list[SlackJob]:
        unclaimed = conv.owner is None
        away = None
        if conv.owner:
            # Looked up once per owner and batch: an owner with many slipping texts.
            if conv.owner not in known_away:
                known_away[conv.owner] = self.availability.away(conv.owner)
            away = known_away[conv.owner]
        if away is not None:
            # The owner is away: their reminders go to the cover person, else to the queue.
            conv = replace(conv, owner=away.cover)
        text = views.reminder(conv, level, due_at, now)
        if level == response.ESCALATE or conv.owner is None:
            jobs = [to_channel(text, claim_prompt=unclaimed)]
            if level == response.ESCALATE:
                jobs.append(notice(text))
                queue = self.config.queue(conv.queue)
                if queue is not None and queue.on_call and queue.on_call != conv.owner:
                    jobs.append(direct(queue.on_call, notices.on_call(text)))
            return jobs
        if level == response.WARN:
            return [direct(conv.owner, text)]
        return [notice(text)]
