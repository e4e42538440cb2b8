"""Store helpers on a real Redis."""

from __future__ import annotations

import redis

from bot.store import delete_prefix


def test_delete_prefix_removes_only_that_prefix_in_batches(
    redis_server: redis.Redis, redis_prefix: str
) -> None:
    neighbour = f"{redis_prefix}-neighbour"
    for index in range(12):
        redis_server.set(f"{redis_prefix}:key:{index}", index)
    redis_server.set(f"{neighbour}:key", "kept")
    try:
        assert delete_prefix(redis_server, redis_prefix, batch=5) == 12
        assert list(redis_server.scan_iter(match=f"{redis_prefix}:*")) == []
        assert redis_server.get(f"{neighbour}:key") == "kept"
    finally:
        redis_server.delete(f"{neighbour}:key")
