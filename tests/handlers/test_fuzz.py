"""Malformed requests to every route: a 4xx, never a 5xx, and a refused request changes nothing.

Hypothesis-driven requests from standins.malformed for every route, signed and unsigned; then
the cases a tester found answered with a 500, and signed requests a listener cannot use.
"""

from __future__ import annotations

import copy
import json
import time
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from standins.actors import command_payload, shape
from standins.malformed import Fuzzer, Request, Target, snapshot
from tests.dialog import PUBLIC_URL, eventually, settle


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


class Watch:
    """Send requests and check that each one refused left Redis and both stand-ins untouched."""

    def __init__(self, app, client, baton, fake_slack, fake_twilio) -> None:  # type: ignore[no-untyped-def]
        self.app, self.client, self.baton = app, client, baton
        self.stand_ins = (fake_slack, fake_twilio)

    def send(self, request: Request):  # type: ignore[no-untyped-def]
        settle(self.app)
        before = snapshot(self.baton.redis, self.baton.keys.prefix)
        calls = [len(s.calls) for s in self.stand_ins]
        response = self.client.open(
            request.path, method=request.method, data=request.body, headers=request.headers
        )
        said = f"{response.status_code} for {request.what}: {response.get_data()[:200]!r}"
        assert response.status_code < 500, said
        if 400 <= response.status_code < 500:
            settle(self.app)
            assert snapshot(self.baton.redis, self.baton.keys.prefix) == before, (
                f"refused, yet Redis changed: {said}"
            )
            called = [len(s.calls) for s in self.stand_ins]
            assert called == calls, f"refused, yet Slack or Twilio was called: {said}"
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


# Fuzzed: every route, signed and unsigned


def test_every_shape_the_fuzzer_bends_is_accepted_as_slack_and_twilio_send_it(watch, fuzzer):
    for request in fuzzer.as_sent():
        assert watch.send(request).status_code // 100 == 2, request.what


