"""The bridge core as a team uses it: texts become threads, Claim sets the owner, replies go out."""

from __future__ import annotations

from tests.dialog import BUSINESS_NUMBER, Customer, eventually, settle

GENERAL = "C0123GENERAL"


def card_blocks_text(message: dict) -> str:
    """Return all text on a card, for asserting what people see."""
    parts = []
    for block in message.get("blocks") or []:
        if block.get("text"):
            parts.append(block["text"]["text"])
        for element in block.get("elements", []):
            text = element.get("text")
            parts.append(text["text"] if isinstance(text, dict) else str(text or ""))
    return "\n".join(parts)


def buttons(message: dict) -> list[str]:
    return [
        e["text"]["text"]
        for b in message.get("blocks") or []
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "button"
    ]


def test_first_text_posts_a_card_and_later_texts_follow_in_its_thread(customer, alex, fake_slack):
    response = customer.texts("Hi, is the office open Saturday?")
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert b"<Response/>" in response.data

    channel, card_ts = alex.card_of(1)
    assert channel == GENERAL
    card = fake_slack.message(GENERAL, card_ts)
    shown = card_blocks_text(card)
    assert "#1" in shown and "+1 555-123-4567" in shown
    assert "Unclaimed" in shown and "Open" in shown
    assert buttons(card) == ["Claim", "Resolve", "Contact"]

    customer.texts("Also, do you take walk-ins?")
    eventually(lambda: len(fake_slack.thread(GENERAL, card_ts)) == 2)
    first, later = fake_slack.said(GENERAL, card_ts)
    assert "is the office open Saturday?" in first  # in the card: one post, not two
    assert "do you take walk-ins?" in later


def test_claim_then_owner_reply_is_texted_exactly(customer, alex, fake_slack, fake_twilio):
    customer.texts("Can I move my cleaning to Friday?")
    _channel, card_ts = alex.card_of(1)

    assert alex.clicks("claim", "1").status_code == 200
    eventually(lambda: "<@U0ALEX>" in card_blocks_text(fake_slack.message(GENERAL, card_ts)))
    card = fake_slack.message(GENERAL, card_ts)
    assert buttons(card) == ["Release", "Hand off", "Resolve", "Templates", "Contact"]
    eventually(
        lambda: any(
            "<@U0ALEX> claimed #1" in m["text"] for m in fake_slack.thread(GENERAL, card_ts)
        )
    )

    alex.says(
        1, "Sure &amp; see <https://acme.example/book|our booking page>, <@U0BLAIR> will confirm"
    )
    sent = fake_twilio.wait_for("messages.create")[0].params
    assert sent["To"] == "+15551234567"
    assert sent["From"] == BUSINESS_NUMBER
    assert (
        sent["Body"]
        == "Sure & see our booking page (https://acme.example/book), Blair will confirm"
    )
    assert sent["StatusCallback"] == "https://baton.example.com/twilio/status"


def test_delivery_status_reacts_and_failure_reason_shows_in_thread(
    app, customer, alex, fake_slack, fake_twilio
):
    customer.texts("hello")
    alex.card_of(1)
    alex.clicks("claim", "1")
    eventually(lambda: alex.baton.conversations.get(1).owner == "U0ALEX")

    ts, _ = alex.says(1, "Hi! How can we help?")
    sid = eventually(lambda: fake_twilio.sent)[0]["sid"]
    assert customer.status(sid, "sent").status_code == 204
    assert customer.status(sid, "delivered").status_code == 204
    assert customer.status(sid, "delivered").status_code == 204  # Twilio repeats itself
    eventually(lambda: (fake_slack.message(GENERAL, ts) or {}).get("reactions"))
    settle(app)
    assert len(fake_slack.calls_to("reactions.add")) == 1

    _ts2, _ = alex.says(1, "Are you still there?")
    sid2 = eventually(lambda: len(fake_twilio.sent) == 2 and fake_twilio.sent)[1]["sid"]
    customer.status(sid2, "undelivered", error_code=30007)
    _, card_ts = alex.card_of(1)
    note = eventually(
        lambda: [m for m in fake_slack.thread(GENERAL, card_ts) if "not delivered" in m["text"]]
    )
    assert "filtered the text as spam" in note[0]["text"] and "30007" in note[0]["text"]


def test_a_status_that_overtakes_the_answer_to_its_send_is_shown_once_recorded(
    customer, alex, fake_slack, fake_twilio, baton
):
    customer.texts("hello")
    alex.card_of(1)
    alex.clicks("claim", "1")
    eventually(lambda: alex.baton.conversations.get(1).owner == "U0ALEX")
    early: list[int] = []
    # Twilio's callback comes while Baton still waits for the answer to its send,
    # so the text is not recorded yet when the callback arrives.
    fake_twilio.on_message_created(
        lambda message: early.append(customer.status(message["sid"], "delivered").status_code)
    )

    ts, _ = alex.says(1, "Hi! How can we help?")

    eventually(lambda: (fake_slack.message(GENERAL, ts) or {}).get("reactions"))
    assert early == [204]
    assert baton.conversations.slack_message_for(1, fake_twilio.sent[0]["sid"]) == ts
    baton.delivery.run_until_idle()
    assert len(fake_slack.calls_to("reactions.add")) == 1


