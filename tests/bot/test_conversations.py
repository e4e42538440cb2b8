"""The conversation state machine on its own: a real Redis, an injected clock, no Flask, no Slack.

Each test builds ``Conversations`` directly under its own key prefix and reads
back what one transaction wrote: the conversation hash, its events, its
messages and its outbox (the Slack work the delivery worker would do).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
import redis
import yaml

from bot import response, views
from bot.calendar import BusinessCalendar
from bot.commit import Change, Commits, Refused
from bot.contacts import Contacts
from bot.conversations import Conversations
from bot.inbound import Inbound
from bot.metrics import Counters
from bot.reminders import Schedule
from bot.routing import Assigner, Assignment, Route
from bot.store import Keys
from bot.templates import Templates
from bot.values import Conversation, InboundText
from bot.views.notices import OPTED_IN as OPTED_IN_NOTICE
from bot.views.notices import OPTED_OUT as OPTED_OUT_NOTICE
from config.file import parse_config
from tests.dialog import TestClock, new_sid

BUSINESS = "+15550001111"
OTHER_BUSINESS = "+15550002222"
CUSTOMER = "+12127365000"
ALEX, BLAIR, CASEY, ADMIN = "U0ALEX", "U0BLAIR", "U0CASEY", "U0ADMIN"
GENERAL, SALES = "C0123GENERAL", "C0123SALES"

CONFIG = parse_config(
    yaml.safe_load(
        """
business:
  name: Acme Dental
  country: US
  timezone: America/New_York
  hours: {mon-fri: "09:00-18:00"}
queues:
  - {name: sales, channel: C0123SALES, keywords: [price]}
  - {name: general, channel: C0123GENERAL, default: true}
