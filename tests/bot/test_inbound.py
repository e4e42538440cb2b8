"""Customer texts and conversations people start: routing, reopening, opting out, after hours, races."""

from __future__ import annotations

from collections import Counter

import pytest

from bot import response
from bot.conversations import Conversations
from bot.views.notices import OPTED_IN as OPTED_IN_NOTICE
from bot.views.notices import OPTED_OUT as OPTED_OUT_NOTICE
from tests.bot.domain import (
    ADMIN,
    ALEX,
    BLAIR,
    BUSINESS,
    CALENDAR,
    CONFIG,
    CUSTOMER,
    GENERAL,
    OTHER_BUSINESS,
    SALES,
    TARGETS,
    build_commits,
    build_inbound,
    event_kinds,
    inbound,
    kinds,
    new_conversation,
    notices,
    outbox,
    race,
    recording,
    snapshot,
)
from tests.dialog import new_sid


def test_first_text_creates_conversation_1_unclaimed_in_the_default_queue(
    conversations, redis_server, keys, clock, inbound_texts
):
    change = inbound_texts.receive(inbound("Hello, is my crown ready?"))

    assert change.ok and change.result == "created" and change.reply is None
    conv = conversations.get(1)
    assert conv == change.conversation
    assert conv.ref == "#1"
    assert (conv.business_number, conv.customer_number) == (BUSINESS, CUSTOMER)
    assert (conv.queue, conv.channel) == ("general", GENERAL)
    assert conv.owner is None and conv.status == "open" and conv.tags == ("new",)
    assert conv.created_at == conv.last_inbound_at == clock.now()
    assert conv.awaiting and conv.waiting_since == clock.now() and not conv.replied
    assert conv.version == 1

    [event] = conversations.events(1)
    assert (event.kind, event.who, event.at, event.after) == (
        "created",
        "customer",
        clock.now(),
        "general",
    )
    jobs = outbox(redis_server, keys, 1)
    assert kinds(jobs) == ["card"]  # the first text is posted in the card: one post
    assert jobs[0]["body"] == "Hello, is my crown ready?"
    assert jobs[0]["sid"] == conversations.messages(1)[0]["sid"]
    [message] = conversations.messages(1)
    assert message["direction"] == "in" and message["body"] == "Hello, is my crown ready?"

    assert redis_server.get(keys.sequence) == "1"
    assert [c.number for c in conversations.active()] == [1]
    assert conversations.find_by_phone(BUSINESS, CUSTOMER) == conv
    assert redis_server.xlen(keys.work) >= 1, "a delivery worker must be woken"


def test_mms_media_is_kept_with_the_text_job(conversations, redis_server, keys, inbound_texts):
    media = (("https://api.twilio.com/m/1", "image/jpeg"), ("https://api.twilio.com/m/2", "a/b"))
    inbound_texts.receive(inbound("", media=media))
    [card] = outbox(redis_server, keys, 1)
    assert card["kind"] == "card" and "https://api.twilio.com/m/1" in card["media"]
    inbound_texts.receive(inbound("and these", media=media))
    text_job = outbox(redis_server, keys, 1)[1]
    assert text_job["kind"] == "text"
    assert "https://api.twilio.com/m/1" in text_job["media"] and "image/jpeg" in text_job["media"]


def test_a_repeated_message_sid_changes_nothing(conversations, redis_server, keys, inbound_texts):
    first = inbound("Is my crown ready?")
    inbound_texts.receive(first)
    inbound_texts.receive(inbound("And my bill?"))
    before = snapshot(conversations, redis_server, keys, 1)

    again = inbound_texts.receive(first)

    assert again.ok and again.result == "duplicate"
    assert snapshot(conversations, redis_server, keys, 1) == before
    assert len(conversations.messages(1)) == 2
    assert redis_server.get(keys.sequence) == "1"


