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


def test_a_per_outbox_counter_is_kept_for_each_outbox(
    redis_server: redis.Redis, redis_prefix: str
) -> None:
    counters = Counters(redis_server, Keys(redis_prefix))
    counters.add("dead_letters", outbox="slack")
    with redis_server.pipeline(transaction=False) as pipe:
        counters.add("dead_letters", 2, pipe=pipe, outbox="slack")
        pipe.execute()
    assert counters.read_per_outbox(["slack", "sms"]) == {"dead_letters": {"slack": 3, "sms": 0}}
    assert "dead_letters" not in counters.read()
