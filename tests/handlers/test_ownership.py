"""Ownership workflows as a team runs its day: hand off, slash commands, statuses, tags, lists."""

from __future__ import annotations

import threading

import pytest

from tests.dialog import Teammate, eventually, settle
from tests.handlers.test_bridge import buttons, card_blocks_text

GENERAL = "C0123GENERAL"
SALES = "C0123SALES"


@pytest.fixture
def casey(client, fake_slack, baton) -> Teammate:
    return Teammate(
        client, fake_slack, baton, "U0CASEY", signing_secret="slack-test-signing-secret"
    )


def claimed_by(baton, number: int, user: str) -> None:
    eventually(
        lambda: baton.conversations.get(number).owner == user,
        message=f"#{number} not owned by {user}",
    )


def thread_texts(fake_slack, baton, number: int) -> list[str]:
    conv = baton.conversations.get(number)
    card = fake_slack.message(conv.channel, conv.card_ts) if conv.card_ts else None
    if card is None:
        return []  # the card is not posted (or not known to be) yet
    return [card["text"], *fake_slack.said(conv.channel, conv.card_ts)]


def start(customer, alex, baton, text: str = "Can I book a cleaning?") -> None:
    customer.texts(text)
    alex.card_of(1)
    alex.clicks("claim", "1")
    claimed_by(baton, 1, "U0ALEX")


# Hand off


def test_hand_off_from_the_card_makes_the_new_owner_in_one_step(
    app, customer, alex, blair, baton, fake_slack, fake_twilio
):
    start(customer, alex, baton)
    alex.clicks("handoff", "1")
    opened = fake_slack.wait_for("views.open")[0].params["view"]
    assert opened["callback_id"] == "handoff"
    prefilled = opened["blocks"][3]["element"]["initial_value"]
    assert prefilled == "I'm looping in {name}, who handles general. They'll take it from here."

    response = alex.submits_handoff(
        1, "U0BLAIR", "She wants Friday 3pm.\nCall before noon.", prefilled
    )
    assert response.status_code == 200 and not response.data
    claimed_by(baton, 1, "U0BLAIR")
    sent = fake_twilio.wait_for("messages.create")[0].params
    assert sent["Body"] == "I'm looping in Blair, who handles general. They'll take it from here."

    eventually(
        lambda: any("handed #1 to <@U0BLAIR>" in t for t in thread_texts(fake_slack, baton, 1))
    )
    note = next(t for t in thread_texts(fake_slack, baton, 1) if "handed #1" in t)
    assert ">She wants Friday 3pm.\n>Call before noon." in note
    dm = fake_slack.wait_for("chat.postMessage", count=1)
    dms = eventually(lambda: [m for m in fake_slack.messages("DU0BLAIR")])
    assert "handed you #1" in dms[0]["text"] and "Open the conversation" in dms[0]["text"]
    assert dm
    event = baton.conversations.events(1)[-1]
    assert (event.kind, event.who, event.before, event.after) == (
        "handed_off",
        "U0ALEX",
        "U0ALEX",
        "U0BLAIR",
    )
    assert event.note == "She wants Friday 3pm.\nCall before noon."

    # The previous owner's replies are no longer texted.
    alex.says(1, "I can still help!")
    eventually(lambda: any("<@U0BLAIR> owns #1" in e["text"] for e in alex.ephemerals()))
    settle(app)
    assert len(fake_twilio.calls_to("messages.create")) == 1


def test_hand_off_modal_errors_appear_next_to_the_field(customer, alex, baton, fake_slack):
    start(customer, alex, baton)
    fake_slack.add_user("U0BOT", "helperbot", is_bot=True)
    answer = alex.submits_handoff(1, "U0BOT", "  ", "Hi {first_name}").get_json()
    assert answer["response_action"] == "errors"
    assert "bot" in answer["errors"]["owner"]
    assert "note" in answer["errors"]
    assert "{first_name}" in answer["errors"]["customer"]
    assert baton.conversations.get(1).owner == "U0ALEX"


