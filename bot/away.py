"""Away cover: while someone is away their reminders go to a cover person and nothing new is assigned to them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

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
        # Two slots (the person's and the directory's): one round trip, no transaction.
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(self.keys.away(user), mapping={"until": repr(end), "cover": cover or ""})
            pipe.zadd(self.keys.away_until, {user: end})
            pipe.execute()
        return Away(user, end, cover)

    def back(self, user: str) -> bool:
        """End user's away now; False if they were not away."""
        was = self.is_away(user)
        with self.redis.pipeline(transaction=False) as pipe:
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


WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def parse_until(text: str, now: float, timezone: str) -> float:
    """Return the moment a person means by text: "17:00", "tomorrow 9:00", "fri", "2026-12-01 08:30", "3h", "2d".

    A time alone means its next occurrence; a day alone means that day's start (00:00).
    Raises ValueError with the forms it understands.
    """
    words = text.lower().split()
    zone = ZoneInfo(timezone)
    local = datetime.fromtimestamp(now, zone)
    forms = 'use 17:00, "tomorrow 9:00", "fri 9:00", "2026-12-01 08:30", 3h or 2d'
    if len(words) == 1 and (match := re.fullmatch(r"(\d+)([hd])", words[0])):
        return now + int(match.group(1)) * (3600 if match.group(2) == "h" else 86400)
    day: date | None = None
    clock: time | None = None
    for word in words:
        if re.fullmatch(r"\d{1,2}:\d{2}", word):
            hour, minute = map(int, word.split(":"))
            if hour > 23 or minute > 59:
                raise ValueError(f"{word!r} is not a time of day; {forms}")
            clock = time(hour, minute)
        elif word == "today":
            day = local.date()
        elif word == "tomorrow":
            day = local.date() + timedelta(days=1)
        elif word[:3] in WEEKDAYS and word.isalpha():
            ahead = (WEEKDAYS.index(word[:3]) - local.weekday()) % 7 or 7
            day = local.date() + timedelta(days=ahead)
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", word):
            try:
                day = date.fromisoformat(word)
            except ValueError:
                raise ValueError(f"{word!r} is not a date; {forms}") from None
        else:
            raise ValueError(f"I can't read {word!r} as a time; {forms}")
    if day is None and clock is None:
        raise ValueError(f"Say until when; {forms}")
    if day is None:
        candidate = datetime.combine(local.date(), clock, zone)
        if candidate.timestamp() <= now:
            candidate = datetime.combine(local.date() + timedelta(days=1), clock, zone)
    else:
        candidate = datetime.combine(day, clock or time(0, 0), zone)
    if candidate.timestamp() <= now:
        raise ValueError("That moment has already passed.")
    return candidate.timestamp()