def test_the_sids_an_older_baton_kept_in_a_set_still_refuse_a_repeat_and_its_set_is_left_alone(
    conversations, redis_server, keys, inbound_texts
):
    first, second = inbound("Is my crown ready?"), inbound("And my bill?")
    inbound_texts.receive(first)
    # As an older Baton stored it: the sid in a set under the name it used, not on the conversation.
    redis_server.hdel(keys.conversation(1), "in_sid")
    redis_server.sadd(keys.inbound_sids_before(1), first.sid)

    assert inbound_texts.receive(first).result == "duplicate"
    assert inbound_texts.receive(second).result == "appended"
    assert inbound_texts.receive(second).result == "duplicate"
    assert inbound_texts.receive(first).result == "duplicate"
    assert redis_server.smembers(keys.inbound_sids_before(1)) == {first.sid}
    assert not redis_server.exists(keys.inbound_sids(1))
    assert conversations.get(1).in_sid == second.sid
    assert len(conversations.messages(1)) == 2


def test_the_latest_texts_sid_is_kept_on_the_conversation_and_the_next_text_records_it(
    conversations, redis_server, keys, inbound_texts
):
    first, second, third = inbound("one"), inbound("two"), inbound("three")
    inbound_texts.receive(first)
    # One text: its sid is on the conversation, and there is no record of sids to keep.
    assert conversations.get(1).in_sid == first.sid
    assert not redis_server.exists(keys.inbound_sids(1))
    assert inbound_texts.receive(first).result == "duplicate"

    inbound_texts.receive(second)
    inbound_texts.receive(third)

    assert conversations.get(1).in_sid == third.sid
    assert sorted(redis_server.hkeys(keys.inbound_sids(1))) == sorted([first.sid, second.sid])
    assert [inbound_texts.receive(t).result for t in (first, second, third)] == ["duplicate"] * 3
    assert [m["body"] for m in conversations.messages(1)] == ["one", "two", "three"]


def test_numbers_are_sequential_without_gaps(conversations, redis_server, keys, inbound_texts):
    customers = [f"+1212736500{i}" for i in range(5)]
    numbers = [inbound_texts.receive(inbound(customer=c)).conversation.number for c in customers]
    assert numbers == [1, 2, 3, 4, 5]

    # Later texts of known customers, and duplicates, take no number.
    again = inbound_texts.receive(inbound("more", customer=customers[0]))
    assert again.result == "appended" and again.conversation.number == 1
    sid = new_sid()
    inbound_texts.receive(inbound(sid=sid, customer=customers[3]))
    inbound_texts.receive(inbound(sid=sid, customer=customers[3]))

    assert inbound_texts.receive(inbound(customer="+12127365999")).conversation.number == 6
    assert redis_server.get(keys.sequence) == "6"
    assert [conversations.get(n).number for n in range(1, 7)] == [1, 2, 3, 4, 5, 6]
    assert redis_server.get(keys.sequence) == "6"


def test_one_customer_texting_two_business_numbers_has_two_conversations(
    conversations, inbound_texts
):
    first = inbound_texts.receive(inbound(business=BUSINESS)).conversation
    second = inbound_texts.receive(inbound(business=OTHER_BUSINESS)).conversation
    assert (first.number, second.number) == (1, 2)
    assert conversations.find_by_phone(BUSINESS, CUSTOMER).number == 1
    assert conversations.find_by_phone(OTHER_BUSINESS, CUSTOMER).number == 2
    assert [c.number for c in conversations.find_by_customer(CUSTOMER)] == [1, 2]


def test_a_keyword_routes_the_first_text_to_its_queue(conversations, inbound_texts):
    conv = new_conversation(inbound_texts, "What's the price of a cleaning?")
    assert (conv.queue, conv.channel) == ("sales", SALES)
    assert "keyword price" in conversations.events(1)[0].note


