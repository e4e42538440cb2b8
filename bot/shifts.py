"""Shift changes: summarise the outgoing shift for the incoming one and hand its conversations over.

A tick (run every minute by the clock) compares each queue's shift on duty
with the one recorded in Redis; swapping the record is one atomic step, so
exactly one process sees each change, and a clock that was down sees it when
it comes back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot import views
from bot.away import Availability
from bot.clock import Clock
from bot.conversations import Conversations
from bot.lanes import queue_lane
from bot.outbox_queue import OutboxQueue
from bot.overview import Overview
from bot.rota import Duty, duty_key, next_duty, on_duty
from bot.routing import pick_on_duty
from config import BatonConfig, Queue

logger = logging.getLogger(__name__)

_SWAP = """
local old = redis.call('GET', KEYS[1])
if old == ARGV[1] then return {0, old} end
redis.call('SET', KEYS[1], ARGV[1])
return {1, old or ''}
"""


@dataclass(frozen=True)
class OnCall:
    """Who is on duty in a queue now and next."""

    queue: Queue
    now: Duty | None
    next: Duty | None


class Shifts:
    """Run shift changes and answer who is on call."""

    def __init__(
        self,
        conversations: Conversations,
        overview: Overview,
        availability: Availability,
        outbox: OutboxQueue,
        config: BatonConfig,
        clock: Clock,
    ) -> None:
        self.conversations = conversations
        self.overview = overview
        self.availability = availability
        self.outbox = outbox
        self.config = config
        self.clock = clock
        self.redis = conversations.redis
        self.keys = conversations.keys
        self._swap = self.redis.register_script(_SWAP)

    def on_call(self, queue: Queue) -> OnCall:
        """Return who is on shift in queue now and who comes next."""
        now = self.clock.now()
        tz = self.config.business.timezone
        return OnCall(queue, on_duty(queue, now, tz), next_duty(queue, now, tz))

    def pick(self, duty: Duty | None) -> str | None:
        """Return the person on duty who should take a conversation: present and least loaded."""
        if duty is None:
            return None
        owners = self.conversations.open_owners()
        return pick_on_duty(duty.users, self.availability.is_away, owners.count)

    def tick(self) -> list[str]:
        """Hand over every queue whose shift changed since the last tick; return their names."""
        changed = []
        for queue in self.config.queues:
            if not queue.shifts:
                continue
            duty = on_duty(queue, self.clock.now(), self.config.business.timezone)
            swapped, previous = self._swap(keys=[self.keys.duty(queue.name)], args=[duty_key(duty)])
            if swapped and previous:  # the first tick ever only records the shift
                self.hand_over(queue, duty)
                changed.append(queue.name)
        return changed

    def hand_over(self, queue: Queue, duty: Duty | None) -> None:
        """Summarise the queue's open conversations for the incoming shift and move the shift's."""
        active = [c for c in self.conversations.active() if c.queue == queue.name]
        summary = views.shift_summary(
            queue.name, duty, [self.overview.listed(c) for c in active], self.conversations.messages
        )
        # Written now, before the hand-over below changes the owners it lists.
        self.outbox.put(
            queue_lane(queue.name),
            {"kind": "shift_summary", "channel": queue.channel, "text": summary},
        )
        incoming = self.pick(duty)
        for conv in active:
            if conv.assigned_by == "shift" and conv.owner != incoming:
                self.conversations.hand_over(
                    conv.number, incoming, note=f"shift change in {queue.name}"
                )
        logger.info("shift change in %s: %d open conversations", queue.name, len(active))
