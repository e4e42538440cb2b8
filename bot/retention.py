"""Retention: erase the texts of conversations closed longer than the config's ``retention``.

Each conversation is erased by one commit (``Change.expire``): its texts keep
their direction, author and time but lose their body and media links, its
events keep who, when and what but lose their notes, its words leave the find
index, and it leaves the set of closed conversations whose texts are kept. The
commit checks the conversation's version, so a customer writing meanwhile (the
conversation reopens) or a second clock erasing it first makes this one
decide again, and find nothing left to do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import redis

from bot.change import Change
from bot.clock import Clock
from bot.commit import Commits
from bot.store import Keys
from bot.values import Conversation, Event
from config import BatonConfig

BATCH = 200  # conversations read at a time
MOST_BATCHES = 50  # per run: the clock's next run goes on with the rest


@dataclass(frozen=True)
class Erased:
    """How much one retention pass erased: counts only, never content."""

    conversations: int = 0
    texts: int = 0
    media: int = 0

    def __add__(self, other: Erased) -> Erased:
        return Erased(
            self.conversations + other.conversations,
            self.texts + other.texts,
            self.media + other.media,
        )


class Retention:
    """Erase closed conversations' texts once they are older than the retention period."""

    def __init__(
        self,
        redis_client: redis.Redis,
        keys: Keys,
        commits: Commits,
        config: BatonConfig,
        clock: Clock,
    ) -> None:
        self.redis = redis_client
        self.keys = keys
        self.commits = commits
        self.config = config
        self.clock = clock

    def sweep(self, batch: int = BATCH) -> Erased:
        """Erase the texts of every conversation closed longer than retention; return how much."""
        if self.config.retention is None:
            return Erased()
        total = Erased()
        for _ in range(MOST_BATCHES):
            cutoff = self.clock.now() - self.config.retention
            due = self.redis.zrangebyscore(self.keys.texts_kept, "-inf", cutoff, 0, batch)
            for number in due:
                total += self._expire(int(number), cutoff)
            if len(due) < batch:
                break
        return total

    def _expire(self, number: int, cutoff: float) -> Erased:
        counted: list[Erased] = []

        def decide(conv: Conversation | None) -> Change:
            # Read after the conversation: the commit's version check covers it.
            closed_at = self.redis.zscore(self.keys.texts_kept, number)
            if closed_at is None or closed_at > cutoff:
                return Change(conv, result="unchanged")  # erased by another clock, or reopened
            if conv is None or conv.status != "closed":
                self.redis.zrem(self.keys.texts_kept, number)  # a stale entry: nothing kept
                return Change(conv, result="unchanged")
            messages = self.commits.history.messages(number)
            counted[:] = [
                Erased(
                    1,
                    sum(1 for m in messages if m.get("body")),
                    sum(len(json.loads(m.get("media") or "[]")) for m in messages),
                )
            ]
            return Change(conv, events=[Event("expired", "baton", self.clock.now())], expire=True)

        change = self.commits.transact(number, decide)
        return counted[0] if change.ok and change.result != "unchanged" and counted else Erased()