def test_an_urgent_keyword_tags_the_conversation(conversations, clock, inbound_texts):
    conv = new_conversation(inbound_texts, "This is URGENT, my tooth fell out")
    assert "urgent" in conv.tags
    tagged = [e for e in conversations.events(1) if e.kind == "tagged"]
    assert [e.note for e in tagged] == ["+urgent"]
    due = response.reply_due_at(conv, TARGETS, conversations.calendar)
    assert due == clock.now() + 5 * 60


@pytest.mark.parametrize("status", ["closed", "pending"])
def test_a_customer_text_reopens_with_the_same_owner(
    conversations, redis_server, keys, status, inbound_texts
):
    new_conversation(inbound_texts)
    conversations.claim(1, ALEX)
    conversations.set_status(1, ALEX, status)

    change = inbound_texts.receive(inbound("One more question"))

    assert change.ok and change.result == "appended"
    conv = conversations.get(1)
    assert conv.status == "open" and conv.owner == ALEX
    reopened = [e for e in conversations.events(1) if e.kind == "reopened"]
    assert [(e.who, e.before, e.after) for e in reopened] == [("customer", status, "open")]
    assert "released" not in event_kinds(conversations, 1)
    assert kinds(outbox(redis_server, keys, 1))[-2:] == ["refresh", "text"]
    assert [c.number for c in conversations.active()] == [1]
    assert conv.awaiting and conv.waiting_since is not None


def test_a_customer_text_reopens_without_an_owner_who_is_away(
    redis_server, keys, clock, conversations, inbound_texts, commits
):
    new_conversation(inbound_texts)
    conversations.claim(1, ALEX)
    conversations.set_status(1, ALEX, "closed")
    away = build_inbound(redis_server, keys, commits, clock, is_available=lambda _user: False)

    away.receive(inbound("Hello again"))

    conv = conversations.get(1)
    assert conv.status == "open" and conv.owner is None
    released = conversations.events(1)[-1]
    assert (released.kind, released.who, released.before, released.note) == (
        "released",
        "baton",
        ALEX,
        "owner unavailable",
    )


def test_stop_opts_out_once_and_start_opts_back_in(
    conversations, redis_server, keys, inbound_texts
):
    new_conversation(inbound_texts)
    assert conversations.get(1).awaiting

    inbound_texts.receive(inbound("STOP", opt_change="out"))
    conv = conversations.get(1)
    assert conv.opted_out
    assert not conv.awaiting and conv.waiting_since is None, "a stop word awaits no reply"
    assert event_kinds(conversations, 1).count("opted_out") == 1
    assert OPTED_OUT_NOTICE in notices(outbox(redis_server, keys, 1))

    inbound_texts.receive(inbound("STOPALL", opt_change="out"))
    assert event_kinds(conversations, 1).count("opted_out") == 1
    assert notices(outbox(redis_server, keys, 1)).count(OPTED_OUT_NOTICE) == 1

    inbound_texts.receive(inbound("START", opt_change="in"))
    conv = conversations.get(1)
    assert not conv.opted_out and not conv.awaiting, "a start word awaits no reply either"
    assert event_kinds(conversations, 1).count("opted_in") == 1
    assert OPTED_IN_NOTICE in notices(outbox(redis_server, keys, 1))
    assert [m["body"] for m in conversations.messages(1)] == [
        "Hi there",
        "STOP",
        "STOPALL",
        "START",
    ]


def test_start_from_a_customer_who_never_opted_out_records_nothing(conversations, inbound_texts):
    new_conversation(inbound_texts)
    inbound_texts.receive(inbound("YES", opt_change="in"))
    assert "opted_in" not in event_kinds(conversations, 1)


def test_a_first_text_that_is_stop_creates_an_opted_out_conversation(conversations, inbound_texts):
    change = inbound_texts.receive(inbound("STOP", opt_change="out"))
    assert change.result == "created"
    assert change.conversation.opted_out and not change.conversation.awaiting
    assert event_kinds(conversations, 1) == ["created", "opted_out"]