def test_someone_else_in_the_thread_is_team_discussion(
    app, customer, alex, blair, fake_slack, fake_twilio
):
    customer.texts("question about my bill")
    alex.card_of(1)
    alex.clicks("claim", "1")
    eventually(lambda: alex.baton.conversations.get(1).owner == "U0ALEX")

    blair.says(1, "I think they were double charged")
    note = eventually(blair.ephemerals)[0]
    assert "Not texted" in note["text"] and "<@U0ALEX>" in note["text"]
    alex.says(1, "// checking with billing first")
    alex.says(1, "edited text", subtype="message_changed")
    alex.says(1, "bot says hi", extra={"bot_id": "B0OTHER"})
    alex.says(1, "gone", subtype="message_deleted")
    alex.says(1, "joined", subtype="channel_join")
    alex.says(1, "We are looking into it now.")
    fake_twilio.wait_for("messages.create")
    settle(app)
    assert [m["body"] for m in fake_twilio.sent] == ["We are looking into it now."]


def test_claim_and_send_claims_and_texts_that_very_message(
    app, customer, blair, fake_slack, fake_twilio
):
    customer.texts("do you have parking?")
    blair.card_of(1)
    _ts, _ = blair.says(1, "Yes, free parking behind the building.")
    note = eventually(blair.ephemerals)[0]
    button = note["blocks"][1]["elements"][0]
    assert button["action_id"] == "claim_and_send"

    blair.clicks("claim_and_send", button["value"])
    sent = fake_twilio.wait_for("messages.create")[0].params
    assert sent["Body"] == "Yes, free parking behind the building."
    assert blair.baton.conversations.get(1).owner == "U0BLAIR"
    blair.clicks("claim_and_send", button["value"])  # a second click sends nothing more
    settle(app)
    assert len(fake_twilio.calls_to("messages.create")) == 1


def test_stop_opts_out_and_nothing_is_texted_until_start(customer, alex, fake_slack, fake_twilio):
    customer.texts("hi")
    _channel, card_ts = alex.card_of(1)
    alex.clicks("claim", "1")
    eventually(lambda: alex.baton.conversations.get(1).owner == "U0ALEX")

    customer.texts("STOP")
    eventually(lambda: "Opted out" in card_blocks_text(fake_slack.message(GENERAL, card_ts)))
    alex.says(1, "Sorry to see you go")
    eventually(
        lambda: any("was not texted" in m["text"] for m in fake_slack.thread(GENERAL, card_ts))
    )
    assert fake_twilio.calls_to("messages.create") == []

    customer.texts("start")
    eventually(lambda: "Opted out" not in card_blocks_text(fake_slack.message(GENERAL, card_ts)))
    alex.says(1, "Welcome back!")
    assert fake_twilio.wait_for("messages.create")[0].params["Body"] == "Welcome back!"


def test_release_and_resolve_from_the_card_and_a_text_reopens(customer, alex, fake_slack):
    customer.texts("hi")
    _channel, card_ts = alex.card_of(1)
    alex.clicks("claim", "1")
    eventually(lambda: alex.baton.conversations.get(1).owner == "U0ALEX")
    alex.clicks("release", "1")
    eventually(lambda: alex.baton.conversations.get(1).owner is None)
    eventually(
        lambda: buttons(fake_slack.message(GENERAL, card_ts)) == ["Claim", "Resolve", "Contact"]
    )

    alex.clicks("claim", "1")
    eventually(lambda: alex.baton.conversations.get(1).owner == "U0ALEX")
    alex.clicks("resolve", "1")
    eventually(
        lambda: (
            buttons(fake_slack.message(GENERAL, card_ts))
            == ["Release", "Hand off", "Reopen", "Contact"]
        )
    )
    assert "Closed" in card_blocks_text(fake_slack.message(GENERAL, card_ts))

    customer.texts("one more thing")
    eventually(lambda: "Open" in card_blocks_text(fake_slack.message(GENERAL, card_ts)))
    conv = alex.baton.conversations.get(1)
    assert conv.status == "open" and conv.owner == "U0ALEX"
    kinds = [e.kind for e in alex.baton.conversations.events(1)]
    assert kinds == ["created", "claimed", "released", "claimed", "status", "reopened"]


def test_mms_media_appear_in_the_thread(customer, alex, fake_slack):
    media = [
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "image/jpeg")
    ]
    customer.texts("here is the photo", media=media)
    _, card_ts = alex.card_of(1)
    customer.texts("and another", media=media)
    first, later = eventually(
        lambda: fake_slack.said(GENERAL, card_ts)[1:] and fake_slack.said(GENERAL, card_ts)
    )
    assert "here is the photo" in first and "and another" in later
    for said in (first, later):
        assert media[0][0] in said and "image/jpeg" in said


def test_two_business_numbers_make_two_conversations(client, alex, fake_slack):
    first = Customer(client, "+15551234567", auth_token="twilio-test-auth-token")
    second = Customer(
        client, "+15551234567", auth_token="twilio-test-auth-token", business_number="+15550002222"
    )
    first.texts("to the main line")
    second.texts("to the second line")
    alex.card_of(1)
    alex.card_of(2)
    assert alex.baton.conversations.get(2).business_number == "+15550002222"