def test_only_the_owner_or_an_admin_may_hand_off(app, customer, alex, blair, baton, fake_slack):
    start(customer, alex, baton)
    blair.clicks("handoff", "1")
    refusal = eventually(blair.ephemerals)[0]["text"]
    assert refusal == "Only <@U0ALEX> (the owner) or an admin can hand off #1."
    settle(app)
    assert fake_slack.calls_to("views.open") == []
    answer = blair.submits_handoff(1, "U0BLAIR", "taking it").get_json()
    assert "Only <@U0ALEX>" in answer["errors"]["owner"]
    assert baton.conversations.get(1).owner == "U0ALEX"


def test_handoff_shortcut_on_a_thread_message_opens_the_modal(customer, alex, baton, fake_slack):
    start(customer, alex, baton)
    channel, card_ts = alex.card_of(1)
    customer.texts("one more thing")
    reply = eventually(lambda: fake_slack.thread(channel, card_ts)[1:])[-1]
    alex.uses_shortcut(
        "handoff_message", channel, {"ts": reply["ts"], "thread_ts": card_ts, "text": "x"}
    )
    view = fake_slack.wait_for("views.open")[0].params["view"]
    assert view["private_metadata"] == "1"


def test_hand_off_of_a_conversation_just_closed_reopens_it_for_the_new_owner(
    customer, alex, blair, baton
):
    start(customer, alex, baton)
    alex.clicks("resolve", "1")
    eventually(lambda: baton.conversations.get(1).status == "closed")
    assert (
        alex.submits_handoff(1, "U0BLAIR", "Customer wrote back about the invoice").status_code
        == 200
    )
    claimed_by(baton, 1, "U0BLAIR")
    conv = baton.conversations.get(1)
    assert conv.status == "open"
    assert [e.kind for e in baton.conversations.events(1)][-2:] == ["handed_off", "status"]


# Slash command


def test_help_lists_every_command(alex):
    answer = alex.runs("help")
    for form in (
        "send <phone> <text>",
        "claim <ref>",
        "handoff <ref> @person <note>",
        "loop <ref> @person",
        "transfer <ref> <queue>",
        "tag <ref> +tag -tag",
        "queue [name]",
        "history <ref>",
        "mine",
    ):
        assert form in answer["text"]
    assert answer["response_type"] == "ephemeral"


def test_unknown_subcommand_and_bad_references_explain_the_correct_form(customer, alex, baton):
    customer.texts("hi")
    alex.card_of(1)
    assert alex.runs("dance")["text"].startswith("I don't know `dance`.")
    assert alex.runs("claim #99")["text"] == "There is no conversation #99."
    assert alex.runs("claim 99")["text"] == "There is no conversation #99."
    assert "is not a conversation reference" in alex.runs("claim banana")["text"]
    assert (
        alex.runs("claim (212) 736-5000")["text"]
        == "There is no conversation with +1 212-736-5000."
    )
    assert "Use: `/sms claim <ref>`" in alex.runs("claim")["text"]
    assert "Use: `/sms handoff <ref> @person <note>`" in alex.runs("handoff #1")["text"]
    assert "not a person" in alex.runs("handoff #1 blair please")["text"]
    assert "Add a note" in alex.runs("handoff #1 <@U0BLAIR>")["text"]
    assert "Give a phone number" in alex.runs("send hello there")["text"]
    assert baton.conversations.get(1).owner is None


def test_references_by_number_in_any_format(customer, alex, baton):
    customer.texts("hi")
    alex.card_of(1)
    assert alex.runs("claim (555) 123-4567")["text"] == "You own #1 now."
    assert alex.runs("release +1 555 123 4567")["text"] == "Released #1 to its queue."
    assert alex.runs("claim 1")["text"] == "You own #1 now."
    assert alex.runs("pending #1")["text"] == "#1 is pending."
    assert alex.runs("resolve #1")["text"] == "Resolved #1."
    assert alex.runs("reopen #1")["text"] == "Reopened #1."