response_targets: {first_response: 15m, next_response: 1h, urgent: 5m}
urgent_keywords: [urgent]
admins: [U0ADMIN]
"""
    )
)
TARGETS = CONFIG.response_targets


@pytest.fixture
def keys(redis_prefix: str) -> Keys:
    return Keys(redis_prefix)


CALENDAR = BusinessCalendar(
    CONFIG.business.timezone, CONFIG.business.hours, CONFIG.business.holidays
)


@pytest.fixture
def commits(redis_server: redis.Redis, keys: Keys, clock: TestClock) -> Commits:
    schedule = Schedule(redis_server, keys, CONFIG, CALENDAR, clock)
    return Commits(redis_server, keys, schedule=schedule, counters=Counters(redis_server, keys))


@pytest.fixture
def conversations(
    redis_server: redis.Redis, keys: Keys, commits: Commits, clock: TestClock
) -> Conversations:
    return Conversations(redis_server, keys, commits, CONFIG, CALENDAR, clock)


def build_inbound(
    redis_server: redis.Redis,
    keys: Keys,
    commits: Commits,
    clock: TestClock,
    *,
    assign: Any = None,
    is_available: Any = None,
) -> Inbound:
    contacts = Contacts(redis_server, keys, CONFIG)
    return Inbound(
        commits,
        CONFIG,
        CALENDAR,
        clock,
        assign=assign
        or Assigner(
            CONFIG,
            CALENDAR,
            account_owner=lambda phone: contacts.get(phone).owner,
            is_away=lambda _user: False,
            owners=lambda: [],
        ),
        is_available=is_available or (lambda _user: True),
        templates=Templates(CONFIG, CALENDAR, contacts.get, lambda _user: "Alex", clock),
    )


@pytest.fixture
def inbound_texts(
    redis_server: redis.Redis, keys: Keys, commits: Commits, clock: TestClock
) -> Inbound:
    return build_inbound(redis_server, keys, commits, clock)


def inbound(
    body: str = "Hello, is my crown ready?",
    *,
    sid: str | None = None,
    customer: str = CUSTOMER,
    business: str = BUSINESS,
    opt_change: Any = None,
    media: tuple[tuple[str, str], ...] = (),
) -> InboundText:
    return InboundText(
        sid=sid or new_sid(),
        customer_number=customer,
        business_number=business,
        body=body,
        media=media,
        opt_change=opt_change,
    )


def outbox(redis_server: redis.Redis, keys: Keys, number: int) -> list[dict[str, str]]:
    return [fields for _id, fields in redis_server.xrange(keys.outbox(number))]


def kinds(jobs: list[dict[str, str]]) -> list[str]:
    return [job["kind"] for job in jobs]


def event_kinds(conversations: Conversations, number: int) -> list[str]:
    return [e.kind for e in conversations.events(number)]


def notices(jobs: list[dict[str, str]]) -> list[str]:
    return [job["text"] for job in jobs if job["kind"] == "notice"]


def snapshot(conversations: Conversations, redis_server: redis.Redis, keys: Keys, number: int):
    """Return everything a refused change must leave alone."""
    return (
        conversations.get(number),
        conversations.events(number),
        conversations.messages(number),
        outbox(redis_server, keys, number),
    )


def new_conversation(inbound_texts: Inbound, body: str = "Hi there") -> Conversation:
    change = inbound_texts.receive(inbound(body))
    assert change.ok and change.result == "created"
    return change.conversation


def race(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(i) for i in range(count) on as many threads, released at the same moment."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = work(index)
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a racing thread hung"
    assert not errors, errors
    return results


# Customer texts


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
    assert kinds(jobs) == ["card", "text"]
    assert jobs[1]["body"] == "Hello, is my crown ready?"
    assert jobs[1]["sid"] == conversations.messages(1)[0]["sid"]
    [message] = conversations.messages(1)
    assert message["direction"] == "in" and message["body"] == "Hello, is my crown ready?"

    assert list(conversations.all_numbers()) == [1]
    assert [c.number for c in conversations.active()] == [1]
    assert conversations.find_by_phone(BUSINESS, CUSTOMER) == conv
    assert redis_server.xlen(keys.work) >= 1, "a delivery worker must be woken"


def test_mms_media_is_kept_with_the_text_job(conversations, redis_server, keys, inbound_texts):
    media = (("https://api.twilio.com/m/1", "image/jpeg"), ("https://api.twilio.com/m/2", "a/b"))
    inbound_texts.receive(inbound("", media=media))
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
    assert list(conversations.all_numbers()) == [1, 2, 3, 4, 5, 6]


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


# Claim and release


def test_claim_makes_the_owner_and_drops_the_new_tag(
    conversations, redis_server, keys, clock, inbound_texts
):
    new_conversation(inbound_texts)
    change = conversations.claim(1, ALEX)

    assert change.ok
    conv = conversations.get(1)
    assert conv.owner == ALEX and conv.claimed and "new" not in conv.tags
    assert conv.assigned_by == "claim" and conv.version == 2
    claimed = conversations.events(1)[-1]
    assert (claimed.kind, claimed.who, claimed.after, claimed.at) == (
        "claimed",
        ALEX,
        ALEX,
        clock.now(),
    )
    jobs = outbox(redis_server, keys, 1)
    assert kinds(jobs)[-2:] == ["notice", "refresh"]
    assert notices(jobs) == ["<@U0ALEX> claimed #1."]


@pytest.mark.parametrize(
    ("who", "refusal"),
    [(ALEX, "You already own #1."), (BLAIR, "<@U0ALEX> already claimed #1.")],
)
def test_claim_refusals_change_nothing(
    conversations, redis_server, keys, who, refusal, inbound_texts
):
    new_conversation(inbound_texts)
    conversations.claim(1, ALEX)
    before = snapshot(conversations, redis_server, keys, 1)

    change = conversations.claim(1, who)

    assert not change.ok and change.refused == refusal
    assert snapshot(conversations, redis_server, keys, 1) == before


def test_claiming_an_unknown_conversation_is_refused(conversations):
    change = conversations.claim(99, ALEX)
    assert change.refused == "There is no conversation #99."
    assert conversations.get(99) is None


def test_release_refusals(conversations, redis_server, keys, inbound_texts):
    new_conversation(inbound_texts)
    assert conversations.release(1, ALEX).refused == (
        "#1 is not claimed, so there is nothing to release."
    )
    conversations.claim(1, ALEX)
    before = snapshot(conversations, redis_server, keys, 1)

    change = conversations.release(1, BLAIR)

    assert change.refused == "Only <@U0ALEX> (the owner) or an admin can release #1."
    assert snapshot(conversations, redis_server, keys, 1) == before


def test_the_owner_releases_back_to_the_queue(conversations, redis_server, keys, inbound_texts):
    new_conversation(inbound_texts)
    conversations.claim(1, ALEX)

    assert conversations.release(1, ALEX).ok

    conv = conversations.get(1)
    assert conv.owner is None and conv.previous_owner == ALEX
    released = conversations.events(1)[-1]
    assert (released.kind, released.who, released.before) == ("released", ALEX, ALEX)
    assert notices(outbox(redis_server, keys, 1))[-1] == (
        "<@U0ALEX> released #1 back to the general queue."
    )
    # And anyone may claim it again.
    assert conversations.claim(1, BLAIR).ok


def test_an_admin_from_the_config_may_release_someone_elses(
    conversations, redis_server, keys, inbound_texts
):
    new_conversation(inbound_texts)
    conversations.claim(1, ALEX)

    assert conversations.release(1, ADMIN).ok

    assert conversations.get(1).owner is None
    released = conversations.events(1)[-1]
    assert (released.kind, released.who, released.before) == ("released", ADMIN, ALEX)
    assert notices(outbox(redis_server, keys, 1))[-1].endswith("(owner was <@U0ALEX>).")


# Status


def test_status_transitions_and_their_refusals(conversations, redis_server, keys, inbound_texts):
    new_conversation(inbound_texts)
    assert conversations.set_status(1, ALEX, "open").refused == "#1 is already Open."

    steps = [("pending", "set to Pending"), ("closed", "resolved"), ("open", "reopened")]
    previous = "open"
    for status, words in steps:
        change = conversations.set_status(1, ALEX, status)
        assert change.ok, change.refused
        assert conversations.get(1).status == status
        event = conversations.events(1)[-1]
        assert (event.kind, event.who, event.before, event.after) == (
            "status",
            ALEX,
            previous,
            status,
        )
        assert notices(outbox(redis_server, keys, 1))[-1] == f"<@U0ALEX> {words} #1."
        refused = conversations.set_status(1, BLAIR, status)
        label = {"open": "Open", "pending": "Pending", "closed": "Closed"}[status]
        assert refused.refused == f"#1 is already {label}."
        previous = status

    assert conversations.set_status(1, ALEX, "closed").ok
    assert [c.number for c in conversations.active()] == []
    assert conversations.set_status(1, ALEX, "pending").ok
    assert [c.number for c in conversations.active()] == [1]


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


# Opting out and in


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
    assert not conv.opted_out and conv.awaiting
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


# Hand off, loop in


def test_hand_off_makes_the_new_owner_with_a_note(conversations, redis_server, keys, inbound_texts):
    new_conversation(inbound_texts)
    conversations.claim(1, ALEX)

    change = conversations.hand_off(1, ALEX, BLAIR, "She wants Friday 3pm\nBring the X-rays")

    assert change.ok
    conv = conversations.get(1)
    assert conv.owner == BLAIR and conv.assigned_by == "handoff" and conv.status == "open"
    event = conversations.events(1)[-1]
    assert (event.kind, event.who, event.before, event.after, event.note) == (
        "handed_off",
        ALEX,
        ALEX,
        BLAIR,
        "She wants Friday 3pm\nBring the X-rays",
    )
    jobs = outbox(redis_server, keys, 1)
    assert kinds(jobs)[-3:] == ["notice", "refresh", "dm"]
    assert notices(jobs)[-1] == (
        ":handshake: <@U0ALEX> handed #1 to <@U0BLAIR>:\n>She wants Friday 3pm\n>Bring the X-rays"
    )
    assert jobs[-1]["user"] == BLAIR and "#1" in jobs[-1]["text"]
    assert [c.number for c in conversations.handed_to(BLAIR)] == [1]
    assert conversations.handed_to(ALEX) == []


def test_hand_off_refusals(conversations, redis_server, keys, inbound_texts):
    new_conversation(inbound_texts)
    conversations.claim(1, ALEX)
    before = snapshot(conversations, redis_server, keys, 1)

    assert conversations.hand_off(1, BLAIR, CASEY, "please").refused == (
        "Only <@U0ALEX> (the owner) or an admin can hand off #1."
    )
    assert conversations.hand_off(1, ALEX, BLAIR, "  \n ").refused == (
        "A handoff needs a note for the new owner."
    )
    assert conversations.hand_off(1, ALEX, ALEX, "mine").refused == "<@U0ALEX> already owns #1."
    assert conversations.hand_off(99, ALEX, BLAIR, "x").refused == "There is no conversation #99."

    assert snapshot(conversations, redis_server, keys, 1) == before
    assert conversations.handed_to(BLAIR) == []
    assert redis_server.llen(keys.handed_to(BLAIR)) == 0


def test_an_admin_or_anyone_on_an_unclaimed_one_may_hand_off(conversations, inbound_texts):
    new_conversation(inbound_texts)
    assert conversations.hand_off(1, CASEY, BLAIR, "yours").ok  # unclaimed: anyone
    assert "new" not in conversations.get(1).tags
    assert conversations.hand_off(1, ADMIN, ALEX, "over to you").ok
    assert conversations.get(1).owner == ALEX


def test_handing_off_a_resolved_conversation_reopens_it(conversations, inbound_texts):
    new_conversation(inbound_texts)
    conversations.claim(1, ALEX)
    conversations.set_status(1, ALEX, "closed")

    assert conversations.hand_off(1, ALEX, BLAIR, "follow up Friday").ok

    conv = conversations.get(1)
    assert conv.status == "open" and conv.owner == BLAIR
    handed, status = conversations.events(1)[-2:]
    assert handed.kind == "handed_off"
    assert (status.kind, status.before, status.after) == ("status", "closed", "open")


def test_handed_to_lists_newest_first_and_only_what_they_still_own(conversations, inbound_texts):
    for customer in ("+12127365001", "+12127365002", "+12127365003"):
        inbound_texts.receive(inbound(customer=customer))
    for number in (1, 2, 3):
        conversations.hand_off(number, ALEX, BLAIR, "yours")
    conversations.hand_off(2, BLAIR, CASEY, "actually yours")
    assert [c.number for c in conversations.handed_to(BLAIR)] == [3, 1]
    assert [c.number for c in conversations.handed_to(CASEY)] == [2]


def test_loop_in_adds_a_collaborator_and_keeps_the_owner(
    conversations, redis_server, keys, inbound_texts
):
    new_conversation(inbound_texts)
    conversations.claim(1, ALEX)

    assert conversations.loop_in(1, ALEX, CASEY).ok
    assert conversations.loop_in(1, BLAIR, ADMIN).ok  # anyone may loop someone in

    conv = conversations.get(1)
    assert conv.owner == ALEX and conv.collaborators == (CASEY, ADMIN)
    event = conversations.events(1)[-2]
    assert (event.kind, event.who, event.after) == ("looped_in", ALEX, CASEY)
    dms = [j for j in outbox(redis_server, keys, 1) if j["kind"] == "dm"]
    assert [j["user"] for j in dms] == [CASEY, ADMIN]
    assert "<@U0ALEX> looped in <@U0CASEY> on #1." in notices(outbox(redis_server, keys, 1))

    assert conversations.loop_in(1, ALEX, CASEY).refused == (
        "<@U0CASEY> is already looped in on #1."
    )
    assert conversations.loop_in(1, BLAIR, ALEX).refused == "<@U0ALEX> owns #1 already."
    assert conversations.get(1).collaborators == (CASEY, ADMIN)


def test_a_released_shift_conversation_stays_with_the_queue_at_shift_change(
    conversations, commits, redis_server, keys, clock
):
    shift = build_inbound(
        redis_server,
        keys,
        commits,
        clock,
        assign=lambda _body, _phone, _at: Assignment(
            Route(CONFIG.default_queue), ALEX, "shift", "on shift in general"
        ),
    )
    conv = new_conversation(shift)
    assert (conv.owner, conv.assigned_by) == (ALEX, "shift")
    assert conversations.release(1, ALEX).ok

    conversations.hand_over(1, BLAIR, "shift change in general")

    assert conversations.get(1).owner is None


# Transfer


def test_transfer_refusals(conversations, redis_server, keys, inbound_texts):
    new_conversation(inbound_texts)
    conversations.claim(1, ALEX)
    before = snapshot(conversations, redis_server, keys, 1)

    assert conversations.transfer(1, ALEX, "billing", "s").refused == (
        "There is no queue 'billing'. Queues: sales, general."
    )
    assert conversations.transfer(1, ALEX, "general", "s").refused == (
        "#1 is already in the general queue."
    )
    assert conversations.transfer(1, BLAIR, "sales", "s").refused == (
        "Only <@U0ALEX> (the owner) or an admin can transfer #1."
    )
    assert snapshot(conversations, redis_server, keys, 1) == before


def test_transfer_before_the_card_is_posted_needs_no_retiring(
    conversations, redis_server, keys, inbound_texts
):
    new_conversation(inbound_texts)
    jobs_before = len(outbox(redis_server, keys, 1))

    assert conversations.transfer(1, CASEY, "sales", "Summary here").ok

    conv = conversations.get(1)
    assert (conv.queue, conv.channel, conv.card_ts) == ("sales", SALES, None)
    assert kinds(outbox(redis_server, keys, 1)[jobs_before:]) == ["card", "notice"]


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


def test_transfer_posts_a_fresh_card_and_retires_the_old_one(
    conversations, redis_server, keys, inbound_texts
):
    new_conversation(inbound_texts)
    conversations.claim(1, ALEX)
    conversations.card_posted(1, GENERAL, "1700000000.000100")
    assert conversations.get(1).card_ts == "1700000000.000100"
    assert conversations.find_by_thread(GENERAL, "1700000000.000100").number == 1
    jobs_before = len(outbox(redis_server, keys, 1))

    change = conversations.transfer(1, ADMIN, "sales", "*Summary of #1 so far*")

    assert change.ok
    conv = conversations.get(1)
    assert (conv.queue, conv.channel, conv.card_ts, conv.owner) == ("sales", SALES, None, ALEX)
    new_jobs = outbox(redis_server, keys, 1)[jobs_before:]
    assert kinds(new_jobs) == ["card", "retire", "notice"]
    assert new_jobs[1] == {"kind": "retire", "channel": GENERAL, "ts": "1700000000.000100"}
    assert new_jobs[2]["text"] == (
        "<@U0ADMIN> moved #1 here from the general queue.\n*Summary of #1 so far*"
    )
    event = conversations.events(1)[-1]
    assert (event.kind, event.who, event.before, event.after) == (
        "transferred",
        ADMIN,
        "general",
        "sales",
    )


# Tags


def test_tags_are_added_and_removed(conversations, redis_server, keys, inbound_texts):
    new_conversation(inbound_texts)

    assert conversations.tag(1, ALEX, ["billing", "followup-needed", "billing"], ["new"]).ok
    assert conversations.get(1).tags == ("billing", "followup-needed")
    assert conversations.events(1)[-1].note == "+billing +followup-needed +billing -new"

    assert conversations.tag(1, ALEX, ["billing"], []).refused == "#1 already has those tags."
    assert conversations.tag(1, ALEX, [], ["nope"]).refused == "#1 already has those tags."

    assert conversations.tag(1, ALEX, [], ["billing"]).ok
    assert conversations.get(1).tags == ("followup-needed",)
    assert kinds(outbox(redis_server, keys, 1))[-1] == "refresh"


def test_adding_urgent_shortens_the_reply_target(conversations, clock, inbound_texts):
    new_conversation(inbound_texts)
    conversations.tag(1, ALEX, ["urgent"], [])
    conv = conversations.get(1)
    assert response.reply_due_at(conv, TARGETS, conversations.calendar) == clock.now() + 5 * 60


# start(): a person texts first


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
    assert list(conversations.all_numbers()) == [1]
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


# find_ref


def test_find_ref_by_number(conversations, inbound_texts):
    for index in range(12):
        inbound_texts.receive(inbound(customer=f"+1917555{index:04d}"))
    assert conversations.find_ref("#12", "US").number == 12
    assert conversations.find_ref("12", "US").number == 12
    assert conversations.find_ref("  #3 ", "US").number == 3
    for ref, shown in (("#13", "#13"), ("13", "#13"), ("#0", "#0")):
        with pytest.raises(Refused, match=f"^There is no conversation {shown}\\.$"):
            conversations.find_ref(ref, "US")


@pytest.mark.parametrize(
    "typed",
    [
        "+12127365000",
        "(212) 736-5000",
        "+1 212 736 5000",
        "212-736-5000",
        "212.736.5000",
        "1 (212) 736-5000",
        "2127365000",
    ],
)
def test_find_ref_by_phone_in_common_formats(conversations, typed, inbound_texts):
    inbound_texts.receive(inbound(customer="+19175550100"))
    inbound_texts.receive(inbound(customer=CUSTOMER))
    assert conversations.find_ref(typed, "US").number == 2


def test_find_ref_refuses_an_ambiguous_or_unknown_number(conversations, inbound_texts, clock):
    inbound_texts.receive(inbound(business=BUSINESS))
    inbound_texts.receive(inbound(business=OTHER_BUSINESS))

    with pytest.raises(Refused) as several:
        conversations.find_ref("(212) 736-5000", "US")
    assert "has several conversations (#1, #2); name one by #N." in str(several.value)

    with pytest.raises(Refused, match="There is no conversation with"):
        conversations.find_ref("(917) 555-0199", "US")
    with pytest.raises(Refused, match="is not a conversation reference"):
        conversations.find_ref("yesterday's lady", "US")


# The response clock


def test_the_clock_starts_on_a_text_and_stops_on_a_human_reply(
    conversations, redis_server, keys, clock, inbound_texts
):
    new_conversation(inbound_texts)
    started = clock.now()
    clock.advance(120)
    inbound_texts.receive(inbound("Hello?"))  # the clock keeps its first unanswered text
    conv = conversations.get(1)
    assert conv.awaiting and conv.waiting_since == started and conv.stretch == 1

    clock.advance(60)
    conversations.record_outbound(
        1, slack_ts="1.000200", author=ALEX, sid="SMout1", body="Yes!", from_number=BUSINESS
    )

    conv = conversations.get(1)
    assert not conv.awaiting and conv.waiting_since is None and conv.replied
    assert response.reply_due_at(conv, TARGETS, conversations.calendar) is None
    out = conversations.messages(1)[-1]
    assert (out["direction"], out["author"], out["sid"], out["body"]) == (
        "out",
        ALEX,
        "SMout1",
        "Yes!",
    )
    assert conversations.slack_message_for(1, "SMout1") == "1.000200"
    assert kinds(outbox(redis_server, keys, 1))[-1] == "refresh"

    clock.advance(600)
    inbound_texts.receive(inbound("Great, thanks"))
    conv = conversations.get(1)
    assert conv.awaiting and conv.waiting_since == clock.now() and conv.stretch == 2


def test_reply_due_first_then_next_response(conversations, clock, inbound_texts):
    conv = new_conversation(inbound_texts)
    calendar = conversations.calendar
    assert response.reply_due_at(conv, TARGETS, calendar) == clock.now() + 15 * 60

    conversations.record_outbound(
        1, slack_ts="1.1", author=ALEX, sid="SM1", body="On it", from_number=BUSINESS
    )
    clock.advance(600)
    conv = inbound_texts.receive(inbound("And the bill?")).conversation
    assert conv.replied
    assert response.reply_due_at(conv, TARGETS, calendar) == clock.now() + 60 * 60


def test_reply_due_counts_open_hours_only(conversations, clock, inbound_texts):
    clock.advance(7 * 3600 + 55 * 60)  # Tue 17:55, five minutes before closing
    conv = new_conversation(inbound_texts)
    wednesday_0910 = clock.now() - (7 * 3600 + 55 * 60) + 23 * 3600 + 10 * 60
    assert response.reply_due_at(conv, TARGETS, conversations.calendar) == wednesday_0910


def test_pending_pauses_the_clock_and_a_text_resumes_it(conversations, clock, inbound_texts):
    new_conversation(inbound_texts)
    calendar = conversations.calendar
    clock.advance(5 * 60)
    conversations.set_status(1, ALEX, "pending")
    conv = conversations.get(1)
    assert response.reply_due_at(conv, TARGETS, calendar) is None
    assert views.due_phrase(conv, None, clock.now(), "America/New_York") == "waiting on customer"

    clock.advance(3600)
    conv = inbound_texts.receive(inbound("Any news?")).conversation
    assert conv.status == "open"
    # 5 of the 15 minutes were used before the pause.
    assert response.reply_due_at(conv, TARGETS, calendar) == clock.now() + 10 * 60


def test_resolving_ends_the_stretch(conversations, clock, inbound_texts):
    new_conversation(inbound_texts)
    conversations.set_status(1, ALEX, "closed")
    conv = conversations.get(1)
    assert (
        not conv.awaiting and response.reply_due_at(conv, TARGETS, conversations.calendar) is None
    )
    clock.advance(600)
    conv = inbound_texts.receive(inbound("hello?")).conversation
    assert response.reply_due_at(conv, TARGETS, conversations.calendar) == clock.now() + 15 * 60


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


# Concurrency


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
    assert Counter(kinds(jobs)) == {"card": 1, "text": 50}
    assert kinds(jobs)[0] == "card", "the card is queued before any text"
    assert sorted(j["sid"] for j in jobs if j["kind"] == "text") == sorted(sids)
    assert event_kinds(conversations, 1) == ["created"]
    assert redis_server.scard(keys.inbound_sids(1)) == 50
    conv = conversations.get(1)
    assert conv.version == 50 and conv.stretch == 1


def test_racing_retries_of_one_text_store_it_once(conversations, redis_server, keys, inbound_texts):
    sid = new_sid()

    changes = race(10, lambda _i: inbound_texts.receive(inbound("Is my crown ready?", sid=sid)))

    assert all(change.ok for change in changes)
    assert Counter(change.result for change in changes) == {"created": 1, "duplicate": 9}
    assert len(conversations.messages(1)) == 1
    assert kinds(outbox(redis_server, keys, 1)) == ["card", "text"]
    assert event_kinds(conversations, 1) == ["created"]
    assert conversations.get(1).version == 1
    assert redis_server.get(keys.sequence) == "1"


def test_racing_first_texts_from_many_customers_take_distinct_numbers(
    conversations, keys, inbound_texts
):
    customers = [f"+1917555{i:04d}" for i in range(20)]

    changes = race(20, lambda i: inbound_texts.receive(inbound(customer=customers[i])))

    assert sorted(change.conversation.number for change in changes) == list(range(1, 21))
    assert sorted(conversations.all_numbers()) == list(range(1, 21))
    for change in changes:
        conv = conversations.get(change.conversation.number)
        assert conversations.find_by_phone(BUSINESS, conv.customer_number) == conv
