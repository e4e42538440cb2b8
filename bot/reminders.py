"""The response-time sweep: remind owners before targets slip, escalate when they do.

Each conversation whose clock runs has a wake-up time in one sorted set (the
next reminder level, or the next card refresh). The sweep claims the members
that are due with a short lease (one script, one round trip), then handles
each in the conversation's own transaction, which records the highest level
sent. So several sweeps at once, or a sweep that dies half-way, never send a
level twice and never lose one: a claimed member whose sweep died comes back
when its lease runs out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from bot import response, views
from bot.away import Availability
from bot.calendar import BusinessCalendar
from bot.clock import Clock
from bot.conversations import REFRESH, Change, Conversation, Conversations, SlackJob, notice
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


class Reminders:
    """Keep the wake-up schedule and run the sweep."""

    def __init__(
        self,
        conversations: Conversations,
        config: BatonConfig,
        clock: Clock,
        availability: Availability,
    ) -> None:
        self.availability = availability
        self.conversations = conversations
        self.redis = conversations.redis
        self.keys = conversations.keys
        self.config = config
        self.clock = clock
        self.calendar: BusinessCalendar = conversations.calendar
        self._claim = self.redis.register_script(_CLAIM)
        conversations.observers.append(self.schedule)

    def schedule(self, conv: Conversation, pipe: Any = None) -> None:
        """Set when the sweep must next look at conv, or drop it when nothing is awaited."""
        target = self.redis if pipe is None else pipe
        targets = self.config.targets_for(conv.queue)
        wake = response.next_wake(conv, targets, self.calendar, self.clock.now())
        if wake is None:
            target.zrem(self.keys.wake, conv.number)
        else:
            target.zadd(self.keys.wake, {str(conv.number): wake})

    def sweep(self) -> SweepReport:
        """Handle every conversation whose wake-up time has come; safe to run anywhere, at once."""
        woken = sent = 0
        while True:
            now = self.clock.now()
            due = self._claim(keys=[self.keys.wake], args=[now, now + LEASE_SECONDS, BATCH])
            for member in due:
                woken += 1
                sent += self._wake(int(member))
            if len(due) < BATCH:
                return SweepReport(woken, sent)

    def _wake(self, number: int) -> int:
        conv = self.conversations.get(number)
        if conv is None:  # erased meanwhile
            self.redis.zrem(self.keys.wake, number)
            return 0
        now = self.clock.now()
        if not response.crossed(conv, self.config.targets_for(conv.queue), self.calendar, now):
            # Most wake-ups only refresh the card's due time: no state changes, so
            # no transaction; the reminder levels are decided inside one below.
            self.conversations.post_to_thread(number, REFRESH)
            self.schedule(conv)
            return 0
        levels: list[int] = []

        def decide(conv: Conversation) -> Change:
            now = self.clock.now()
            targets = self.config.targets_for(conv.queue)
            levels[:] = response.crossed(conv, targets, self.calendar, now)
            due_at = response.reply_due_at(conv, targets, self.calendar)
            jobs = [REFRESH]
            for level in levels:
                jobs += self._messages(conv, level, due_at, now)
            return Change(replace(conv, reminded=max([conv.reminded, *levels])), jobs=jobs)

        change = self.conversations.update(number, decide)
        if not change.ok:  # erased meanwhile
            self.redis.zrem(self.keys.wake, number)
            return 0
        if levels:
            self.conversations.count("reminders_sent", len(levels))
            logger.info(
                "#%d reminders sent: %s",
                number,
                ", ".join(response.LEVEL_NAMES[lv] for lv in levels),
            )
        return len(levels)

    def _messages(
        self, conv: Conversation, level: int, due_at: float | None, now: float
    ) -> list[SlackJob]:
        away = self.availability.away(conv.owner) if conv.owner else None
        if away is not None:
            # The owner is away: their reminders go to the cover person, else to the queue.
            conv = replace(conv, owner=away.cover)
        text = views.reminder(conv, level, due_at, now)
        if level == response.ESCALATE or conv.owner is None:
            jobs = [SlackJob("channel", {"text": text})]
            if level == response.ESCALATE:
                jobs.append(notice(text))
                queue = self.config.queue(conv.queue)
                if queue is not None and queue.on_call and queue.on_call != conv.owner:
                    jobs.append(
                        SlackJob("dm", {"user": queue.on_call, "text": f"{text} You are on call."})
                    )
            return jobs
        if level == response.WARN:
            return [SlackJob("dm", {"user": conv.owner, "text": text})]
        return [notice(text)]
