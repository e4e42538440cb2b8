"""The cast of dialog tests: the customer and teammates (standins.actors), a clock tests move, and settle()."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import redis

from bot.digest import LANE as DIGEST_LANE
from bot.store import Keys
from standins.actors import (
    BUSINESS_NUMBER,
    PUBLIC_URL,
    Customer,
    Teammate,
    command_payload,
    eventually,
    new_sid,
    shape,
)

__all__ = [
    "BUSINESS_NUMBER",
    "PUBLIC_URL",
    "Customer",
    "Teammate",
    "TestClock",
    "command_payload",
    "eventually",
    "lane_done",
    "new_sid",
    "ny",
    "posted",
    "settle",
    "shape",
]


class TestClock:
    """A clock the test moves by hand; starts on a weekday morning, business hours."""

    __test__ = False

    def __init__(self, start: float = 1_794_927_600.0) -> None:  # Tue 2026-11-17 10:00 New York
        self.current = start

    def now(self) -> float:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += seconds


def ny(*args: int) -> float:
    """Return the epoch seconds of a New York wall-clock moment (the test business's zone)."""
    return datetime(*args, tzinfo=ZoneInfo("America/New_York")).timestamp()


def posted(client: redis.Redis, keys: Keys, number: int, outbox: str = "slack") -> bool:
    """Tell whether every job queued for conversation number in an outbox has been performed.

    Read from Redis, so it holds whichever process delivers: the cursor moves
    onto a job only once Slack (or Twilio) has answered for it.
    """
    return lane_done(client, keys, f"c:{number}", outbox)


def lane_done(client: redis.Redis, keys: Keys, lane: str, outbox: str = "slack") -> bool:
    """Tell whether every job queued in an outbox's lane has been performed."""
    names = keys.outboxes(outbox)
    last = client.xrevrange(names.outbox(lane), count=1)
    return not last or client.hget(names.state(lane), "cursor") == last[0][0]


def settle(app: Any, timeout: float = 10.0) -> None:
    """Wait until Baton has done all the work started so far: Slack listeners, then Slack posts.

    A test that asserts something did *not* happen calls this first, so that it
    can only pass because the work ran and left no trace, never because the work
    had not run yet.

    Bolt runs each listener on its ThreadPoolExecutor after the ack. That queue
    is first in, first out, so one barrier task per worker thread, all meeting
    at once, proves that every listener submitted before them has returned: no
    thread is left to be running one. (The pool starts a thread on each submit
    until it has max_workers, unless one is idle, so every barrier task gets a
    thread; were that ever not so, this would fail loudly, never pass.)

    Then delivery: with worker threads running, wait until every conversation's
    outbox is performed to its end (run_until_idle would race the workers for
    new work entries); without them, deliver here with run_until_idle.
    """
    executor = app.extensions["bolt"].listener_runner.listener_executor
    workers = executor._max_workers  # read only: how many threads the barrier must hold
    barrier = threading.Barrier(workers + 1, timeout=timeout)
    for _ in range(workers):
        executor.submit(barrier.wait)
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        raise AssertionError(f"Slack listeners still running after {timeout} s") from None
    baton = app.extensions["baton"]
    if not baton.delivery.threads:
        baton.texting.run_until_idle(timeout)
        baton.delivery.run_until_idle(timeout)
        return
    conversations = int(baton.redis.get(baton.keys.sequence) or 0)
    numbers = range(1, conversations + 1)
    eventually(
        lambda: (
            all(posted(baton.redis, baton.keys, n, "sms") for n in numbers)
            and all(posted(baton.redis, baton.keys, n) for n in numbers)
            and lane_done(baton.redis, baton.keys, DIGEST_LANE)
        ),
        timeout=timeout,
        message=f"texts or Slack posts still queued after {timeout} s",
    )
