"""Store helpers on a real Redis, and the key names."""

from __future__ import annotations

import redis

from bot.store import Keys, delete_prefix


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


def test_outbox_keys_keep_one_slot_per_lane_and_slacks_old_names() -> None:
    slack = Keys("baton").outboxes("slack")
    assert (slack.work, slack.group) == ("baton:{delivery}:work", "slack-delivery")
    assert [slack.outbox("c:12"), slack.state("c:12"), slack.lock("c:12")] == [
        "baton:{c:12}:outbox",
        "baton:{c:12}:delivery",
        "baton:{c:12}:lock",
    ]
    assert Keys("baton").outbox(12) == slack.outbox("c:12")
    sms = Keys("baton").outboxes("sms")
    assert (sms.work, sms.group) == ("baton:{sms-delivery}:work", "sms-delivery")
    assert [sms.outbox("q:sales"), sms.state("q:sales"), sms.lock("q:sales")] == [
        "baton:{q:sales}:sms-outbox",
        "baton:{q:sales}:sms-delivery",
        "baton:{q:sales}:sms-lock",
    ]
    # Dead letters: one stream per outbox, in a slot of its own.
    assert (slack.dead, sms.dead) == ("baton:{slack-dead}:letters", "baton:{sms-dead}:letters")