@pytest.mark.parametrize(
    ("route", "examples"),
    [("slack_request", 400), ("sms_request", 150), ("status_request", 120), ("ops_request", 50)],
)
def test_fuzzed_requests_never_get_a_5xx_and_those_refused_change_nothing(
    watch, fuzzer, route, examples
):
    make = getattr(fuzzer, route)
    seen: set[tuple[bool, int]] = set()

    # The fixtures (app, Redis, stand-ins, conversation #1) are built once for every example.
    @settings(max_examples=examples, database=None)
    @given(rng=st.randoms(use_true_random=False))
    def sends(rng) -> None:  # type: ignore[no-untyped-def]
        request = make(rng)
        seen.add((request.signed, watch.send(request).status_code // 100))

    sends()
    if route != "ops_request":
        # Requests were refused on both sides of the signature check.
        assert {(True, 4), (False, 4)} <= seen, seen


# The cases the tester named (each test builds one app and sends every case to it)


def test_a_json_body_that_is_not_an_object_is_a_400_signed_and_a_401_unsigned(watch, fuzzer):
    for body in ("[]", "[1, 2]", '"text"', "7", "null", "true"):
        answer = watch.send(slack(fuzzer, body))
        assert answer.status_code == 400, body
        assert "not a JSON object" in answer.get_data(as_text=True)
        assert watch.send(slack(fuzzer, body, signed=False)).status_code == 401, body


def test_an_interaction_whose_payload_is_null_or_not_an_object_is_a_400(watch, fuzzer):
    for payload in ("null", "", "[1]", "7", "{"):
        request = slack(fuzzer, form(payload=payload), "application/x-www-form-urlencoded")
        assert watch.send(request).status_code == 400, payload


def test_a_timestamp_that_is_not_a_number_or_a_signature_not_ascii_is_a_401(watch, fuzzer):
    event = json.dumps({"type": "event_callback", "event": {"type": "app_home_opened"}})
    for timestamp in ("abc", "²", "\u0661\u0667", "1e9", " 1", "-1", "1_700_000_000", "9" * 40, ""):
        assert watch.send(slack(fuzzer, event, timestamp=timestamp)).status_code == 401, timestamp
    request = slack(fuzzer, event)
    request.headers["X-Slack-Signature"] = "v0=é"
    assert watch.send(request).status_code == 401


def test_a_user_id_that_is_not_a_slack_user_id_is_a_400(watch, fuzzer, target, caplog):
    """Only Slack could sign one; still, no such id becomes an owner or a log line."""
    for user in ("+15551234567", "", " ", "u0alex", "U0ALEX\r\n"):
        command = command_payload(user, "claim #1", target.response_url)
        request = slack(fuzzer, form(**command), "application/x-www-form-urlencoded")
        assert watch.send(request).status_code == 400, user
        click = copy.deepcopy(shape("block_actions"))
        click["user"] = {"id": user, "username": "x", "team_id": "T0BATON"}
        click["actions"] = [{"action_id": "claim", "value": "1", "action_ts": "1700000050.1"}]
        request = slack(
            fuzzer, form(payload=json.dumps(click)), "application/x-www-form-urlencoded"
        )
        assert watch.send(request).status_code == 400, user
    assert "+15551234567" not in caplog.text


def test_a_subcommand_nobody_knows_is_not_written_in_the_log(alex, caplog):
    with caplog.at_level("INFO"):
        answer = alex.runs("2125550123 hello")
    assert "2125550123" in answer["text"]  # told what was not understood
    assert "2125550123" not in caplog.text and "/sms (unknown) by U0ALEX" in caplog.text


def test_deep_nesting_is_a_400(watch, fuzzer):
    for depth in (1000, 10_000):
        nested = "[" * depth + "]" * depth
        for request in (
            slack(fuzzer, nested),
            slack(fuzzer, '{"type": "event_callback", "event": ' + nested + "}"),
            slack(fuzzer, form(payload=nested), "application/x-www-form-urlencoded"),
        ):
            assert watch.send(request).status_code == 400, (depth, request.what)


def test_num_media_or_error_code_that_int_refuses_or_reads_otherwise_is_a_400(
    watch, fuzzer, customer
):
    media = [("https://example.com/a.jpg", "image/jpeg")]
    for count in ("²", "\u0661", "1.0", " 1", "-1", "11"):
        params = {**customer.sms_params("a photo", media=media), "NumMedia": count}
        answer = watch.send(twilio(fuzzer, "/twilio/sms", params))
        assert answer.status_code == 400, count
        assert "NumMedia" in answer.get_data(as_text=True)
    for code in ("²", "\u0663\u0660", "3e4", " 30003"):
        params = {
            "MessageSid": "SM" + "a" * 32,
            "MessageStatus": "failed",
            "ErrorCode": code,
            "To": customer.number,
            "From": customer.business_number,
        }
        answer = watch.send(twilio(fuzzer, "/twilio/status", params))
        assert answer.status_code == 400, code
        assert "ErrorCode" in answer.get_data(as_text=True)


# Signed and well typed, but not what a listener needs: refused in words, no traceback


def tracebacks(caplog) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.getMessage() for r in caplog.records if r.exc_info]


def form_view(callback_id: str, number: str) -> dict:
    return {
        "id": "V0FORM",
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": number,
        "hash": "1.a",
    }


def test_a_form_whose_private_metadata_names_no_conversation_is_refused_in_the_form(
    app, alex, baton, target, caplog
):
    before = snapshot(baton.redis, baton.keys.prefix)
    values = {
        "owner": {"owner": {"type": "users_select", "selected_user": "U0BLAIR"}},
        "note": {"note": {"type": "plain_text_input", "value": "over to you"}},
    }
    for metadata, error in [
        ("", "No conversation."),
        ("²", "No conversation."),
        ("not a number", "No conversation."),
        ("999", "There is no conversation #999."),
    ]:
        answer = alex.submits_view(form_view("handoff", metadata), values)
        assert answer.status_code == 200
        assert answer.get_json() == {"response_action": "errors", "errors": {"owner": error}}
    for callback_id, field in [("templates", "template"), ("contact", "owner")]:
        answer = alex.submits_view(form_view(callback_id, ""), {})
        assert answer.get_json() == {
            "response_action": "errors",
            "errors": {field: "No conversation."},
        }
    settle(app)
    assert snapshot(baton.redis, baton.keys.prefix) == before
    assert tracebacks(caplog) == []


def test_a_hand_off_form_without_its_fields_asks_for_them(app, alex, baton, target, caplog):
    answer = alex.submits_view(form_view("handoff", "1"), {})
    assert answer.get_json() == {
        "response_action": "errors",
        "errors": {
            "owner": "Pick the new owner.",
            "note": "Write a note for the new owner: what they need to know.",
        },
    }
    settle(app)
    assert baton.conversations.get(1).owner is None
    assert tracebacks(caplog) == []


def test_buttons_whose_value_names_no_conversation_or_message_say_so(
    app, alex, baton, fake_slack, target, caplog
):
    for value in ("²", "", "1.5", "-1"):
        assert alex.clicks("claim", value).status_code == 200
    for value in ('{"conversation": Infinity, "ts": "1"}', '{"conversation": "²", "ts": "1"}'):
        assert alex.clicks("claim_and_send", value).status_code == 200
    settle(app)
    no_conversation = "That button does not name a conversation."
    no_message = "That button does not name a message."
    assert [e["text"] for e in alex.ephemerals()] == [no_conversation] * 4 + [no_message] * 2
    assert baton.conversations.get(1).owner is None
    assert tracebacks(caplog) == []


def test_menus_and_modal_buttons_without_what_they_pick_change_nothing(
    app, alex, baton, fake_slack, target, caplog
):
    before = snapshot(baton.redis, baton.keys.prefix)
    alex.clicks_with("card_menu", {"type": "overflow", "selected_option": None})
    alex.clicks_with("card_menu", {"type": "overflow", "selected_option": {"value": "tag:x:²"}})
    alex.clicks_with("template_pick", {"type": "static_select", "selected_option": None})
    alex.picks_in_view(
        "template_pick",
        {"type": "static_select", "selected_option": {"value": "after_hours"}},
        {"id": "V0PICK", "private_metadata": ""},
    )
    settle(app)
    assert snapshot(baton.redis, baton.keys.prefix) == before
    assert fake_slack.calls_to("views.update") == []
    assert tracebacks(caplog) == []


def test_events_without_their_channel_ts_or_user_are_acknowledged_and_do_nothing(
    app, alex, fake_slack, fake_twilio, target, caplog
):
    for missing in ("channel", "ts", "user"):
        event = {
            "type": "message",
            "user": "U0ALEX",
            "text": "hello",
            "ts": "1700000200.000100",
            "thread_ts": target.card_ts,
            "channel": target.channel,
        }
        del event[missing]
        answer = alex.send_event({"type": "event_callback", "event": event})
        assert answer.status_code == 200, missing
    home = {"type": "app_home_opened", "tab": "home", "event_ts": "1700000200.000100"}
    assert alex.send_event({"type": "event_callback", "event": home}).status_code == 200
    settle(app)
    assert fake_twilio.calls_to("messages.create") == []
    assert fake_slack.calls_to("views.publish") == []
    assert tracebacks(caplog) == []


def test_a_click_whose_listener_fails_right_after_the_ack_is_still_acknowledged(
    app, alex, fake_slack, target, caplog
):
    # Opening the hand-off form fails at once (Slack is down); Bolt would take the ack back.
    fake_slack.set_down(True)
    started = time.monotonic()
    answer = alex.clicks("handoff", "1")
    assert answer.status_code == 200
    assert time.monotonic() - started < 2
    settle(app)
    assert tracebacks(caplog) == ["unhandled error in handoff, after Slack's answer"]


def test_a_template_picked_in_a_modal_slack_no_longer_has_logs_no_traceback(
    app, alex, baton, target, fake_slack, caplog
):
    payload = copy.deepcopy(shape("block_actions"))
    payload["user"] = {"id": "U0ALEX", "username": "u0alex", "team_id": "T0BATON"}
    payload["view"] = {"id": "V0GONE", "hash": "1.a", "private_metadata": "1", "type": "modal"}
    payload["actions"] = [
        {
            "action_id": "template_pick",
            "block_id": "template",
            "type": "static_select",
            "selected_option": {"value": "after_hours"},
            "action_ts": "1700000050.1",
        }
    ]

    assert alex.send_interaction(payload).status_code == 200
    eventually(lambda: fake_slack.calls_to("views.update"))
    settle(app)
    assert tracebacks(caplog) == []
