"""Pacing: delivery keeps within Slack's rate limits instead of finding them with 429s.

Slack allows about one ``chat.postMessage`` a second per channel (short bursts
aside) and limits every other method per workspace by tier: Tier 2 20 calls a
minute, Tier 3 50, Tier 4 100 (https://api.slack.com/apis/rate-limits). Every
delivering process shares one budget per channel and per method in Redis, so
together they stay under the limits however many run.

A budget is a GCRA ("generic cell rate algorithm"): one key holds the time the
next call is due; a call may go when that time is not more than the burst
allowance away, and moves it on by the interval.

Within a channel, who posts next is decided, not raced for. Lanes wait for
their turn in the channel's *room*, ordered by when their job was queued, less
a head start for urgent conversations and new cards. At most SEATS lanes sit in
a room, their workers waiting; a lane that finds it full is *parked* in the
channel's queue, in the same order, and its worker goes on to other work
(``Parked``). A worker that was in a room takes the best parked lane there
next (``next_lanes``), and every worker now and then takes one for a room whose
workers all went away (a process killed). All of it is in one hash slot
(``{pace}``), so each step is one script.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

from bot.lanes import Deferred, Parked

# Calls a minute each tier allows a workspace (Slack's published floors).
TIERS = {2: 20.0, 3: 50.0, 4: 100.0}
# The methods delivery calls, by tier; chat.postMessage is paced per channel instead.
METHOD_TIERS = {
    "chat.update": 3,
    "chat.postEphemeral": 4,
    "chat.getPermalink": 4,
    "reactions.add": 3,
    "conversations.history": 3,
    "conversations.replies": 3,
    "conversations.open": 3,
    "files.getUploadURLExternal": 4,
    "files.completeUploadExternal": 4,
}
# chat.postMessage: one a second per channel; the burst allowed is none.
POST_INTERVAL = 1.0
# A tier's burst: this many calls may go at once before the pace applies.
TIER_BURST = 5
# Head starts in a channel's order: an urgent conversation's post goes before
# anything queued up to a minute after it, a new card before anything queued
# up to half a minute after it. Head starts, not absolute ranks: nothing waits
# for ever behind a stream of urgent work.
URGENT_HEAD_START = 60.0
NEW_CARD_HEAD_START = 30.0
# Lanes waiting with a worker in a room; the rest are parked.
SEATS = 2
# A seat whose worker has not checked in for this long is given up.
SEAT_ALIVE = 3.0
# How often a worker looks for rooms whose workers all went away.
ORPHANS_EVERY = 2.0

# Wait in a room (KEYS: the channel's due time, its seated lanes and their
# check-in deadlines, its parked lanes, and the set of rooms with parked lanes;
# ARGV: interval ms, the lane, its order, seats, seat lifetime ms, the channel).
# Returns 0: post now (the budget is taken); -1: parked; otherwise ms to wait.
# Both start the same: the time now in ms, and the seats of workers that stopped
# checking in given up (KEYS[seated], KEYS[alive]).
_SEATS_NOW = """
local function seats_now(seated, alive)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  for _, gone in ipairs(redis.call('ZRANGEBYSCORE', alive, '-inf', now)) do
    redis.call('ZREM', seated, gone)
    redis.call('ZREM', alive, gone)
  end
  return now
end
"""
ROOM_SCRIPT = (
    _SEATS_NOW
    + """
local now = seats_now(KEYS[2], KEYS[3])
local lane = ARGV[2]
local place = tonumber(ARGV[3])
local best = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
local behind = #best > 0 and tonumber(best[2]) < place
local seated = redis.call('ZSCORE', KEYS[2], lane)
if behind or (not seated and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4])) then
  -- a better lane waits parked, or every seat is taken: park, and let the worker go
  redis.call('ZREM', KEYS[2], lane)
  redis.call('ZREM', KEYS[3], lane)
  redis.call('ZADD', KEYS[4], 'NX', place, lane)
  redis.call('SADD', KEYS[5], ARGV[6])
  return -1
end
-- a lane parked here and woken again (a new text, a lost wake-up made good) leaves its place
if redis.call('ZREM', KEYS[4], lane) == 1 and redis.call('ZCARD', KEYS[4]) == 0 then
  redis.call('SREM', KEYS[5], ARGV[6])
end
if not seated then redis.call('ZADD', KEYS[2], place, lane) end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[5]), lane)
local due = tonumber(redis.call('GET', KEYS[1]) or '0')
local wait = math.max(due - now, 0)
if redis.call('ZRANGE', KEYS[2], 0, 0)[1] ~= lane then return math.max(wait, 20) end
if wait > 0 then return wait end
redis.call('SET', KEYS[1], now + tonumber(ARGV[1]), 'PX', tonumber(ARGV[1]) * 2 + 1000)
redis.call('ZREM', KEYS[2], lane)
redis.call('ZREM', KEYS[3], lane)
return 0
"""
)
# Seat the best lane parked in a room if a seat is free (KEYS: its seated lanes,
# their deadlines, its parked lanes, the set of rooms with parked lanes; ARGV:
# seat lifetime ms, the channel, the seats). Returns the lane or false.
PULL_SCRIPT = (
    _SEATS_NOW
    + """