def test_start_creates_a_conversation_the_person_owns(
    conversations, redis_server, keys, clock, inbound_texts
):
    change = inbound_texts.start(BUSINESS, CUSTOMER, ALEX)

    assert change.ok and change.result == "created"
    conv = conversations.get(1)
    assert conv.owner == ALEX and conv.status == "open" and "new" not in conv.tags
    assert not conv.awaiting, "nobody awaits a reply to a conversation we started"
    assert event_kinds(conversations, 1) == ["created", "claimed"]
    assert kinds(outbox(redis_server, keys, 1)) == ["card"]
    assert redis_server.get(keys.sequence) == "1"
    # The customer's answer lands in the same conversation.
    assert inbound_texts.receive(inbound("Thanks!")).conversation.number == 1


def test_start_claims_an_unclaimed_conversation(conversations, inbound_texts):
    new_conversation(inbound_texts)
    change = inbound_texts.start(BUSINESS, CUSTOMER, ALEX)
    assert change.ok and change.conversation.number == 1
    conv = conversations.get(1)
    assert conv.owner == ALEX and "new" not in conv.tags and conv.assigned_by == "claim"
    assert event_kinds(conversations, 1) == ["created", "claimed"]


def test_start_refuses_when_someone_else_owns_it(conversations, redis_server, keys, inbound_texts):
    new_conversation(inbound_texts)
    conversations.claim(1, BLAIR)
    before = snapshot(conversations, redis_server, keys, 1)

    change = inbound_texts.start(BUSINESS, CUSTOMER, ALEX)

    assert change.refused == "<@U0BLAIR> owns #1; ask them to hand it off before you text."
    assert snapshot(conversations, redis_server, keys, 1) == before


def test_start_on_my_open_conversation_changes_nothing(
    conversations, redis_server, keys, inbound_texts
):
    new_conversation(inbound_texts)
    conversations.claim(1, ALEX)
    before = snapshot(conversations, redis_server, keys, 1)

    change = inbound_texts.start(BUSINESS, CUSTOMER, ALEX)

    assert change.ok and change.result == "unchanged"
    assert snapshot(conversations, redis_server, keys, 1) == before


def test_start_on_my_closed_conversation_reopens_it(conversations, inbound_texts):
    new_conversation(inbound_texts)
    conversations.claim(1, ALEX)
    conversations.set_status(1, ALEX, "closed")

    assert inbound_texts.start(BUSINESS, CUSTOMER, ALEX).ok

    assert conversations.get(1).status == "open"
    status = conversations.events(1)[-1]
    assert (status.kind, status.before, status.after) == ("status", "closed", "open")


def test_after_hours_the_customer_is_answered_once_per_closed_period(
    conversations, clock, inbound_texts
):
    clock.advance(10 * 3600)  # Tue 20:00
    first = inbound_texts.receive(inbound("Are you open?"))
    assert first.reply is not None and "Acme Dental" in first.reply
    assert "Wednesday 9:00 AM" in first.reply
    second = inbound_texts.receive(inbound("Hello??"))
    assert second.reply is None
    outgoing = [m for m in conversations.messages(1) if m["direction"] == "out"]
    assert [m["author"] for m in outgoing] == ["baton"]


def test_fifty_racing_texts_from_one_customer_are_all_kept(
    conversations, redis_server, keys, inbound_texts
):
    sids = [new_sid() for _ in range(50)]

    changes = race(50, lambda i: inbound_texts.receive(inbound(f"text {i}", sid=sids[i])))

    assert all(change.ok for change in changes)
    assert Counter(change.result for change in changes) == {"created": 1, "appended": 49}
    assert {change.conversation.number for change in changes} == {1}
    assert redis_server.get(keys.sequence) == "1"
    messages = conversations.messages(1)
    assert sorted(m["sid"] for m in messages) == sorted(sids)
    jobs = outbox(redis_server, keys, 1)
    assert Counter(kinds(jobs)) == {"card": 1, "text": 49}
    assert kinds(jobs)[0] == "card", "the card, with the first text, is queued before any other"
    assert sorted(j["sid"] for j in jobs) == sorted(sids)
    assert event_kinds(conversations, 1) == ["created"]
    recorded = set(redis_server.hkeys(keys.inbound_sids(1)))
    assert len(recorded) == 49 and recorded | {conversations.get(1).in_sid} == set(sids)
    conv = conversations.get(1)
    assert conv.version == 50


