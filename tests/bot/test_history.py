"""A conversation's texts and events: small in Redis, and still read from an older Baton's streams."""

from __future__ import annotations

from tests.bot.domain import ALEX, BLAIR, inbound, new_conversation


def test_a_conversations_texts_and_events_take_hundreds_of_bytes_not_a_stream_node_each(
    inbound_texts, conversations, redis_server, keys
):
    conv = new_conversation(inbound_texts, "Hi, could I move my cleaning to Thursday afternoon?")
    conversations.claim(conv.number, ALEX)
    stored = [keys.messages(conv.number), keys.events(conv.number)]
    used = sum(redis_server.memory_usage(key, samples=0) for key in stored)
    # A stream costs a node of stream-node-max-bytes (4 KB by default) however short it is.
    assert used < 800, used


def test_a_history_an_older_baton_kept_in_streams_is_read_then_kept_in_a_list_in_order(
    inbound_texts, conversations, redis_server, keys
):
    conv = new_conversation(inbound_texts, "first")
    conversations.claim(conv.number, ALEX)
    texts, events = conversations.messages(conv.number), conversations.events(conv.number)
    # As an older Baton left them: the same entries, in streams.
    for key, entries in (
        (keys.messages(conv.number), texts),
        (keys.events(conv.number), [e.to_fields() for e in events]),
    ):
        redis_server.delete(key)
        for entry in entries:
            redis_server.xadd(key, entry)
    assert conversations.messages(conv.number) == texts
    assert conversations.events(conv.number) == events

    inbound_texts.receive(inbound("second"))
    conversations.hand_off(conv.number, ALEX, BLAIR, "she asked about the price")
    assert [m["body"] for m in conversations.messages(conv.number)] == ["first", "second"]
    assert [e.kind for e in conversations.events(conv.number)] == [
        *(e.kind for e in events),
        "handed_off",
    ]
    assert redis_server.type(keys.messages(conv.number)) == "list"
    assert redis_server.type(keys.events(conv.number)) == "list"


def test_forgetting_scrubs_notes_from_a_history_an_older_baton_kept_in_a_stream(
    inbound_texts, conversations, redis_server, keys
):
    conv = new_conversation(inbound_texts, "my crown hurts")
    conversations.claim(conv.number, ALEX)
    conversations.hand_off(conv.number, ALEX, BLAIR, "crown hurts since Monday")
    events = conversations.events(conv.number)
    redis_server.delete(keys.events(conv.number))
    for event in events:
        redis_server.xadd(keys.events(conv.number), event.to_fields())

    assert conversations.forget(conv.number, BLAIR).ok
    after = conversations.events(conv.number)
    assert [(e.kind, e.who, e.at) for e in after[:-1]] == [(e.kind, e.who, e.at) for e in events]
    assert all(e.note == "" for e in after[:-1])
    assert "crown" not in str(redis_server.lrange(keys.events(conv.number), 0, -1))
    assert conversations.messages(conv.number) == []
