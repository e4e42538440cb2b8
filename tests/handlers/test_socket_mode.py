"""Socket Mode: the same dialog as over HTTP, with Slack's side arriving over a websocket.

create_app connects slack_sdk's built-in Socket Mode client when an app token is set;
FakeSlack's apps.connections.open points it at FakeSocketMode, which then delivers
envelopes and records acks. No request reaches /slack/events.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Iterator

import pytest
from flask import request
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from app import create_app, shutdown
from config import Settings
from standins import FakeSlack, FakeSocketMode
from tests.dialog import Customer, command_payload, eventually, shape

AUTH_TOKEN = "twilio-test-auth-token"
APP_TOKEN = "xapp-1-test"
GENERAL = "C0123GENERAL"


@pytest.fixture
def socket_server(fake_slack: FakeSlack) -> Iterator[FakeSocketMode]:
    with FakeSocketMode() as server:
        fake_slack.socket_mode_url = server.url
        yield server


@pytest.fixture
def socket_app(settings, redis_server, clock, socket_server):  # type: ignore[no-untyped-def]
    """Baton in Socket Mode; records every HTTP path it serves in app.config["SEEN_PATHS"]."""
    before = set(threading.enumerate())
    app = create_app(Settings(**{**settings.__dict__, "slack_app_token": APP_TOKEN}), clock=clock)
    seen: list[str] = []
    app.config["SEEN_PATHS"] = seen
    app.before_request(lambda: seen.append(request.path))
    yield app
    shutdown(app)

    def leaked() -> list[str]:
        return [t.name for t in set(threading.enumerate()) - before if t.is_alive()]

    # The stand-in's side of the connection ends a moment after the client hangs up.
    eventually(lambda: not leaked(), message=f"threads left running: {leaked()}")


@pytest.fixture
def customer(socket_app) -> Customer:  # type: ignore[no-untyped-def]
    return Customer(socket_app.test_client(), "+15551234567", auth_token=AUTH_TOKEN)


def card_of(fake_slack: FakeSlack, number: int) -> tuple[str, str]:
    """Return (channel, ts) of conversation number's card, once posted."""

    def posted() -> tuple[str, str] | None:
        for message in fake_slack.messages():
            meta = message.get("metadata") or {}
            if (meta.get("event_payload") or {}).get("conversation") == number:
                return message["channel"], message["ts"]
        return None

    return eventually(posted, message=f"card of #{number} was never posted")


def click(server: FakeSocketMode, fake_slack: FakeSlack, user: str, action_id: str, value: str):  # type: ignore[no-untyped-def]
    """Deliver a button click as an `interactive` envelope; return its envelope_id."""
    payload = copy.deepcopy(shape("block_actions"))
    payload["user"] = {"id": user, "username": user.lower(), "team_id": "T0BATON"}
    payload["response_url"] = f"{fake_slack.url}/respond/{uuid.uuid4().hex[:8]}"
    payload["actions"][0].update(action_id=action_id, value=value)
    return server.send("interactive", payload)


def say(server: FakeSocketMode, fake_slack: FakeSlack, user: str, number: int, text: str) -> str:
    """Write in conversation number's thread and deliver the `events_api` envelope."""
    channel, card_ts = card_of(fake_slack, number)
    ts = fake_slack.add_message(channel, text, user=user, thread_ts=card_ts)
    payload = copy.deepcopy(shape("message_event"))
    payload["event"].update(
        text=text,
        user=user,
        ts=ts,
        event_ts=ts,
        thread_ts=card_ts,
        channel=channel,
        client_msg_id=str(uuid.uuid4()),
    )
    payload["event_id"] = f"Ev{uuid.uuid4().hex[:12].upper()}"
    return server.send("events_api", payload)


def test_text_claim_and_reply_over_socket_mode(
    socket_app, socket_server, customer, fake_slack, fake_twilio
):
    # create_app opened the socket with the app-level token; the stand-in said hello.
    opened = fake_slack.calls_to("apps.connections.open")
    assert [c.headers["Authorization"] for c in opened] == [f"Bearer {APP_TOKEN}"]
    assert socket_server.connections == 1
    assert socket_app.extensions["socket_mode"].client.is_connected()
    baton = socket_app.extensions["baton"]

    assert customer.texts("Can I move my cleaning to Friday?").status_code == 200
    channel, _card_ts = card_of(fake_slack, 1)
    assert channel == GENERAL

    envelope = click(socket_server, fake_slack, "U0ALEX", "claim", "1")
    ack = socket_server.wait_for_ack(envelope)
    assert ack == {"envelope_id": envelope}
    eventually(lambda: baton.conversations.get(1).owner == "U0ALEX")

    envelope = say(socket_server, fake_slack, "U0ALEX", 1, "Friday at 3pm works, see you then.")
    assert socket_server.wait_for_ack(envelope) == {"envelope_id": envelope}
    sent = fake_twilio.wait_for("messages.create")[0].params
    assert sent["To"] == "+15551234567"
    assert sent["Body"] == "Friday at 3pm works, see you then."

    assert socket_app.config["SEEN_PATHS"] == ["/twilio/sms"]  # nothing came over HTTP from Slack
    assert socket_server.protocol_errors == []


def test_slash_command_is_acked_and_answered_at_the_response_url(
    socket_app, socket_server, fake_slack
):
    hook = f"/respond/{uuid.uuid4().hex[:10]}"
    payload = command_payload("U0ALEX", "help", f"{fake_slack.url}{hook}")
    envelope = socket_server.send("slash_commands", payload, accepts_response_payload=True)

    # Baton acks empty and answers through respond(), so the help arrives at the response_url.
    assert socket_server.wait_for_ack(envelope) == {"envelope_id": envelope}
    answer = eventually(lambda: [c for c in fake_slack.calls if c.path == hook])[0].params
    assert answer["response_type"] == "ephemeral"
    assert "claim <ref>" in answer["text"]
    assert socket_app.config["SEEN_PATHS"] == []


def test_apps_connections_open_wants_an_app_level_token(fake_slack, socket_server):
    web = WebClient(token="xoxb-test", base_url=f"{fake_slack.url}/api/")
    with pytest.raises(SlackApiError) as refused:
        web.apps_connections_open(app_token="xoxb-test")
    assert refused.value.response["error"] == "invalid_auth"

    assert web.apps_connections_open(app_token=APP_TOKEN)["url"] == socket_server.url
    fake_slack.socket_mode_url = None
    with pytest.raises(SlackApiError) as refused:
        web.apps_connections_open(app_token=APP_TOKEN)
    assert refused.value.response["error"] == "not_allowed_token_type"
