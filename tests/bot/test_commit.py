"""The commit engine: racing changes, and changes read before a card was recorded."""

from __future__ import annotations

from dataclasses import replace

from bot.change import Change
from bot.values import Conversation
from tests.bot.domain import ADMIN, GENERAL, event_kinds, new_conversation, notices, outbox, race


def test_a_card_posted_after_a_transfer_is_not_taken_for_the_new_channels_card(
    conversations, redis_server, keys, inbound_texts
):
    new_conversation(inbound_texts)  # delivery is posting its card in general…
    assert conversations.transfer(1, ADMIN, "sales", "Summary").ok  # …when it moves to sales

    conversations.card_posted(1, GENERAL, "1700000000.000100")

    assert conversations.get(1).card_ts is None  # the sales card is still to be posted
    assert conversations.find_by_thread(GENERAL, "1700000000.000100").number == 1


def test_a_change_read_before_the_card_was_recorded_is_decided_again(
    conversations, inbound_texts, commits
):
    new_conversation(inbound_texts)
    seen: list[str | None] = []

    def decide(conv: Conversation) -> Change:
        seen.append(conv.card_ts)
        if len(seen) == 1:  # delivery records the card between this read and its commit
            conversations.card_posted(1, GENERAL, "1700000000.000100")
        return Change(replace(conv, tags=(*conv.tags, "billing")))

    assert commits.update(1, decide).ok

    assert seen == [None, "1700000000.000100"]
    conv = conversations.get(1)
    assert (conv.card_ts, "billing" in conv.tags) == ("1700000000.000100", True)


def test_racing_claims_have_exactly_one_winner(conversations, redis_server, keys, inbound_texts):
    new_conversation(inbound_texts)
    users = [f"U0RACER{i}" for i in range(8)]

    changes = race(8, lambda i: conversations.claim(1, users[i]))

    winners = [users[i] for i, change in enumerate(changes) if change.ok]
    assert len(winners) == 1
    [winner] = winners
    assert conversations.get(1).owner == winner
    for user, change in zip(users, changes, strict=True):
        if user != winner:
            assert change.refused == f"<@{winner}> already claimed #1."
    assert event_kinds(conversations, 1).count("claimed") == 1
    assert notices(outbox(redis_server, keys, 1)) == [f"<@{winner}> claimed #1."]
    assert conversations.get(1).version == 2


def test_fields_at_their_default_are_not_stored_and_a_field_set_back_is_deleted(
    conversations, redis_server, keys, inbound_texts, commits
):
    new_conversation(inbound_texts)
    stored = redis_server.hgetall(keys.conversation(1))
    assert "owner" not in stored and "card_ts" not in stored and stored["status"] == "open"
    assert "" not in stored.values()
    assert not {"rating", "reminded", "used", "reassignments"} & set(stored), "zero: not stored"

    assert commits.update(1, lambda conv: Change(replace(conv, reminded=2))).ok
    assert redis_server.hget(keys.conversation(1), "reminded") == "2"
    assert commits.update(1, lambda conv: Change(replace(conv, reminded=0))).ok
    assert not redis_server.hexists(keys.conversation(1), "reminded")
    assert conversations.get(1).reminded == 0

    assert commits.update(1, lambda conv: Change(replace(conv, owner="U0ALEX"))).ok
    assert redis_server.hget(keys.conversation(1), "owner") == "U0ALEX"
    assert commits.update(1, lambda conv: Change(replace(conv, owner=None))).ok
    assert not redis_server.hexists(keys.conversation(1), "owner")
    conv = conversations.get(1)
    assert conv.owner is None and conv.card_ts is None
    assert Conversation.from_fields(conv.to_stored()[0]) == conv


def test_a_reply_an_older_baton_decided_on_is_not_decided_again_and_a_new_one_is_recorded(
    redis_server, keys, inbound_texts, commits
):
    new_conversation(inbound_texts)
    redis_server.sadd(keys.decided_before(1), "1700000000.000200")  # an older Baton's set

    again = commits.update(1, lambda conv: Change(conv, decided_ts="1700000000.000200"))
    assert again.result == "duplicate"
    assert commits.update(1, lambda conv: Change(conv, decided_ts="1700000000.000300")).ok
    assert redis_server.hkeys(keys.decided(1)) == ["1700000000.000300"]
    assert redis_server.smembers(keys.decided_before(1)) == {"1700000000.000200"}
    again = commits.update(1, lambda conv: Change(conv, decided_ts="1700000000.000300"))
    assert again.result == "duplicate"
