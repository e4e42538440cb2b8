"""How far behind an outbox is: its backlog, its oldest waiting work, its dead letters.

Read from the outbox's work stream and consumer group, so any process can
answer /healthz and /metrics for the workers of every process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from bot.clock import Clock
from bot.store import OutboxKeys


@dataclass(frozen=True)
class Health:
    """How far behind an outbox is, as /healthz and /metrics show it."""

    backlog: int  # work entries waiting or in progress
    oldest_pending: float  # seconds the oldest of them has waited; 0 when there is none
    dead_letters: int  # jobs given up on, as kept in the dead-letter stream


def group_of(client: redis.Redis, keys: OutboxKeys) -> dict[str, Any] | None:
    """Return the outbox's consumer group (XINFO), or None before there is one."""
    try:
        groups = client.xinfo_groups(keys.work)
    except redis.ResponseError:  # no work stream yet
        return None
    return next((g for g in groups if g["name"] == keys.group), None)


def backlog(client: redis.Redis, keys: OutboxKeys, group: dict[str, Any] | None = None) -> int:
    """Return how many work entries wait for delivery (new plus in progress)."""
    group = group if group is not None else group_of(client, keys)
    lag = group.get("lag") if group is not None else None
    if group is None or lag is None:
        # No group yet, or Redis before 7 (no lag): entries are deleted as
        # they are acknowledged, so the stream holds just the backlog.
        return int(client.xlen(keys.work))
    return int(group["pending"]) + int(lag)


def health(client: redis.Redis, keys: OutboxKeys, clock: Clock) -> Health:
    """Return the backlog, how long its oldest work has waited, and the dead letters kept.

    The oldest work is the oldest entry pending (read, not yet acknowledged)
    or the first one no worker has read yet. Work entry ids are the
    milliseconds Redis added them at, read against the given clock.
    """
    group = group_of(client, keys)
    with client.pipeline(transaction=False) as pipe:
        if group is not None:
            pipe.xpending(keys.work, keys.group)
        last = group["last-delivered-id"] if group is not None else None
        pipe.xrange(keys.work, min=f"({last}" if last else "-", count=1)
        pipe.xlen(keys.dead)
        *pending, unread, dead_letters = pipe.execute()
    oldest = [entry_id for entry_id, _fields in unread]
    if pending and pending[0]["pending"]:
        oldest.append(pending[0]["min"])
    queued_at = min((int(entry_id.split("-")[0]) for entry_id in oldest), default=None)
    waited = 0.0 if queued_at is None else max(0.0, clock.now() - queued_at / 1000)
    return Health(backlog(client, keys, group), waited, int(dead_letters))
