"""Ownership transitions as plain functions: a conversation and the time in, a Change out; no Redis."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace

import pytest
import yaml

from bot import ownership
from bot.calendar import BusinessCalendar
from bot.change import Change, Refused
from bot.values import FORGOTTEN, Conversation
from config.file import parse_config

ALEX, BLAIR, ADMIN = "U0ALEX", "U0BLAIR", "U0ADMIN"
NOW = 1_700_000_000.0
CONFIG = parse_config(
    yaml.safe_load(
        """
business: {name: Acme Dental, country: US, timezone: America/New_York}
queues:
  - {name: sales, channel: C0123SALES}
  - {name: general, channel: C0123GENERAL, default: true}
admins: [U0ADMIN]
"""
    )
)
ALWAYS_OPEN = BusinessCalendar("America/New_York", {}, ())
ADMINS = CONFIG.admins


def conversation(**changes) -> Conversation:
    base = Conversation(
        number=7,
        business_number="+15550001111",
        customer_number="+12127365000",
        queue="general",
        channel="C0123GENERAL",
        tags=("new",),
        created_at=NOW - 600,
    )
    return replace(base, **changes)


def kinds(change: Change) -> list[str]:
    return [job.kind for job in change.jobs]


def test_a_change_is_frozen_and_keeps_tuples():
    change = ownership.claim(conversation(), ALEX, NOW)
    assert isinstance(change.jobs, tuple) and isinstance(change.events, tuple)
    with pytest.raises(FrozenInstanceError):
        change.refused = "no"  # type: ignore[misc]


def test_claim_makes_the_owner_drops_new_and_says_so():
    change = ownership.claim(conversation(), ALEX, NOW)
    assert change.conversation.owner == ALEX and "new" not in change.conversation.tags
    assert [(e.kind, e.who, e.after, e.at) for e in change.events] == [("claimed", ALEX, ALEX, NOW)]
    assert kinds(change) == ["notice", "refresh"]
    assert change.jobs[0].fields["text"] == "<@U0ALEX> claimed #7."


@pytest.mark.parametrize(
    ("owner", "refusal"),
    [(ALEX, "You already own #7."), (BLAIR, "<@U0BLAIR> already claimed #7.")],
)
def test_claim_refusals(owner, refusal):
    with pytest.raises(Refused, match=refusal):
        ownership.claim(conversation(owner=owner), ALEX, NOW)


def test_release_by_an_admin_names_the_owner_it_had():
    change = ownership.release(conversation(owner=ALEX), ADMIN, NOW, ADMINS)
    conv = change.conversation
    assert (conv.owner, conv.assigned_by) == (None, "queue")
    assert change.jobs[0].fields["text"] == (
        "<@U0ADMIN> released #7 back to the general queue (owner was <@U0ALEX>)."
    )


@pytest.mark.parametrize(
    ("owner", "user", "refusal"),
    [
        (None, ALEX, "#7 is not claimed, so there is nothing to release."),
        (ALEX, BLAIR, "Only <@U0ALEX> (the owner) or an admin can release #7."),
    ],
)
def test_release_refusals(owner, user, refusal):
    with pytest.raises(Refused) as refused:
        ownership.release(conversation(owner=owner), user, NOW, ADMINS)
    assert str(refused.value) == refusal


def test_pending_pauses_the_clock_and_open_resumes_it():
    waiting = conversation(awaiting=True, waiting_since=NOW - 300)
    paused = ownership.set_status(waiting, ALEX, "pending", NOW, ALWAYS_OPEN).conversation
    assert (paused.status, paused.waiting_since, paused.used) == ("pending", None, 300.0)
    later = NOW + 3600
    resumed = ownership.set_status(paused, ALEX, "open", later, ALWAYS_OPEN).conversation
    assert (resumed.waiting_since, resumed.used) == (later, 300.0)


def test_resolving_stops_the_clock():
    waiting = conversation(awaiting=True, waiting_since=NOW - 300, used=12.0)
    closed = ownership.set_status(waiting, ALEX, "closed", NOW, ALWAYS_OPEN).conversation
    assert (closed.status, closed.awaiting, closed.waiting_since, closed.used) == (
        "closed",
        False,
        None,
        0.0,
    )


def test_hand_off_reopens_a_closed_conversation_for_the_new_owner_and_tells_them():
    closed = conversation(owner=ALEX, status="closed")
    change = ownership.hand_off(
        closed, ALEX, BLAIR, "She wants Friday & Saturday", NOW, admins=ADMINS, calendar=ALWAYS_OPEN
    )
    conv = change.conversation
    assert (conv.owner, conv.status, conv.assigned_by) == (BLAIR, "open", "handoff")
    assert [e.kind for e in change.events] == ["handed_off", "status"]
    assert kinds(change) == ["notice", "refresh", "dm"]
    assert change.jobs[0].fields["text"] == (
        ":handshake: <@U0ALEX> handed #7 to <@U0BLAIR>:\n>She wants Friday &amp; Saturday"
    )
    assert change.jobs[2].fields == {
        "user": BLAIR,
        "text": "<@U0ALEX> handed you #7: She wants Friday & Saturday",
    }


@pytest.mark.parametrize(
    ("user", "to", "note", "refusal"),
    [
        (BLAIR, ADMIN, "n", "Only <@U0ALEX> (the owner) or an admin can hand off #7."),
        (ALEX, ALEX, "n", "<@U0ALEX> already owns #7."),
        (ALEX, BLAIR, "  ", "A handoff needs a note for the new owner."),
    ],
)
def test_hand_off_refusals(user, to, note, refusal):
    with pytest.raises(Refused) as refused:
        ownership.hand_off(
            conversation(owner=ALEX), user, to, note, NOW, admins=ADMINS, calendar=ALWAYS_OPEN
        )
    assert str(refused.value) == refusal


def test_hand_over_moves_only_what_the_shift_owns():
    shift = conversation(owner=ALEX, assigned_by="shift")
    change = ownership.hand_over(shift, BLAIR, "shift change in general", NOW)
    assert change.conversation.owner == BLAIR and kinds(change) == ["notice", "refresh", "dm"]
    to_queue = ownership.hand_over(shift, None, "shift change in general", NOW)
    assert (to_queue.conversation.owner, to_queue.conversation.assigned_by) == (None, "queue")
    with pytest.raises(Refused):
        ownership.hand_over(conversation(owner=ALEX, assigned_by="claim"), BLAIR, "x", NOW)


def test_loop_in_adds_once_and_never_the_owner():
    change = ownership.loop_in(conversation(owner=ALEX), ALEX, BLAIR, NOW)
    assert change.conversation.collaborators == (BLAIR,)
    with pytest.raises(Refused, match="already looped in"):
        ownership.loop_in(change.conversation, ALEX, BLAIR, NOW)
    with pytest.raises(Refused, match="owns #7 already"):
        ownership.loop_in(change.conversation, BLAIR, ALEX, NOW)


def test_transfer_queues_a_new_card_and_retires_the_old_one():
    posted = conversation(owner=ALEX, card_ts="1700000000.000100")
    change = ownership.transfer(posted, ALEX, "sales", "Summary", NOW, CONFIG)
    conv = change.conversation
    assert (conv.queue, conv.channel, conv.card_ts) == ("sales", "C0123SALES", None)
    assert conv.route_reason == "transferred from general by <@U0ALEX>"  # the card's "Why here"
    assert kinds(change) == ["card", "retire", "notice"]
    assert change.jobs[1].fields == {"channel": "C0123GENERAL", "ts": "1700000000.000100"}


@pytest.mark.parametrize(
    ("queue", "user", "refusal"),
    [
        ("billing", ALEX, "There is no queue 'billing'. Queues: sales, general."),
        ("general", ALEX, "#7 is already in the general queue."),
        ("sales", BLAIR, "Only <@U0ALEX> (the owner) or an admin can transfer #7."),
    ],
)
def test_transfer_refusals(queue, user, refusal):
    with pytest.raises(Refused) as refused:
        ownership.transfer(conversation(owner=ALEX), user, queue, "s", NOW, CONFIG)
    assert str(refused.value) == refusal


def test_tag_adds_and_removes_and_refuses_no_change():
    change = ownership.tag(conversation(), ALEX, ["billing", "billing"], ["new"], NOW)
    assert change.conversation.tags == ("billing",)
    assert change.events[0].note == "+billing +billing -new"
    with pytest.raises(Refused, match="already has those tags"):
        ownership.tag(change.conversation, ALEX, ["billing"], [], NOW)


def test_forget_erases_the_number_and_closes_once():
    change = ownership.forget(
        conversation(customer_name="Sarah", awaiting=True, in_sid="SM1"), ADMIN, NOW
    )
    conv = change.conversation
    assert (conv.customer_number, conv.customer_name, conv.status, conv.awaiting, conv.in_sid) == (
        FORGOTTEN,
        None,
        "closed",
        False,
        "",
    )
    assert change.erase and change.events[0].kind == "forgotten"
    with pytest.raises(Refused, match="already erased"):
        ownership.forget(conv, ADMIN, NOW)


def test_a_reply_answers_only_the_texts_written_before_it():
    waiting = conversation(owner=ALEX, awaiting=True, waiting_since=NOW - 60, last_inbound_at=NOW)
    message = {"direction": "out", "sid": "SM1", "body": "hi", "author": ALEX}
    late = ownership.texted(waiting, message, NOW - 1, "1700000000.000200")
    assert late.conversation.awaiting and late.conversation.replied
    answered = ownership.texted(waiting, message, NOW, "1700000000.000200")
    assert not answered.conversation.awaiting
    assert answered.outbound == ("SM1", "1700000000.000200")


@pytest.mark.parametrize(
    ("owner", "user", "policy", "may"),
    [
        (ALEX, ALEX, "owner", True),
        (ALEX, BLAIR, "owner", False),
        (None, BLAIR, "owner", False),
        (ALEX, BLAIR, "anyone", True),
    ],
)
def test_who_may_text_the_customer(owner, user, policy, may):
    assert ownership.may_text(conversation(owner=owner), user, policy) is may


@pytest.mark.parametrize(
    ("owner", "user", "may"),
    [(None, BLAIR, True), (ALEX, ALEX, True), (ALEX, ADMIN, True), (ALEX, BLAIR, False)],
)
def test_who_may_manage_a_conversation(owner, user, may):
    refusal = ownership.may_manage(conversation(owner=owner), user, ADMINS, "release")
    assert (refusal is None) is may
