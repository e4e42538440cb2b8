"""CSAT in the thread: the rating question on Resolve, and the customer's rating, through the real app."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import response
from tests.dialog import Teammate, eventually, settle
from tests.handlers.test_bridge import card_blocks_text

ROOT = Path(__file__).resolve().parents[2]
GENERAL = "C0123GENERAL"
QUESTION = "Thanks for contacting Acme Dental! How did we do? Reply 1 (poor) to 5 (great)."
CSAT = """
admins: [U0CASEY]
csat:
  enabled: true
  thanks: "Thank you, {first_name}!"
  within: 24h
  cooldown: 7d
"""


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    """The shipped config with CSAT on (and Casey an admin, who may forget)."""
    path = tmp_path / "csat.yml"
    shipped = (ROOT / "config" / "baton.yml").read_text()
    path.write_text(shipped.replace("admins: []", "") + CSAT)
    return path


@pytest.fixture
def casey(client, fake_slack, baton) -> Teammate:
    return Teammate(
        client, fake_slack, baton, "U0CASEY", signing_secret="slack-test-signing-secret"
    )


def channel_posts(fake_slack) -> list[dict]:
    """Return what Baton posted in the queue channel itself, not in threads."""
    return [m for m in fake_slack.messages(GENERAL) if not m.get("thread_ts")]


def texts_to_customer(fake_twilio) -> list[str]:
    return [c.params["Body"] for c in fake_twilio.calls_to("messages.create")]


def thread_texts(fake_slack, baton, number: int = 1) -> list[str]:
    conv = baton.conversations.get(number)
    return [m["text"] for m in fake_slack.thread(conv.channel, conv.card_ts)]


def card_text(fake_slack, baton, number: int = 1) -> str:
    conv = baton.conversations.get(number)
    return card_blocks_text(fake_slack.message(conv.channel, conv.card_ts))


def answered_and_resolved(app, customer, alex, baton, fake_twilio) -> None:
    """The customer asks, Alex claims, answers and resolves; the question goes out."""
    customer.texts("Can I book a cleaning?")
    alex.card_of(1)
    alex.clicks("claim", "1")
    eventually(lambda: baton.conversations.get(1).owner == "U0ALEX")
    alex.says(1, "Booked you for Friday 3pm.")
    fake_twilio.wait_for("messages.create", 1)
    alex.clicks("resolve", "1")
    fake_twilio.wait_for("messages.create", 2)
    settle(app)


def test_resolving_texts_the_question_once_as_an_automatic_text(
    app, customer, alex, baton, fake_slack, fake_twilio
):
    customer.texts("Can I book a cleaning?")
    alex.card_of(1)
    alex.clicks("claim", "1")
    eventually(lambda: baton.conversations.get(1).owner == "U0ALEX")
    alex.clicks("resolve", "1")
    alex.runs("resolve #1")  # a second resolve asks nothing more
    settle(app)

    assert texts_to_customer(fake_twilio) == [QUESTION]
    assert ":robot_face: Baton texted the customer (automatic):\n>" + QUESTION in thread_texts(
        fake_slack, baton
    )
    # The question answers nothing: no human has replied yet.
    conv = baton.conversations.get(1)
    assert conv.status == "closed" and not conv.replied
    assert [m.get("author") for m in baton.conversations.messages(1)] == [None, "baton"]


def test_a_rating_is_recorded_shown_and_thanked_without_reopening(
    app, customer, alex, baton, fake_slack, fake_twilio, clock
):
    answered_and_resolved(app, customer, alex, baton, fake_twilio)
    clock.advance(3600)
    customer.texts("4 stars!")
    settle(app)

    conv = baton.conversations.get(1)
    assert (conv.status, conv.owner, conv.rating, conv.awaiting) == ("closed", "U0ALEX", 4, False)
    assert (
        response.reply_due_at(conv, baton.config.response_targets, baton.conversations.calendar)
        is None
    )
    rated = baton.conversations.events(1)[-1]
    assert (rated.kind, rated.who, rated.at, rated.after) == ("rated", "U0ALEX", clock.now(), "4")
    assert ":star: Rated 4/5" in card_text(fake_slack, baton)
    thread = thread_texts(fake_slack, baton)
    assert thread[-3:] == [
        "*+1 555-123-4567:* 4 stars!",
        ":star: The customer rated <@U0ALEX>'s resolution 4/5.",
        ":robot_face: Baton texted the customer (automatic):\n>Thank you, there!",
    ]
    assert texts_to_customer(fake_twilio)[-1] == "Thank you, there!"
    assert "Reopen" in card_text(fake_slack, baton)
    history = alex.runs("history #1")["text"]
    assert "· customer · rated <@U0ALEX>'s resolution 4/5" in history.splitlines()[-1]

    # The question is answered: a second number is an ordinary text, and reopens.
    customer.texts("5")
    eventually(lambda: baton.conversations.get(1).status == "open")
    assert [e.kind for e in baton.conversations.events(1)].count("rated") == 1


def test_a_low_rating_tells_the_owner_in_a_dm(app, customer, alex, baton, fake_slack, fake_twilio):
    answered_and_resolved(app, customer, alex, baton, fake_twilio)
    customer.texts("1")
    settle(app)

    dms = [m["text"] for m in fake_slack.messages("DU0ALEX")]
    assert len(dms) == 1
    assert dms[0].startswith(":warning: The customer rated your resolution of #1 1/5.")
    assert "Open the conversation" in dms[0]
    # Alex is here: the queue channel hears nothing.
    assert not [m for m in channel_posts(fake_slack) if "rated" in m["text"]]
    assert baton.conversations.get(1).status == "closed"


def test_a_low_rating_tells_the_queue_too_when_the_owner_is_away(
    app, customer, alex, baton, fake_slack, fake_twilio
):
    answered_and_resolved(app, customer, alex, baton, fake_twilio)
    alex.runs("away until tomorrow 9:00")
    customer.texts("⭐⭐")
    settle(app)

    assert baton.conversations.get(1).rating == 2
    assert len([m for m in fake_slack.messages("DU0ALEX") if "rated" in m["text"]]) == 1
    queue = [m for m in channel_posts(fake_slack) if "rated" in m["text"]]
    assert len(queue) == 1
    assert queue[0]["text"].startswith(
        ":warning: The customer rated <@U0ALEX>'s resolution of #1 2/5, and <@U0ALEX> is away."
    )


def test_a_reply_that_is_not_a_rating_reopens_as_always(
    app, customer, alex, baton, fake_slack, fake_twilio
):
    answered_and_resolved(app, customer, alex, baton, fake_twilio)
    customer.texts("I'd give you 5 stars but can I move it to 4pm?")
    settle(app)

    conv = baton.conversations.get(1)
    assert (conv.status, conv.owner, conv.awaiting, conv.rating) == ("open", "U0ALEX", True, 0)
    assert "rated" not in [e.kind for e in baton.conversations.events(1)]
    assert "Rated" not in card_text(fake_slack, baton)


def test_an_opted_out_customer_is_not_asked(app, customer, alex, baton, fake_slack, fake_twilio):
    customer.texts("Can I book a cleaning?")
    alex.card_of(1)
    customer.texts("STOP")
    eventually(lambda: baton.conversations.get(1).opted_out)
    alex.clicks("resolve", "1")
    eventually(lambda: baton.conversations.get(1).status == "closed")
    settle(app)
    assert texts_to_customer(fake_twilio) == []
    # Not even tried (and refused) as a text to someone opted out.
    assert not [t for t in thread_texts(fake_slack, baton) if "not texted" in t]
    assert baton.conversations.get(1).csat_asked_at is None


def test_a_conversation_resolved_as_spam_is_not_asked(app, customer, alex, baton, fake_twilio):
    customer.texts("You won a cruise!!! Click here")
    alex.card_of(1)
    alex.runs("tag #1 +spam")
    alex.runs("resolve #1")
    eventually(lambda: baton.conversations.get(1).status == "closed")
    settle(app)
    assert texts_to_customer(fake_twilio) == []


def test_no_second_question_within_the_cooldown(app, customer, alex, baton, fake_twilio, clock):
    answered_and_resolved(app, customer, alex, baton, fake_twilio)
    clock.advance(3600)
    customer.texts("One more thing: do you take my insurance?")
    eventually(lambda: baton.conversations.get(1).status == "open")
    alex.runs("resolve #1")
    settle(app)
    assert texts_to_customer(fake_twilio).count(QUESTION) == 1
    # Nor is the old question still open, though within csat.within: the
    # customer's text reopened what it asked about, so a number now is a text.
    customer.texts("3")
    eventually(lambda: baton.conversations.get(1).status == "open")

    clock.advance(7 * 86400)
    alex.runs("resolve #1")
    settle(app)
    assert texts_to_customer(fake_twilio).count(QUESTION) == 2


def test_a_rating_after_the_window_is_an_ordinary_text(
    app, customer, alex, baton, fake_twilio, clock
):
    answered_and_resolved(app, customer, alex, baton, fake_twilio)
    clock.advance(24 * 3600 + 60)
    customer.texts("5")
    settle(app)
    conv = baton.conversations.get(1)
    assert (conv.status, conv.rating, conv.awaiting) == ("open", 0, True)
    assert "rated" not in [e.kind for e in baton.conversations.events(1)]


def test_a_forgotten_conversation_is_never_asked(app, customer, alex, casey, baton, fake_twilio):
    customer.texts("Please delete my data")
    alex.card_of(1)
    casey.runs("forget +15551234567")
    eventually(lambda: baton.conversations.get(1).status == "closed")
    casey.runs("reopen #1")
    casey.runs("resolve #1")
    settle(app)
    conv = baton.conversations.get(1)
    assert (conv.status, conv.csat_asked_at) == ("closed", None)
    assert texts_to_customer(fake_twilio) == []


def test_a_question_closes_when_the_team_reopens_the_conversation(
    app, customer, alex, baton, fake_twilio
):
    answered_and_resolved(app, customer, alex, baton, fake_twilio)
    alex.clicks("reopen", "1")
    eventually(lambda: baton.conversations.get(1).status == "open")
    alex.clicks("resolve", "1")
    eventually(lambda: baton.conversations.get(1).status == "closed")
    customer.texts("5")
    eventually(lambda: baton.conversations.get(1).status == "open")
    assert "rated" not in [e.kind for e in baton.conversations.events(1)]
