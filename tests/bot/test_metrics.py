"""Counters on a real Redis."""

from __future__ import annotations

import redis

from bot.metrics import Counters
from bot.store import Keys


def test_a_count_in_a_callers_pipeline_lands_with_its_writes(
    redis_server: redis.Redis, redis_prefix: str
) -> None:
    keys = Keys(redis_prefix)
    counters = Counters(redis_server, keys)
    counters.add("texts_in")
    with redis_server.pipeline(transaction=False) as pipe:
        pipe.set(f"{redis_prefix}:other", "1")
        counters.add("slack_posts", 2, pipe=pipe)
        assert counters.read()["slack_posts"] == 0  # queued, not yet sent
        pipe.execute()
    counted = counters.read()
    assert (counted["texts_in"], counted["slack_posts"]) == (1, 2)
