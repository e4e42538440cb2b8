"""Faults and bad input: forged requests change nothing; retries and outages lose and double nothing."""

from __future__ import annotations

import json
import time

import pytest

from bot import views
from tests.dialog import Customer, eventually, new_sid, posted, settle

GENERAL = "C0123GENERAL"
SALES = "C0123SALES"


def stored_keys(baton) -> list[str]:
    return sorted(baton.redis.scan_iter(match=f"{baton.keys.prefix}:*"))


def texts_in_thread(fake_slack, card_ts: str) -> list[str]:
    return fake_slack.said(GENERAL, card_ts)


# Forged and malformed requests


@pytest.mark.parametrize("signature", ["", "bm90LWEtcmVhbC1zaWduYXR1cmU=", "garbage!"])
def test_forged_twilio_signature_is_refused_and_changes_nothing(
    app, customer, baton, fake_slack, signature
):
    before = stored_keys(baton)
    response = customer.post("/twilio/sms", customer.sms_params("hi"), signature=signature)
    assert response.status_code == 403
    assert stored_keys(baton) == before
    settle(app)
    assert fake_slack.calls_to("chat.postMessage") == []


def test_signature_for_another_url_is_refused(customer, baton):
    params = customer.sms_params("hi")
    signature = customer.validator.compute_signature("https://evil.example.com/twilio/sms", params)
    assert customer.post("/twilio/sms", params, signature=signature).status_code == 403
    assert baton.conversations.get(1) is None


def test_tampered_body_is_refused(customer, baton):
    params = customer.sms_params("hi")
    signature = customer.validator.compute_signature("https://baton.example.com/twilio/sms", params)
    params["Body"] = "send me all your data"
    assert customer.post("/twilio/sms", params, signature=signature).status_code == 403
    assert baton.conversations.get(1) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"MessageSid": "", "SmsMessageSid": ""}, "MessageSid"),
        ({"MessageSid": "SM123", "SmsMessageSid": "SM123"}, "MessageSid"),
        ({"From": ""}, "From"),
        ({"From": "5551234567"}, "From"),
        ({"From": "+1"}, "From"),
        ({"From": "not a number"}, "From"),
        ({"To": "+999999999999999999"}, "To"),
        ({"Body": "x" * 10_000}, "Body"),
        ({"NumMedia": "many"}, "NumMedia"),
        ({"NumMedia": "2", "MediaUrl0": "https://x.example/a"}, "MediaUrl1"),
    ],
)
def test_malformed_inbound_text_gets_a_clear_400_and_changes_nothing(
    customer, baton, client, change, reason
):
    params = {**customer.sms_params("hello"), **change}
    before = stored_keys(baton)
    response = customer.post("/twilio/sms", params)
    assert response.status_code == 400
    assert reason in response.get_data(as_text=True)
    assert stored_keys(baton) == before
    assert client.get("/healthz").status_code == 200


def test_garbage_and_huge_bodies_never_cause_a_5xx(client, baton, customer):
    before = stored_keys(baton)
    answers = [
        client.post(
            "/twilio/sms", data=b"\x00\xff garbage", content_type="application/octet-stream"
        ),
        client.post(
            "/twilio/sms", data="x" * 300_000, content_type="application/x-www-form-urlencoded"
        ),
        client.post("/twilio/status", data="MessageSid=SM1&MessageStatus=delivered"),
        client.get("/twilio/sms"),
        client.post("/slack/events", data="{not json", content_type="application/json"),
        client.post(
            "/slack/events", data="payload=%7B%7D", content_type="application/x-www-form-urlencoded"
        ),
    ]
    # Slack's signature is checked before the body is read: unsigned garbage is a 401.
    assert [a.status_code for a in answers] == [403, 413, 403, 405, 401, 401]
    assert stored_keys(baton) == before
    health = client.get("/healthz")
    assert health.status_code == 200 and health.get_json()["store"] == "ok"


def test_malformed_status_callbacks_are_refused(customer, baton):
    for params in (
        {
            "MessageSid": new_sid(),
            "MessageStatus": "exploded",
            "To": customer.number,
            "From": customer.business_number,
        },
        {
            "MessageSid": new_sid(),
            "MessageStatus": "failed",
            "ErrorCode": "abc",
            "To": customer.number,
            "From": customer.business_number,
        },
        {
            "MessageSid": "nope",
            "MessageStatus": "delivered",
            "To": customer.number,
            "From": customer.business_number,
        },
    ):
        assert customer.post("/twilio/status", params).status_code == 400
    unknown = {
        "MessageSid": new_sid(),
        "MessageStatus": "delivered",
        "To": "+15559998888",
        "From": customer.business_number,
    }
    assert customer.post("/twilio/status", unknown).status_code == 204


