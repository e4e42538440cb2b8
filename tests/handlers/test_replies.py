"""Owners' replies through the SMS outbox: texted exactly once, or refused where the owner sees it."""

from __future__ import annotations

import json

from tests.dialog import eventually, settle

GENERAL = "C0123GENERAL"


def claimed(customer, alex, baton) -> str:  # type: ignore[no-untyped-def]
    """Have the customer text, and Alex claim #1; return the card's ts."""
    customer.texts("hello")
    _, card_ts = alex.card_of(1)
    alex.clicks("claim", "1")
    eventually(lambda: baton.conversations.get(1).owner == "U0ALEX")
    return card_ts


def thread(fake_slack, card_ts: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return fake_slack.thread(GENERAL, card_ts)[1:]


def test_a_send_whose_answer_was_lost_is_found_in_twilios_log_not_sent_again(
    customer, alex, baton, fake_twilio, app
):
    claimed(customer, alex, baton)
    fake_twilio.fail_next("messages.create", 500, after_effect=True)

    ts, response = alex.says(1, "Your crown is ready")

    assert response.status_code == 200
    eventually(lambda: fake_twilio.calls_to("messages.list"), timeout=15)
    settle(app)
    assert [m["body"] for m in fake_twilio.sent] == ["Your crown is ready"]
    assert len(fake_twilio.calls_to("messages.create")) == 1
    assert len(fake_twilio.calls_to("messages.list")) == 1
    assert baton.conversations.slack_message_for(1, fake_twilio.sent[0]["sid"]) == ts


def test_twilio_unavailable_is_retried_until_the_text_goes_once(
    customer, alex, baton, fake_twilio, app
):
    claimed(customer, alex, baton)
    fake_twilio.fail_next("messages.create", 503, times=2)

    alex.says(1, "We open at nine")

    eventually(lambda: fake_twilio.sent, timeout=15)
    settle(app)
    assert [m["body"] for m in fake_twilio.sent] == ["We open at nine"]
    assert len(fake_twilio.calls_to("messages.create")) == 3
    assert baton.counters.read()["sms_retries"] >= 2


def test_a_refusal_shows_in_the_thread_and_retry_sends_it_once(
    customer, alex, baton, fake_slack, fake_twilio, app
):
    card_ts = claimed(customer, alex, baton)
    refusal = {"code": 21408, "message": "Permission to send an SMS has not been enabled"}
    fake_twilio.fail_next("messages.create", 400, body={**refusal, "status": 400})

    alex.says(1, "See you Friday")

    note = eventually(lambda: [m for m in thread(fake_slack, card_ts) if "not texted" in m["text"]])
    assert "texting this country is not enabled" in note[0]["text"]
    [retry] = [
        element
        for block in note[0]["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]
    assert retry["action_id"] == "retry_text"
    assert fake_twilio.sent == []

    alex.clicks("retry_text", retry["value"])
    eventually(lambda: fake_twilio.sent)
    alex.clicks("retry_text", retry["value"])
    settle(app)

    assert [m["body"] for m in fake_twilio.sent] == ["See you Friday"]
    assert any("already sent" in e["text"] for e in alex.ephemerals())


def test_someone_else_cannot_retry_a_refused_text(
    customer, alex, blair, baton, fake_slack, fake_twilio, app
):
    card_ts = claimed(customer, alex, baton)
    fake_twilio.fail_next(
        "messages.create", 400, body={"code": 21408, "message": "no", "status": 400}
    )
    alex.says(1, "See you Friday")
    note = eventually(lambda: [m for m in thread(fake_slack, card_ts) if "not texted" in m["text"]])
    value = json.loads(note[0]["blocks"][1]["elements"][0]["value"])

    blair.clicks("retry_text", json.dumps(value))
    settle(app)

    assert fake_twilio.sent == []
    assert any("Only the person who wrote" in e["text"] for e in blair.ephemerals())


def test_an_opted_out_customer_is_not_texted_and_the_thread_says_why(
    customer, alex, baton, fake_slack, fake_twilio, app
):
    card_ts = claimed(customer, alex, baton)
    customer.texts("STOP")
    eventually(lambda: baton.conversations.get(1).opted_out)

    alex.says(1, "Are you sure?")
    settle(app)

    assert fake_twilio.sent == []
    assert any(
        "message was not texted" in m["text"] and "opted out" in m["text"]
        for m in thread(fake_slack, card_ts)
    )