def test_a_number_with_two_conversations_is_ambiguous(client, alex, baton):
    from tests.dialog import Customer

    Customer(client, "+15551234567", auth_token="twilio-test-auth-token").texts("one")
    Customer(
        client, "+15551234567", auth_token="twilio-test-auth-token", business_number="+15550002222"
    ).texts("two")
    answer = alex.runs("claim 555-123-4567")["text"]
    assert "several conversations (#1, #2)" in answer


def test_send_starts_a_conversation_owned_by_the_sender(alex, baton, fake_twilio, fake_slack):
    answer = alex.runs("send (212) 736-5000 Your crown is ready for pickup.")
    assert answer["text"] == (
        "Texting +1 212-736-5000 (#1); you own the conversation. "
        "The thread shows the text once it is sent."
    )
    sent = fake_twilio.wait_for("messages.create")[0].params
    assert (sent["To"], sent["Body"]) == ("+12127365000", "Your crown is ready for pickup.")
    channel, card_ts = alex.card_of(1)
    eventually(lambda: any("texted the customer" in t for t in thread_texts(fake_slack, baton, 1)))
    assert "<@U0ALEX>" in card_blocks_text(fake_slack.message(channel, card_ts))
    assert "new" not in baton.conversations.get(1).tags


def test_send_to_someone_elses_conversation_is_refused(
    app, customer, alex, blair, baton, fake_twilio
):
    start(customer, alex, baton)
    answer = blair.runs("send +15551234567 hello")
    assert answer["text"] == "<@U0ALEX> owns #1; ask them to hand it off before you text."
    settle(app)
    assert fake_twilio.calls_to("messages.create") == []


def test_handoff_command_posts_the_note_exactly_as_typed(customer, alex, baton, fake_slack):
    start(customer, alex, baton)
    answer = alex.runs("handoff #1 <@U0BLAIR|blair> Needs   a quote for *two* crowns & a bridge")
    assert answer["text"] == "Handed #1 to <@U0BLAIR>."
    # Quoted as typed: mrkdwn escapes the & once, so Slack shows it as typed.
    eventually(
        lambda: any(
            "Needs   a quote for *two* crowns &amp; a bridge" in t
            for t in thread_texts(fake_slack, baton, 1)
        )
    )
    assert baton.conversations.events(1)[-1].note == "Needs   a quote for *two* crowns & a bridge"


def test_loop_in_adds_a_collaborator_who_is_told(customer, alex, baton, fake_slack):
    start(customer, alex, baton)
    assert alex.runs("loop #1 <@U0CASEY>")["text"] == "Looped <@U0CASEY> in on #1."
    channel, card_ts = alex.card_of(1)
    eventually(lambda: "<@U0CASEY>" in card_blocks_text(fake_slack.message(channel, card_ts)))
    eventually(lambda: fake_slack.messages("DU0CASEY"))
    assert baton.conversations.get(1).owner == "U0ALEX"
    assert "already looped in" in alex.runs("loop #1 <@U0CASEY>")["text"]


def test_transfer_moves_the_card_to_the_new_queue_with_a_summary(customer, alex, baton, fake_slack):
    start(customer, alex, baton, "How much is a whitening?")
    old_channel, old_ts = alex.card_of(1)
    assert "There is no queue 'billing'" in alex.runs("transfer #1 billing")["text"]
    assert alex.runs("transfer #1 sales")["text"] == "Moved #1 to the sales queue."
    new_ts = eventually(lambda: baton.conversations.get(1).card_ts)
    assert baton.conversations.get(1).channel == SALES
    eventually(
        lambda: "moved to the *sales* queue" in fake_slack.message(old_channel, old_ts)["text"]
    )
    eventually(lambda: len(fake_slack.thread(SALES, new_ts)) >= 2)
    summary = fake_slack.thread(SALES, new_ts)[1]["text"]
    assert (
        "moved #1 here from the general queue" in summary and "How much is a whitening?" in summary
    )
    customer.texts("Still there?")
    eventually(lambda: any("Still there?" in m["text"] for m in fake_slack.thread(SALES, new_ts)))


