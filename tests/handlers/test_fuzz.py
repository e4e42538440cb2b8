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
    """Aim at a real conversation: #1, its card posted."""
    customer.texts("hello")
    channel, card_ts = alex.card_of(1)
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