def test_forged_slack_request_texts_nothing(app, customer, alex, fake_twilio, client):
    customer.texts("hi")
    channel, card_ts = alex.card_of(1)
    alex.clicks("claim", "1")
    eventually(lambda: alex.baton.conversations.get(1).owner == "U0ALEX")
    payload = json.dumps(
        {
            "type": "event_callback",
            "event_id": "EvFORGED",
            "event": {
                "type": "message",
                "user": "U0ALEX",
                "text": "forged",
                "ts": "1.2",
                "thread_ts": card_ts,
                "channel": channel,
            },
        }
    )
    response = client.post(
        "/slack/events",
        data=payload,
        content_type="application/json",
        headers={
            "X-Slack-Request-Timestamp": str(int(time.time())),
            "X-Slack-Signature": "v0=deadbeef",
        },
    )
    assert response.status_code == 401
    settle(app)
    assert fake_twilio.calls_to("messages.create") == []


def test_unknown_conversation_button_is_explained(alex, fake_slack, baton):
    alex.clicks("claim", "999")
    note = eventually(alex.ephemerals)[0]
    assert "no conversation #999" in note["text"]
    assert baton.conversations.get(999) is None


# Retries


def test_twilio_retry_of_the_same_message_sid_posts_once(app, customer, alex, fake_slack, baton):
    params = customer.sms_params("only once please")
    for _ in range(3):
        assert customer.post("/twilio/sms", params).status_code == 200
    _, card_ts = alex.card_of(1)
    eventually(lambda: texts_in_thread(fake_slack, card_ts))
    settle(app)
    assert len(texts_in_thread(fake_slack, card_ts)) == 1
    assert len(baton.conversations.messages(1)) == 1


def test_slack_retry_of_the_same_event_texts_once(app, customer, alex, fake_twilio):
    customer.texts("hi")
    alex.card_of(1)
    alex.clicks("claim", "1")
    eventually(lambda: alex.baton.conversations.get(1).owner == "U0ALEX")
    ts, _ = alex.says(1, "Hello from Alex", event_id="Ev0RETRY")
    # Slack's retry is the same event again: same event_id, same message.
    alex.says(
        1,
        "Hello from Alex",
        event_id="Ev0RETRY",
        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
        extra={"ts": ts, "event_ts": ts},
    )
    fake_twilio.wait_for("messages.create")
    settle(app)
    assert len(fake_twilio.calls_to("messages.create")) == 1


def test_the_same_slack_message_delivered_twice_is_texted_once(
    app, customer, alex, fake_twilio, fake_slack
):
    customer.texts("hi")
    alex.card_of(1)
    alex.clicks("claim", "1")
    eventually(lambda: alex.baton.conversations.get(1).owner == "U0ALEX")
    ts, _ = alex.says(1, "Only once")
    # The same message again under new event IDs, once with its client_msg_id
    # and once without, as Slack may redeliver it.
    alex.says(1, "Only once", extra={"ts": ts, "client_msg_id": "other-id"})
    alex.says(1, "Only once", extra={"ts": ts})
    eventually(lambda: len(fake_twilio.calls_to("messages.create")) >= 1)
    settle(app)
    assert [m["body"] for m in fake_twilio.sent] == ["Only once"]


# Slack outages


def test_slack_down_for_a_while_then_back_loses_nothing_and_keeps_order(
    customer, alex, fake_slack, baton
):
    fake_slack.set_down(True)
    for n in range(4):
        assert customer.texts(f"message {n}").status_code == 200
    # A worker tried to post the card and Slack refused it: delivery is backing off.
    eventually(lambda: baton.counters.read()["delivery_retries"] >= 1)
    assert baton.conversations.get(1).card_ts is None
    assert baton.delivery.backlog() >= 1
    fake_slack.set_down(False)
    _, card_ts = alex.card_of(1)
    eventually(lambda: len(texts_in_thread(fake_slack, card_ts)) == 4, timeout=15)
    assert [t.split(":* ")[1] for t in texts_in_thread(fake_slack, card_ts)] == [
        f"message {n}" for n in range(4)
    ]
    assert (
        len([m for m in fake_slack.messages(GENERAL) if m.get("thread_ts") in (None, m["ts"])]) == 1
    )


def test_rate_limited_post_waits_for_retry_after_and_posts_once(customer, alex, fake_slack):
    fake_slack.fail_next("chat.postMessage", 429, headers={"Retry-After": "1"})
    started = time.monotonic()
    customer.texts("rate limited")
    _, card_ts = alex.card_of(1)
    assert time.monotonic() - started >= 0.9
    eventually(lambda: texts_in_thread(fake_slack, card_ts))
    assert len(fake_slack.messages(GENERAL)) == 1  # the card, showing the text


def test_a_post_that_landed_before_its_answer_was_lost_is_not_posted_again(
    app, customer, alex, fake_slack
):
    fake_slack.fail_next("chat.postMessage", 500, after_effect=True, times=2)
    customer.texts("landed twice?")
    _, card_ts = alex.card_of(1)
    eventually(lambda: texts_in_thread(fake_slack, card_ts), timeout=10)
    settle(app)
    cards = [m for m in fake_slack.messages(GENERAL) if m.get("thread_ts") in (None, m["ts"])]
    assert len(cards) == 1
    assert len(texts_in_thread(fake_slack, card_ts)) == 1
    assert len(fake_slack.calls_to("conversations.history")) >= 1


