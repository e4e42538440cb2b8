"""The real clock: to the millisecond, so every stored time is short."""

import time

from bot.clock import SystemClock
from bot.values import Conversation


def test_the_system_clock_keeps_milliseconds_and_stores_in_at_most_14_characters():
    before = time.time()
    now = SystemClock().now()
    after = time.time()
    assert before - 0.001 < now <= after
    assert now == round(now, 3)
    conv = Conversation(1, "+15550001111", "+15554000000", "general", "C1", created_at=now)
    stored = conv.to_fields()["created_at"]
    assert len(stored) <= 14 and float(stored) == now
