"""Counters every process shares (in Redis), so /metrics tells the same story whichever process answers."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import redis

from bot.store import Keys

logger = logging.getLogger(__name__)

COUNTERS = {
    "texts_in": "Customer texts stored (Twilio retries not counted)",
    "texts_out": "Texts sent to customers through Twilio",
    "texts_failed": "Texts Twilio refused or could not take",
    "slack_posts": "Messages posted to Slack by delivery",
    "delivery_retries": "Slack calls retried by delivery (5xx, 429, network)",
    "sms_retries": "Twilio sends retried by the SMS outbox (5xx, 429, network)",
    "reminders_sent": "Response-time reminders and escalations sent",
    "auto_replies": "After-hours automatic replies",
}
# Counted for each outbox ("slack", "sms"), labelled with its name in /metrics.
PER_OUTBOX = {
    "dead_letters": "Jobs an outbox gave up on (dead-lettered): refused for a reason only a person can fix",
}


class Counters:
    """Count events in one Redis hash; counting never fails the work it counts."""

    def __init__(self, redis_client: redis.Redis, keys: Keys) -> None:
        self.redis = redis_client
        self.keys = keys

    def add(
        self, name: str, amount: int = 1, *, pipe: Any = None, outbox: str | None = None
    ) -> None:
        """Add amount to counter name (of outbox, for a PER_OUTBOX one), now or in a caller's pipeline."""
        field = name if outbox is None else f"{name}:{outbox}"
        if pipe is not None:
            pipe.hincrby(self.keys.metrics, field, amount)
            return
        try:
            self.redis.hincrby(self.keys.metrics, field, amount)
        except redis.RedisError:
            logger.warning("could not count %s", field)

    def read(self) -> dict[str, int]:
        """Return every counter's value (0 when never counted)."""
        raw = self.redis.hgetall(self.keys.metrics)
        return {name: int(raw.get(name, 0)) for name in COUNTERS}

    def read_per_outbox(self, outboxes: Iterable[str]) -> dict[str, dict[str, int]]:
        """Return each PER_OUTBOX counter's value for each of outboxes (0 when never counted)."""
        raw = self.redis.hgetall(self.keys.metrics)
        names = list(outboxes)
        return {
            name: {outbox: int(raw.get(f"{name}:{outbox}", 0)) for outbox in names}
            for name in PER_OUTBOX
        }
