"""The domain services one Baton process shares, built once by app.create_app."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from bot.away import Availability
from bot.clock import Clock
from bot.commit import Commits
from bot.contacts import Contacts
from bot.conversations import Conversations
from bot.customers import Customers
from bot.digest import Digests
from bot.inbound import Inbound
from bot.metrics import Counters
from bot.outbox import Outbox
from bot.outbox_health import Health
from bot.overview import Overview
from bot.people import People, Threads, Uploads
from bot.reminders import Reminders
from bot.replies import Replies
from bot.reports import Reports
from bot.retention import Retention
from bot.search import Index
from bot.shifts import Shifts
from bot.store import Keys
from bot.templates import Templates
from config import BatonConfig


@dataclass
class Baton:
    """Everything the handlers call into."""

    config: BatonConfig
    redis: redis.Redis
    keys: Keys
    clock: Clock
    conversations: Conversations
    inbound: Inbound
    replies: Replies
    delivery: Outbox  # to Slack
    texting: Outbox  # to customers, by SMS
    people: People
    overview: Overview
    reminders: Reminders
    contacts: Contacts
    customers: Customers
    availability: Availability
    counters: Counters
    shifts: Shifts
    templates: Templates
    uploads: Uploads
    index: Index  # the find index
    retention: Retention
    reports: Reports
    digests: Digests  # the weekly digest
    business_number: str
    commits: Commits
    threads: Threads  # a thread's conversation, even before delivery recorded its card

    def delivery_health(self) -> dict[str, Health]:
        """Return how far behind each outbox is, by its name."""
        return {outbox.name: outbox.health() for outbox in (self.delivery, self.texting)}

    def healthy(self) -> bool:
        """Tell whether the store takes a write (a PING alone passes on a read-only replica or a wrong node)."""
        try:
            return bool(self.redis.set(self.keys.health, repr(self.clock.now()), px=10_000))
        except redis.RedisError:
            return False
