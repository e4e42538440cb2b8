"""Malformed requests to every route: a 4xx, never a 5xx, and a refused request changes nothing.

First the cases a tester found answered with a 500, then hypothesis-driven requests from
standins.malformed for every route, signed and unsigned.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from standins.malformed import Fuzzer, Request, Target
from tests.dialog import PUBLIC_URL, settle


@pytest.fixture
def target(customer, alex) -> Target:  # type: ignore[no-untyped-def]
    """Aim at a real conversation: #1, its card posted, and Baton knows who it is in Slack."""
    customer.texts("hello")
    channel, card_ts = alex.card_of(1)
    alex.runs("help")
    return Target(channel=channel, card_ts=card_ts, response_url=f"{alex.slack.url}/respond/fuzz")


@pytest.fixture
def fuzzer(settings, target: Target) -> Fuzzer:  # type: ignore[no-untyped-def]
    return Fuzzer(
        slack_signing_secret=settings.slack_signing_secret,
        twilio_auth_token=settings.twilio_auth_token,
        public_url=PUBLIC_URL,
        business_number=settings.twilio_phone_number,
        target=target,
    )


def snapshot(baton) -> dict[str, bytes | None]:  # type: ignore[no-untyped-def]
    """Return every key of the test's prefix with its serialized value."""
    keys = sorted(baton.redis.scan_iter(match=f"{baton.keys.prefix}:*"))
    pipe = baton.redis.pipeline(transaction=False)
    for key in keys:
        pipe.dump(key)
    return dict(zip(keys, pipe.execute(), strict=True))


class Watch:
    """Send requests and check that each one refused left Redis and both stand-ins untouched."""

    def __init__(self, app, client, baton, fake_slack, fake_twilio) -> None:  # type: ignore[no-untyped-def]
        self.app, self.client, self.baton = app, client, baton
        self.stand_ins = (fake_slack, fake_twilio)

    def send(self, request: Request):  # type: ignore[no-untyped-def]
        settle(self.app)
        before = snapshot(self.baton)
        calls = [len(s.calls) for s in self.stand_ins]
        response = self.client.open(
            request.path, method=request.method, data=request.body, headers=request.headers
        )
        assert response.status_code < 500, f"{response.status_code} for {request.what}"
        if 400 <= response.status_code < 500:
            settle(self.app)
            assert snapshot(self.baton) == before, f"refused, yet Redis changed: {request.what}"
            called = [len(s.calls) for s in self.stand_ins]
            assert called == calls, f"refused, yet Slack or Twilio was called: {request.what}"
        return response


@pytest.fixture
def watch(app, client, baton, fake_slack, fake_twilio, target) -> Watch:  # type: ignore[no-untyped-def]
    return Watch(app, client, baton, fake_slack, fake_twilio)


def slack(
    fuzzer: Fuzzer,
    body: str | bytes,
    content_type: str = "application/json",
    *,
    timestamp: str | None = None,
    signed: bool = True,
) -> Request:
    data = body.encode() if isinstance(body, str) else body
    timestamp = timestamp if timestamp is not None else str(int(time.time()))
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp}
    headers["X-Slack-Signature"] = (
        fuzzer.slack_signature(timestamp, data) if signed else "v0=" + "0" * 64
    )
    what = f"{data[:40]!r} ({'signed' if signed else 'unsigned'}, timestamp {timestamp!r})"
    return Request("POST", "/slack/events", headers, data, what, signed)


def form(**fields: str) -> str:
    return urlencode(fields)


def twilio(fuzzer: Fuzzer, path: str, params: dict[str, str]) -> Request:
    signature = fuzzer.twilio.compute_signature(f"{PUBLIC_URL}{path}", params)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
    }
    return Request("POST", path, headers, urlencode(params).encode(), f"{params}", True)


# The cases the tester named


@pytest.mark.parametrize("body", ["[]", "[1, 2]", '"text"', "7", "null", "true"])
def test_a_json_body_that_is_not_an_object_is_a_400_signed_and_a_401_unsigned(watch, fuzzer, body):
    answer = watch.send(slack(fuzzer, body))
    assert answer.status_code == 400
    assert "not a JSON object" in answer.get_data(as_text=True)
    assert watch.send(slack(fuzzer, body, signed=False)).status_code == 401