def test_tags_from_the_command_and_the_card_menu(customer, alex, baton, fake_slack):
    customer.texts("hi")
    channel, card_ts = alex.card_of(1)
    assert baton.conversations.get(1).tags == ("new",)
    assert (
        alex.runs("tag #1 +billing +Urgent")["text"] == "Tags of #1 now: `new` `billing` `urgent`."
    )
    assert baton.conversations.get(1).tags == ("new", "billing", "urgent")
    alex.clicks("claim", "1")
    claimed_by(baton, 1, "U0ALEX")
    assert "new" not in baton.conversations.get(1).tags
    payload_action = {
        "action_id": "card_menu",
        "type": "overflow",
        "selected_option": {"value": "untag:billing:1"},
    }
    alex.clicks_with("card_menu", payload_action)
    eventually(lambda: baton.conversations.get(1).tags == ("urgent",))
    eventually(lambda: "`urgent`" in card_blocks_text(fake_slack.message(channel, card_ts)))
    assert "not a tag change" in alex.runs("tag #1 billing")["text"]


def test_pending_from_the_card_menu_and_a_customer_text_reopens(customer, alex, baton, fake_slack):
    start(customer, alex, baton)
    alex.clicks_with(
        "card_menu",
        {
            "action_id": "card_menu",
            "type": "overflow",
            "selected_option": {"value": "status:pending:1"},
        },
    )
    eventually(lambda: baton.conversations.get(1).status == "pending")
    channel, card_ts = alex.card_of(1)
    eventually(
        lambda: "Waiting on customer" in card_blocks_text(fake_slack.message(channel, card_ts))
    )
    customer.texts("I'm back")
    eventually(lambda: baton.conversations.get(1).status == "open")
    assert baton.conversations.get(1).owner == "U0ALEX"


def test_mine_and_home_show_my_lists_with_links(customer, alex, blair, baton, fake_slack):
    fake_slack.add_channel("C0123GENERAL", "general", members=["U0ALEX", "U0BLAIR"])
    start(customer, alex, baton)
    from tests.dialog import Customer

    Customer(customer.client, "+15557654321", auth_token="twilio-test-auth-token").texts("hello?")
    alex.card_of(2)
    alex.runs("handoff #1 <@U0BLAIR> over to you")
    claimed_by(baton, 1, "U0BLAIR")
    answer = blair.runs("mine")
    text = "\n".join(b["text"]["text"] for b in answer["blocks"] if b.get("text"))
    assert "My conversations" in text and "#1" in text.split("Unclaimed")[0]
    assert "|#2>" in text.split("Unclaimed in my queues")[1]
    assert "Recently handed to me" in text and "|#1>" in text.split("Recently handed to me")[1]
    assert "archives/C0123GENERAL/p" in text

    blair.opens_home()
    home = eventually(lambda: fake_slack.home_views.get("U0BLAIR"))
    assert home["type"] == "home"
    assert any("My conversations" in b.get("text", {}).get("text", "") for b in home["blocks"])


def test_queue_lists_unclaimed_and_overdue(customer, alex, baton, clock):
    customer.texts("hi")
    alex.card_of(1)
    answer = alex.runs("queue general")
    text = "\n".join(b["text"]["text"] for b in answer["blocks"] if b.get("text"))
    assert "#1" in text.split("Overdue")[0]
    alex.runs("claim #1")
    clock.advance(16 * 60)
    answer = alex.runs("queue general")
    text = "\n".join(b["text"]["text"] for b in answer["blocks"] if b.get("text"))
    assert "#1" in text.split("Overdue")[1] and "Reply overdue by 1 minute" in text
    assert "There is no queue 'nope'" in alex.runs("queue nope")["text"]