def test_racing_retries_of_one_text_store_it_once(conversations, redis_server, keys, inbound_texts):
    sid = new_sid()

    changes = race(10, lambda _i: inbound_texts.receive(inbound("Is my crown ready?", sid=sid)))

    assert all(change.ok for change in changes)
    assert Counter(change.result for change in changes) == {"created": 1, "duplicate": 9}
    assert len(conversations.messages(1)) == 1
    assert kinds(outbox(redis_server, keys, 1)) == ["card"]
    assert event_kinds(conversations, 1) == ["created"]
    assert conversations.get(1).version == 1
    assert redis_server.get(keys.sequence) == "1"


def test_racing_first_texts_from_many_customers_take_distinct_numbers(
    conversations, redis_server, keys, inbound_texts
):
    customers = [f"+1917555{i:04d}" for i in range(20)]

    changes = race(20, lambda i: inbound_texts.receive(inbound(customer=customers[i])))

    assert sorted(change.conversation.number for change in changes) == list(range(1, 21))
    assert redis_server.get(keys.sequence) == "20"
    for change in changes:
        conv = conversations.get(change.conversation.number)
        assert conversations.find_by_phone(BUSINESS, conv.customer_number) == conv


def test_a_new_customer_is_not_read_and_one_texting_again_skips_the_directory(
    redis_server, keys, clock
):
    sent: list[tuple[str, ...]] = []
    client = recording(redis_server, sent)
    commits = build_commits(client, keys, clock)
    texts = build_inbound(client, keys, commits, clock)
    conversations = Conversations(client, keys, commits, CONFIG, CALENDAR, clock)

    assert texts.receive(inbound("hello")).result == "created"
    # A number just given to a new pair has nothing stored under it yet.
    assert ("HGETALL", keys.conversation(1)) not in sent
    sent.clear()
    assert texts.receive(inbound("hello again")).result == "appended"
    assert not [command for command in sent if keys.by_phone in command]
    assert sent.count(("HGETALL", keys.conversation(1))) == 1

    # Erased, the customer is a stranger again: the next text starts conversation 2.
    assert conversations.forget(1, ADMIN).ok
    change = texts.receive(inbound("it's me again"))
    assert (change.result, change.conversation.number) == ("created", 2)
    client.close()


def test_on_one_server_a_customer_texting_again_costs_two_round_trips(redis_server, keys, clock):
    sent: list[tuple[str, ...]] = []
    trips: list[list[str]] = []
    client = recording(redis_server, sent, trips)
    commits = build_commits(client, keys, clock)
    texts = build_inbound(client, keys, commits, clock)
    texts.receive(inbound("hello"))
    trips.clear()

    assert texts.receive(inbound("is my crown ready")).result == "appended"
    # The conversation and the contact read together, then the commit: nothing
    # after it, so nothing is left for a crash to lose once Twilio has its answer.
    assert trips == [["HGETALL", "HGETALL"], ["EVALSHA"]]
    assert client.sismember(keys.find_term("w:crown"), 1)
    assert client.xlen(keys.work) == 2
    assert client.llen(keys.derived(1)) == 0
    # Applied as it was made: no slot keeps a record of which versions it has.
    assert not any(client.exists(keys.applied(tag)) for tag in ("dir", "find", "rep"))
    client.close()