@pytest.mark.parametrize("payload", ["null", "", "[1]", "7", "{"])
def test_an_interaction_whose_payload_is_null_or_not_an_object_is_a_400(watch, fuzzer, payload):
    request = slack(fuzzer, form(payload=payload), "application/x-www-form-urlencoded")
    assert watch.send(request).status_code == 400


@pytest.mark.parametrize(
    "timestamp", ["abc", "²", "\u0661\u0667", "1e9", " 1", "-1", "1_700_000_000", "9" * 40, ""]
)
def test_a_timestamp_that_is_not_a_number_is_a_401(watch, fuzzer, timestamp):
    event = json.dumps({"type": "event_callback", "event": {"type": "app_home_opened"}})
    assert watch.send(slack(fuzzer, event, timestamp=timestamp)).status_code == 401


def test_a_signature_that_is_not_ascii_is_a_401(watch, fuzzer):
    request = slack(fuzzer, "{}")
    request.headers["X-Slack-Signature"] = "v0=é"
    assert watch.send(request).status_code == 401


@pytest.mark.parametrize("depth", [1000, 10_000])
def test_deep_nesting_is_a_400(watch, fuzzer, depth):
    nested = "[" * depth + "]" * depth
    for request in (
        slack(fuzzer, nested),
        slack(fuzzer, '{"type": "event_callback", "event": ' + nested + "}"),
        slack(fuzzer, form(payload=nested), "application/x-www-form-urlencoded"),
    ):
        assert watch.send(request).status_code == 400


@pytest.mark.parametrize("count", ["²", "\u0661", "1.0", " 1", "-1", "11"])
def test_num_media_that_int_refuses_or_reads_otherwise_is_a_400(watch, fuzzer, customer, count):
    params = customer.sms_params("a photo", media=[("https://example.com/a.jpg", "image/jpeg")])
    answer = watch.send(twilio(fuzzer, "/twilio/sms", {**params, "NumMedia": count}))
    assert answer.status_code == 400
    assert "NumMedia" in answer.get_data(as_text=True)


@pytest.mark.parametrize("code", ["²", "\u0663\u0660", "3e4", " 30003"])
def test_an_error_code_that_int_refuses_or_reads_otherwise_is_a_400(watch, fuzzer, customer, code):
    params = {
        "MessageSid": "SM" + "a" * 32,
        "MessageStatus": "failed",
        "ErrorCode": code,
        "To": customer.number,
        "From": customer.business_number,
    }
    answer = watch.send(twilio(fuzzer, "/twilio/status", params))
    assert answer.status_code == 400
    assert "ErrorCode" in answer.get_data(as_text=True)


# Signed and well typed, but not what a listener needs: refused in words, no traceback


def no_tracebacks(caplog) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.getMessage() for r in caplog.records if r.exc_info]


def handoff_form(number: str, values: dict | None = None) -> dict:
    return {
        "id": "V0FORM",
        "type": "modal",
        "callback_id": "handoff",
        "private_metadata": number,
        "hash": "1.a",
        "state": {"values": values or {}},
    }


@pytest.mark.parametrize("metadata", ["", "²", "not a number", "999"])
def test_a_form_whose_private_metadata_names_no_conversation_is_refused_in_the_form(
    app, watch, alex, baton, target, caplog, metadata
):
    before = snapshot(baton)
    values = {
        "owner": {"owner": {"type": "users_select", "selected_user": "U0BLAIR"}},
        "note": {"note": {"type": "plain_text_input", "value": "over to you"}},
    }
    answer = alex.submits_view(handoff_form(metadata, values), values)
    assert answer.status_code == 200
    refusal = answer.get_json()
    assert refusal["response_action"] == "errors"
    assert refusal["errors"]["owner"] in ("No conversation.", "There is no conversation #999.")
    settle(app)
    assert snapshot(baton) == before
    assert no_tracebacks(caplog) == []