local now = seats_now(KEYS[1], KEYS[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return false end
local best = redis.call('ZPOPMIN', KEYS[3])
if redis.call('ZCARD', KEYS[3]) == 0 then redis.call('SREM', KEYS[4], ARGV[2]) end
if #best == 0 then return false end
redis.call('ZADD', KEYS[1], best[2], best[1])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), best[1])
return best[1]
"""
)
# A workspace budget (KEYS: its due time; ARGV: interval ms, burst ms).
# Returns 0: go now (the budget is taken); otherwise ms to wait.
BUDGET_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local wait = due - tonumber(ARGV[2]) - now
if wait > 0 then return wait end
redis.call('SET', KEYS[1], due + tonumber(ARGV[1]), 'PX', tonumber(ARGV[1]) + tonumber(ARGV[2]) + 1000)
return 0
"""

# The lane a delivery worker is doing a job for, that job's order in a channel,
# and whether it may go after the jobs behind it rather than wait for a budget.
_serving: contextvars.ContextVar[tuple[str, float, bool] | None] = contextvars.ContextVar(
    "serving", default=None
)


def order(queued_at: float, *, urgent: bool = False, new_card: bool = False) -> float:
    """Return a job's place in a channel's order (lower goes first), in ms."""
    head_start = URGENT_HEAD_START if urgent else NEW_CARD_HEAD_START if new_card else 0.0
    return round((queued_at - head_start) * 1000)


@contextmanager
def serving(lane: str, place: float, *, deferrable: bool = False) -> Iterator[None]:
    """Wait in channels' rooms as lane, at place, for the paced calls made inside.

    A deferrable job raises Deferred instead of waiting for a method's budget.
    """
    token = _serving.set((lane, place, deferrable))
    try:
        yield
    finally:
        _serving.reset(token)


class Pacer:
    """Shared budgets and rooms in Redis; ``scale`` times Slack's rates (1 in production)."""

    def __init__(self, redis_client: redis.Redis, prefix: str, scale: float = 1.0) -> None:
        self.redis = redis_client
        self.prefix = f"{prefix}:{{pace}}"
        self.scale = scale
        self._room = redis_client.register_script(ROOM_SCRIPT)
        self._pull = redis_client.register_script(PULL_SCRIPT)
        self._budget = redis_client.register_script(BUDGET_SCRIPT)
        self._local = threading.local()
        self._orphans_at = 0.0

    def wait(self, method: str, channel: str | None) -> None:
        """Return once method may be called now; raise Parked if its lane was parked."""
        if method == "chat.postMessage" and channel:
            self._wait_in_room(channel)
        elif method in METHOD_TIERS:
            self._wait_for_budget(method)

    def _room_keys(self, channel: str) -> list[str]:
        room = f"{self.prefix}:room:{channel}"
        return [
            f"{self.prefix}:due:{channel}",
            f"{room}:seated",
            f"{room}:alive",
            f"{room}:parked",
            f"{self.prefix}:rooms",
        ]

    def _wait_in_room(self, channel: str) -> None:
        lane, place, _deferrable = _serving.get() or ("", time.time() * 1000, False)
        if not lane:
            lane = f"call:{threading.get_ident()}"
        interval = round(POST_INTERVAL * 1000 / self.scale)
        rooms: set[str] = self._local.__dict__.setdefault("rooms", set())
        rooms.add(channel)
        while True:
            wait = self._room(
                keys=self._room_keys(channel),
                args=[interval, lane, place, SEATS, round(SEAT_ALIVE * 1000), channel],
            )
            if wait == 0:
                return
            if wait < 0:
                raise Parked(f"waiting for its turn in {channel}")
            time.sleep(min(wait, 1000) / 1000)

    def _wait_for_budget(self, method: str) -> None:
        interval = 60_000 / (TIERS[METHOD_TIERS[method]] * self.scale)
        key = f"{self.prefix}:method:{method}"
        _lane, _place, deferrable = _serving.get() or ("", 0.0, False)
        while wait := self._budget(
            keys=[key], args=[round(interval), round(interval * TIER_BURST)]
        ):
            if deferrable:
                raise Deferred(f"{method} must wait {wait} ms")
            time.sleep(min(wait, 1000) / 1000)

    def next_lanes(self) -> list[str]:
        """Return lanes to drain next: the best parked in the rooms this worker was in.

        Now and then also one for each room whose workers all went away.
        """
        rooms: set[str] = self._local.__dict__.pop("rooms", set())
        if time.monotonic() >= self._orphans_at:
            self._orphans_at = time.monotonic() + ORPHANS_EVERY
            rooms |= set(self.redis.smembers(f"{self.prefix}:rooms"))
        return [lane for channel in rooms if (lane := self._pull_from(channel))]

    def _pull_from(self, channel: str) -> str | None:
        keys = self._room_keys(channel)[1:]
        lane = self._pull(keys=keys, args=[round(SEAT_ALIVE * 1000), channel, SEATS])
        return lane or None


class PacedClient:
    """A Slack WebClient whose Web API calls each wait for their budget first."""

    def __init__(self, client: Any, pacer: Pacer) -> None:
        self._client = client
        self._pacer = pacer

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)
        method = name.replace("_", ".", 1)
        if not callable(call) or (method not in METHOD_TIERS and method != "chat.postMessage"):
            return call

        def paced(*args: Any, **kwargs: Any) -> Any:
            self._pacer.wait(method, kwargs.get("channel"))
            return call(*args, **kwargs)

        return paced


def paced(client: Any, pacer: Pacer | None) -> Any:
    """Return client paced by pacer, or client itself when there is no pacer."""
    return client if pacer is None else PacedClient(client, pacer)