# Who may do what


def test_only_the_owner_or_an_admin_may_release_or_transfer(customer, alex, blair, baton):
    start(customer, alex, baton)
    assert (
        blair.runs("release #1")["text"] == "Only <@U0ALEX> (the owner) or an admin can release #1."
    )
    assert (
        blair.runs("transfer #1 sales")["text"]
        == "Only <@U0ALEX> (the owner) or an admin can transfer #1."
    )
    assert blair.runs("handoff #1 <@U0BLAIR> mine now")["text"].startswith("Only <@U0ALEX>")
    assert (
        baton.conversations.get(1).owner == "U0ALEX"
        and baton.conversations.get(1).queue == "general"
    )


def test_an_admin_may_release_anyones_conversation(
    customer, alex, client, fake_slack, settings, tmp_path, redis_server
):
    from pathlib import Path

    from app import create_app, shutdown
    from config import Settings

    source = Path(settings.config_path).read_text().replace("admins: []", "admins: [U0CASEY]")
    config = tmp_path / "baton.yml"
    config.write_text(source)
    app = create_app(Settings(**{**settings.__dict__, "config_path": config}))
    try:
        casey = Teammate(
            app.test_client(),
            fake_slack,
            app.extensions["baton"],
            "U0CASEY",
            signing_secret="slack-test-signing-secret",
        )
        owner = Teammate(
            app.test_client(),
            fake_slack,
            app.extensions["baton"],
            "U0ALEX",
            signing_secret="slack-test-signing-secret",
        )
        customer.client = app.test_client()
        customer.texts("hi")
        owner.card_of(1)
        owner.runs("claim #1")
        answer = casey.runs("release #1")["text"]
        assert answer == "Released #1 to its queue."
        assert app.extensions["baton"].conversations.get(1).owner is None
    finally:
        shutdown(app)


def test_two_people_clicking_claim_at_once_exactly_one_wins(customer, alex, blair, casey, baton):
    customer.texts("who is first?")
    alex.card_of(1)
    barrier = threading.Barrier(3)

    def click(person: Teammate) -> None:
        barrier.wait()
        person.clicks("claim", "1")

    threads = [threading.Thread(target=click, args=(p,)) for p in (alex, blair, casey)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    owner = eventually(lambda: baton.conversations.get(1).owner)
    losers = [p for p in (alex, blair, casey) if p.user != owner]
    for loser in losers:
        note = eventually(loser.ephemerals)[0]["text"]
        assert note == f"<@{owner}> already claimed #1."
    claims = [e for e in baton.conversations.events(1) if e.kind == "claimed"]
    assert len(claims) == 1


def test_history_lists_every_change_with_who_and_why(customer, alex, baton):
    start(customer, alex, baton)
    alex.runs("handoff #1 <@U0BLAIR> needs billing help")
    claimed_by(baton, 1, "U0BLAIR")
    history = alex.runs("history #1")["text"]
    lines = history.splitlines()
    assert lines[0] == "*History of #1*"
    assert "customer · started the conversation in general" in lines[1]
    assert "<@U0ALEX> · claimed" in lines[2]
    assert "<@U0ALEX> · handed off to <@U0BLAIR> — needs billing help" in lines[3]


def test_buttons_follow_owner_and_status(customer, alex, baton, fake_slack):
    customer.texts("hi")
    channel, card_ts = alex.card_of(1)
    assert buttons(fake_slack.message(channel, card_ts)) == ["Claim", "Resolve", "Contact"]
    alex.clicks("claim", "1")
    eventually(
        lambda: (
            buttons(fake_slack.message(channel, card_ts))
            == ["Release", "Hand off", "Resolve", "Templates", "Contact"]
        )
    )
