"""The outbox engine on its own: a real Redis and a plain perform function, nothing of Slack.

Its lanes here belong to an outbox named "sms", as the SMS outbox's will.
"""

from __future__ import annotations

import pytest
import redis

from bot.metrics import Counters
from bot.outbox import Job, Outbox, Stuck, Transient, conversation_lane, queue_lane
from bot.store import Keys


@pytest.fixture
def keys(redis_prefix: str) -> Keys:
    return Keys(redis_prefix)


class Performer:
    """Do jobs by writing them down; fail each job as its fields say, once."""

    def __init__(self) -> None:
        self.done: list[tuple[str, str, bool]] = []

    def perform(self, job: Job) -> bool:
        self.done.append((job.lane, job.fields["n"], job.again))
        fail = job.fields.get("fail")
        if fail == "transient" and not job.again:
            raise Transient("not this time")
        if fail == "stuck" and not job.again:
            raise Stuck("not in channel")
        return job.kind != "refresh"


def outbox(redis_server: redis.Redis, keys: Keys, performer: Performer) -> Outbox:
    return Outbox(
        "sms",
        redis_server,
        keys,
        performer.perform,
        Counters(redis_server, keys),
        must_deliver=frozenset({"text"}),
        coalesced=frozenset({"refresh"}),
        done_counter="texts_out",
        retry_counter="delivery_retries",
        max_backoff=0.01,
        stuck_backoff=0.01,
    )


def test_each_lane_is_done_in_order_and_a_retry_is_told_its_job_was_in_flight(
    redis_server: redis.Redis, keys: Keys
) -> None:
    performer = Performer()
    sms = outbox(redis_server, keys, performer)
    sales, twelve = queue_lane("sales"), conversation_lane(12)
    sms.put(sales, {"kind": "text", "n": "1"}, {"kind": "text", "n": "2", "fail": "transient"})
    sms.put(twelve, {"kind": "text", "n": "3"})
    sms.run_until_idle()
    assert performer.done == [
        (sales, "1", False),
        (sales, "2", False),
        (sales, "2", True),
        (twelve, "3", False),
    ]
    counted = Counters(redis_server, keys).read()
    assert (counted["texts_out"], counted["delivery_retries"]) == (3, 1)
    assert sms.backlog() == 0
    names = keys.outboxes("sms")
    assert redis_server.xlen(names.outbox(sales)) == 0, "done jobs keep nothing"
    assert redis_server.hget(names.state(sales), "inflight") is None
    assert not redis_server.exists(keys.work), "the Slack outbox's work is its own"


def test_stuck_jobs_are_skipped_unless_they_must_be_delivered_and_refreshes_coalesce(
    redis_server: redis.Redis, keys: Keys
) -> None:
    performer = Performer()
    sms = outbox(redis_server, keys, performer)
    lane = queue_lane("sales")
    sms.put(
        lane,
        {"kind": "notice", "n": "1", "fail": "stuck"},
        {"kind": "text", "n": "2", "fail": "stuck"},
        {"kind": "refresh", "n": "3"},
        {"kind": "refresh", "n": "4"},
    )
    sms.run_until_idle()
    assert performer.done == [
        (lane, "1", False),  # skipped: a person must fix it, and nothing waits for it
        (lane, "2", False),
        (lane, "2", True),  # held up until done
        (lane, "4", False),  # the later refresh does for both
    ]
