"""Away cover: while someone is away their reminders go to a cover person and nothing new is assigned to them."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from bot.clock import Clock
from bot.store import Keys

# Away with no end date still ends by itself, a long way off.
DEFAULT_AWAY = 30 * 86400


@dataclass(frozen=True)
class Away:
    """Someone away until a moment, covered by a person (or their queue)."""

    user: str
    until: float
    cover: str | None = None


class Availability:
    """Who is away, kept in Redis; away ends by itself at its time."""

    def __init__(self, redis_client: redis.Redis, keys: Keys, clock: Clock) -> None:
        self.redis = redis_client
        self.keys = keys
        self.clock = clock

    def away(self, user: str) -> Away | None:
        """Return user's away, or None when they are here."""
        raw = self.redis.hgetall(self.keys.away(user))
        if not raw or float(raw["until"]) <= self.clock.now():
            return None
        return Away(user, float(raw["until"]), raw.get("cover") or None)

    def is_away(self, user: str) -> bool:
        """Tell whether user is away now."""
        return self.away(user) is not None

    def set_away(self, user: str, until: float | None, cover: str | None) -> Away:
        """Mark user away until a moment (default: a month), covered by cover."""
        end = until if until is not None else self.clock.now() + DEFAULT_AWAY
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.away(user), mapping={"until": repr(end), "cover": cover or ""})
            pipe.zadd(self.keys.away_until, {user: end})
            pipe.execute()
        return Away(user, end, cover)

    def back(self, user: str) -> bool:
        """End user's away now; False if they were not away."""
        was = self.is_away(user)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.away(user))
            pipe.zrem(self.keys.away_until, user)
            pipe.execute()
        return was

    def ended(self) -> list[str]:
        """Return the people whose away has run out, each to one caller only."""
        now = self.clock.now()
        ended = []
        for user in self.redis.zrangebyscore(self.keys.away_until, "-inf", now):
            if self.redis.zrem(self.keys.away_until, user):  # only one process wins each
                self.redis.delete(self.keys.away(user))
                ended.append(user)
        return ended