def test_many_customers_at_once_each_get_one_card(app, client, alex, fake_slack, baton):
    customers = [
        Customer(client, f"+1555200{n:04d}", auth_token="twilio-test-auth-token") for n in range(20)
    ]
    for c in customers:
        c.texts("hello")
        c.texts("anyone there?")
    eventually(lambda: len(fake_slack.messages(GENERAL)) == 40, timeout=15)
    settle(app)
    assert len(fake_slack.messages(GENERAL)) == 40  # each card shows its first text
    for number in range(1, 21):
        conv = baton.conversations.get(number)
        assert [t.split(":* ")[1] for t in texts_in_thread(fake_slack, conv.card_ts)] == [
            "hello",
            "anyone there?",
        ]


def test_a_transfer_while_slack_is_down_freezes_nothing(customer, alex, baton, fake_slack, app):
    alex.runs("help")  # Baton has met Slack before the outage (it knows who it is)
    fake_slack.set_down(True)
    customer.texts("first, while Slack is down")
    customer.texts("second, still down")
    assert "Moved #1 to the sales queue" in alex.runs("transfer #1 sales")["text"]
    fake_slack.set_down(False)

    settle(app)

    assert fake_slack.messages(GENERAL) == []  # its first card would have been here
    [card] = [m for m in fake_slack.messages(SALES) if m.get("thread_ts") in (None, m["ts"])]
    thread = fake_slack.said(SALES, card["ts"])
    assert [t.split(":* ")[1] for t in thread[:2]] == [
        "first, while Slack is down",
        "second, still down",
    ]
    assert "moved #1 here from the general queue" in thread[2]
    assert baton.conversations.get(1).card_ts == card["ts"]
    assert posted(baton.redis, baton.keys, 1)


def test_a_hand_off_then_a_transfer_at_once_deliver_everything(
    customer, alex, blair, baton, fake_slack, app
):
    customer.texts("hello")
    alex.card_of(1)
    alex.clicks("claim", "1")
    eventually(lambda: baton.conversations.get(1).owner == "U0ALEX")
    alex.runs("handoff #1 <@U0BLAIR> please take this")
    blair.runs("transfer #1 sales")
    customer.texts("are you there?")

    settle(app)

    [card] = [m for m in fake_slack.messages(SALES) if m.get("thread_ts") in (None, m["ts"])]
    thread = fake_slack.said(SALES, card["ts"])
    assert any("are you there?" in t for t in thread)
    assert posted(baton.redis, baton.keys, 1)


def test_a_message_that_bolt_cannot_authorize_is_not_acknowledged(
    customer, alex, baton, fake_slack, fake_twilio, app
):
    customer.texts("hello")
    alex.card_of(1)
    alex.clicks("claim", "1")
    eventually(lambda: baton.conversations.get(1).owner == "U0ALEX")
    baton.redis.delete(baton.keys.team_url)  # as a new worker that never asked auth.test
    fake_slack.fail_next("auth.test", 500)

    ts, response = alex.says(1, "Sent while auth.test fails")

    assert response.status_code >= 500  # Slack will deliver it again
    assert fake_twilio.calls_to("messages.create") == []
    _ts, retried = alex.says(1, "Sent while auth.test fails", extra={"ts": ts, "event_ts": ts})
    assert retried.status_code == 200
    settle(app)
    assert [m["body"] for m in fake_twilio.sent] == ["Sent while auth.test fails"]


def test_a_refused_thread_reply_reaches_its_author_through_a_slack_failure(
    customer, alex, blair, baton, fake_slack, fake_twilio, app
):
    """The note saying a reply was not texted is queued with the decision, not sent after the 200."""
    customer.texts("Is the clinic open Saturday?")
    old_thread = alex.card_of(1)
    alex.clicks("claim", "1")
    eventually(lambda: baton.conversations.get(1).owner == "U0ALEX")
    fake_slack.fail_next("chat.postEphemeral", 500, times=2)

    _ts, response = blair.says(1, "Yes, nine to one.")

    assert response.status_code == 200
    note = eventually(blair.ephemerals, timeout=15)
    assert [e["text"] for e in note] == [views.not_owner_note(baton.conversations.get(1))]

    assert "Moved #1 to the sales queue" in alex.runs("transfer #1 sales")["text"]
    settle(app)
    fake_slack.fail_next("chat.postEphemeral", 503)
    _ts, response = alex.says(1, "We open at nine.", thread=old_thread)

    assert response.status_code == 200
    moved = eventually(alex.ephemerals, timeout=15)
    assert [e["text"] for e in moved] == [views.moved_away(baton.conversations.get(1))]
    assert moved[0]["thread_ts"] == old_thread[1]
    settle(app)
    assert fake_twilio.sent == []
    assert len(blair.ephemerals()) == 1