@pytest.mark.parametrize("callback_id", ["templates", "contact"])
def test_the_other_forms_with_empty_private_metadata_are_refused_too(
    app, alex, baton, target, caplog, callback_id
):
    before = snapshot(baton)
    view = {**handoff_form(""), "callback_id": callback_id}
    answer = alex.submits_view(view, {})
    assert answer.get_json()["response_action"] == "errors"
    assert "No conversation." in answer.get_json()["errors"].values()
    settle(app)
    assert snapshot(baton) == before
    assert no_tracebacks(caplog) == []


def test_a_hand_off_form_without_its_fields_asks_for_them(app, alex, baton, target, caplog):
    answer = alex.submits_view(handoff_form("1"), {})
    assert answer.get_json() == {
        "response_action": "errors",
        "errors": {
            "owner": "Pick the new owner.",
            "note": "Write a note for the new owner: what they need to know.",
        },
    }
    settle(app)
    assert baton.conversations.get(1).owner is None
    assert no_tracebacks(caplog) == []


@pytest.mark.parametrize("value", ["²", "", "1.5", "-1"])
def test_a_button_value_that_is_not_a_conversation_number_is_explained(
    app, alex, baton, target, caplog, value
):
    assert alex.clicks("claim", value).status_code == 200
    settle(app)
    assert [e["text"] for e in alex.ephemerals()] == ["That button does not name a conversation."]
    assert baton.conversations.get(1).owner is None
    assert no_tracebacks(caplog) == []


@pytest.mark.parametrize(
    "value", ['{"conversation": Infinity, "ts": "1"}', '{"conversation": "²", "ts": "1"}', "[]"]
)
def test_a_claim_and_send_button_that_names_no_message_says_so(
    app, alex, baton, fake_slack, target, caplog, value
):
    assert alex.clicks("claim_and_send", value).status_code == 200
    settle(app)
    answer = [c.params for c in fake_slack.calls if c.path.startswith("/respond/")][-1]
    assert answer["text"] == "That button does not name a message."
    assert no_tracebacks(caplog) == []


def test_menus_and_modal_buttons_without_what_they_pick_change_nothing(
    app, alex, baton, fake_slack, target, caplog
):
    before = snapshot(baton)
    alex.clicks_with("card_menu", {"type": "overflow", "selected_option": None})
    alex.clicks_with("card_menu", {"type": "overflow", "selected_option": {"value": "tag:x:²"}})
    alex.clicks_with("template_pick", {"type": "static_select", "selected_option": None})
    alex.picks_in_view(
        "template_pick",
        {"type": "static_select", "selected_option": {"value": "after_hours"}},
        {"id": "V0PICK", "private_metadata": ""},
    )
    settle(app)
    assert snapshot(baton) == before
    assert fake_slack.calls_to("views.update") == []
    assert no_tracebacks(caplog) == []


@pytest.mark.parametrize("missing", ["channel", "ts", "user"])
def test_a_thread_message_without_its_channel_ts_or_user_is_acknowledged_and_not_texted(
    app, alex, fake_twilio, target, caplog, missing
):
    event = {
        "type": "message",
        "user": "U0ALEX",
        "text": "hello",
        "ts": "1700000200.000100",
        "thread_ts": target.card_ts,
        "channel": target.channel,
    }
    del event[missing]
    answer = alex.send_event({"type": "event_callback", "event_id": "Ev0MISSING", "event": event})
    assert answer.status_code == 200
    settle(app)
    assert fake_twilio.calls_to("messages.create") == []
    assert no_tracebacks(caplog) == []


def test_a_home_tab_opened_by_nobody_publishes_nothing(app, alex, fake_slack, target, caplog):
    event = {"type": "app_home_opened", "tab": "home", "event_ts": "1700000200.000100"}
    assert alex.send_event({"type": "event_callback", "event": event}).status_code == 200
    settle(app)
    assert fake_slack.calls_to("views.publish") == []
    assert no_tracebacks(caplog) == []
