"""The sandbox as the tests run it: on the session's Redis, under the test's own key prefix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from sandbox.server import Sandbox


@pytest.fixture
def sandbox(redis_server: redis.Redis, redis_prefix: str, tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(
        port=0,
        data_dir=tmp_path / "sandbox",
        redis=redis_server,
        redis_prefix=redis_prefix,
        status_delay=0.1,
        replay_pause=0.2,
    ) as running:
        yield running
