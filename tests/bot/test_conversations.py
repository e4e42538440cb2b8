"""Committed ownership and status changes, lookups, and the response clock they keep."""

from __future__ import annotations

import pytest

from bot import response, views
from bot.change import Refused
from bot.routing import Assignment, Route
from bot.values import FORGOTTEN
from tests.bot.domain import (
    ADMIN,
    ALEX,
    BLAIR,
    BUSINESS,
    CASEY,
    CONFIG,
    CUSTOMER,
    GENERAL,
    OTHER_BUSINESS,
    SALES,
    TARGETS,
    build_inbound,
    inbound,
    kinds,
    new_conversation,
    notices,
    outbox,
    snapshot,
)


def test_claim_makes_the_owner_and_drops_the_new_tag(
    conversations, redis_server, keys, clock, inbound_texts
):
    new_conversation(inbound_texts)
    change = conversations.claim(1, ALEX)

    assert change.ok
    conv = conversations.get(1)
    assert conv.owner == ALEX and "new" not in conv.tags
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
    assert conv.owner is None
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


def test_status_transitions_and_their_refusals(conversations, redis_server, keys, inbound_texts):
    new_conversation(inbound_texts)
    assert conversations.set_status(1, ALEX, "open").refused == "#1 is already Open."

    steps = [("pending", "marked #1 pending"), ("closed", "resolved #1"), ("open", "reopened #1")]
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
        assert notices(outbox(redis_server, keys, 1))[-1] == f"<@U0ALEX> {words}."
        refused = conversations.set_status(1, BLAIR, status)
        label = {"open": "Open", "pending": "Pending", "closed": "Closed"}[status]
        assert refused.refused == f"#1 is already {label}."
        previous = status

    assert conversations.set_status(1, ALEX, "closed").ok
    assert [c.number for c in conversations.active()] == []
    assert conversations.set_status(1, ALEX, "pending").ok
    assert [c.number for c in conversations.active()] == [1]


def test_open_conversations_are_kept_in_blocks_and_an_older_batons_set_is_still_read(
    conversations, redis_server, keys, inbound_texts
):
    redis_server.set(keys.sequence, 600)
    new_conversation(inbound_texts)  # #601, in the second block
    assert redis_server.smembers(keys.active_block(1)) == {"601"}
    assert not redis_server.exists(keys.active_block(0)) and not redis_server.exists(keys.active)
    # An older Baton kept open conversations in one sorted set: say it opened #5 there.
    redis_server.zadd(keys.active, {"5": 1.0})
    assert conversations.active_numbers() == [5, 601]

    # An older Baton's entry of an open conversation stays (brought back, it lists it).
    redis_server.zadd(keys.active, {"601": 1.0})
    assert conversations.reindex_all() == 1
    assert redis_server.zrange(keys.active, 0, -1) == ["5", "601"]
    assert conversations.active_numbers() == [5, 601]

    assert conversations.set_status(601, ALEX, "closed").ok
    assert conversations.active_numbers() == [5]
    assert not redis_server.exists(keys.active_block(1))
    redis_server.zadd(keys.active, {"601": 1.0})  # an older Baton's entry for #601, closed now
    assert conversations.set_status(601, ALEX, "open").ok
    assert conversations.set_status(601, ALEX, "closed").ok
    assert redis_server.zrange(keys.active, 0, -1) == ["5"]


def test_a_conversation_an_older_baton_erased_leaves_its_block_with_the_backfill(
    conversations, redis_server, keys, inbound_texts
):
    new_conversation(inbound_texts)
    # An older Baton erases it and, knowing no blocks, leaves it named in its block.
    redis_server.hset(
        keys.conversation(1), mapping={"customer_number": FORGOTTEN, "status": "closed"}
    )
    assert conversations.active_numbers() == [1]
    assert conversations.active() == []
    assert conversations.reindex_all() == 0  # nothing of an erased conversation to index
    assert conversations.active_numbers() == []


def test_open_owners_names_the_owner_of_each_open_conversation_as_active_does(
    conversations, redis_server, keys, inbound_texts
):
    for n in range(4):
        assert inbound_texts.receive(inbound(customer=f"+1555010000{n}")).result == "created"
    assert conversations.claim(1, ALEX).ok and conversations.claim(3, ALEX).ok
    assert conversations.claim(4, BLAIR).ok
    assert conversations.set_status(3, ALEX, "closed").ok

    assert conversations.open_owners() == [ALEX, None, BLAIR]  # #1, #2 and #4, by number
    # An older Baton's entries, still naming #3 (closed) and #99 (gone).
    redis_server.zadd(keys.active, {"3": 1.0, "99": 2.0})
    assert conversations.open_owners() == [ALEX, None, BLAIR]
    assert conversations.open_owners() == [c.owner for c in conversations.active()]


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
            Route(CONFIG.default_queue), ALEX, "shift", "on shift"
        ),
    )
    conv = new_conversation(shift)
    assert (conv.owner, conv.assigned_by) == (ALEX, "shift")
    assert conversations.release(1, ALEX).ok

    conversations.hand_over(1, BLAIR, "shift change in general")

    assert conversations.get(1).owner is None


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


def test_the_clock_starts_on_a_text_and_stops_on_a_human_reply(
    conversations, redis_server, keys, clock, inbound_texts
):
    new_conversation(inbound_texts)
    started = clock.now()
    clock.advance(120)
    inbound_texts.receive(inbound("Hello?"))  # the clock keeps its first unanswered text
    conv = conversations.get(1)
    assert conv.awaiting and conv.waiting_since == started

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
    assert conv.awaiting and conv.waiting_since == clock.now()


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
    assert views.due_phrase(conv, None, clock.now(), "America/New_York") == "Waiting on customer"

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
