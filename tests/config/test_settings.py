"""Settings from the environment: every problem named on one line, defaults, and start-up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import ConfigError, Settings, load_settings
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
SERVICE_SID = "MG" + "fedcba9876543210" * 2

VALID = {
    "SLACK_BOT_TOKEN": "xoxb-123-456-abc",
    "SLACK_SIGNING_SECRET": "signing-secret",
    "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
    "TWILIO_AUTH_TOKEN": "auth-token",
    "TWILIO_PHONE_NUMBER": "+12127365000",
}
REQUIRED = [
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_PHONE_NUMBER",
]


def problems_for(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    assert str(caught.value) == "\n".join(caught.value.problems)
    assert all("\n" not in problem for problem in caught.value.problems)
    return caught.value.problems


def with_env(**changes: str | None) -> dict[str, str]:
    env = dict(VALID)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


# Required variables


def test_a_complete_environment_loads() -> None:
    settings = load_settings(VALID)

    assert settings.slack_bot_token == "xoxb-123-456-abc"
    assert settings.slack_signing_secret == "signing-secret"
    assert settings.twilio_account_sid == ACCOUNT_SID
    assert settings.twilio_auth_token == "auth-token"
    assert settings.twilio_phone_number == "+12127365000"


def test_an_empty_environment_names_every_required_variable_once_each() -> None:
    problems = problems_for({})

    assert len(problems) == len(REQUIRED)
    for name, problem in zip(REQUIRED, problems, strict=True):
        assert problem.startswith(f"{name} is not set")


@pytest.mark.parametrize("missing", REQUIRED)
def test_each_missing_required_variable_is_named(missing: str) -> None:
    problems = problems_for(with_env(**{missing: None}))

    assert len(problems) == 1
    assert problems[0].startswith(f"{missing} is not set")


@pytest.mark.parametrize("missing", REQUIRED)
def test_an_empty_value_counts_as_unset(missing: str) -> None:
    problems = problems_for(with_env(**{missing: ""}))

    assert [p.split(" ", 1)[0] for p in problems] == [missing]


def test_all_problems_are_reported_at_once() -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxp-user-token",
        "TWILIO_ACCOUNT_SID": "AC123",
        "TWILIO_PHONE_NUMBER": "212-736-5000",
        "PORT": "http",
        "REDIS_URL": "http://localhost:6379",
    }
    problems = problems_for(env)

    named = [p.split(" ", 1)[0] for p in problems]
    assert sorted(named) == sorted(
        [
            "SLACK_BOT_TOKEN",
            "SLACK_SIGNING_SECRET",
            "TWILIO_ACCOUNT_SID",
            "TWILIO_AUTH_TOKEN",
            "TWILIO_PHONE_NUMBER",
            "PORT",
            "REDIS_URL",
        ]
    )


# Malformed values


@pytest.mark.parametrize("token", ["xoxp-123-user", "xapp-1-abc", "123", "XOXB-123"])
def test_bot_token_must_be_a_bot_token(token: str) -> None:
    problems = problems_for(with_env(SLACK_BOT_TOKEN=token))

    assert problems == ["SLACK_BOT_TOKEN must be a bot token starting with xoxb-"]


def test_app_token_must_be_an_app_level_token() -> None:
    problems = problems_for(with_env(SLACK_APP_TOKEN="xoxb-not-an-app-token"))

    assert problems == ["SLACK_APP_TOKEN must be an app-level token starting with xapp-"]


def test_app_token_is_kept_for_socket_mode() -> None:
    assert load_settings(with_env(SLACK_APP_TOKEN="xapp-1-A1-abc")).slack_app_token == (
        "xapp-1-A1-abc"
    )


@pytest.mark.parametrize(
    "sid",
    [
        "AC123",
        "MG" + "0" * 32,
        "AC" + "0" * 31,
        "AC" + "0" * 33,
        "AC" + "g" * 32,
        "ac" + "0" * 32,
    ],
)
def test_account_sid_must_be_ac_and_32_hex_digits(sid: str) -> None:
    problems = problems_for(with_env(TWILIO_ACCOUNT_SID=sid))

    assert problems == ["TWILIO_ACCOUNT_SID must be AC followed by 32 hex digits"]


def test_account_sid_accepts_upper_and_lower_case_hex() -> None:
    sid = "AC" + "ABCDEF0123456789abcdef0123456789"
    assert load_settings(with_env(TWILIO_ACCOUNT_SID=sid)).twilio_account_sid == sid


@pytest.mark.parametrize(
    "number",
    ["212-736-5000", "12127365000", "+1 212 736 5000", "+0123456789", "+12", "+1234567890123456"],
)
def test_phone_number_must_be_e164(number: str) -> None:
    problems = problems_for(with_env(TWILIO_PHONE_NUMBER=number))

    assert len(problems) == 1
    assert problems[0].startswith("TWILIO_PHONE_NUMBER must be in E.164 form")
    assert repr(number) in problems[0]


@pytest.mark.parametrize("name", ["PUBLIC_URL", "SLACK_API_URL", "TWILIO_API_URL"])
@pytest.mark.parametrize("url", ["baton.example.com", "ftp://example.com", "https://", "://x"])
def test_urls_must_be_http_or_https_with_a_host(name: str, url: str) -> None:
    problems = problems_for(with_env(**{name: url}))

    assert problems == [f"{name} must be an http(s) URL like https://example.com, got {url!r}"]


@pytest.mark.parametrize("port", ["0", "65536", "-1", "+80", "http", "80.5", "3 000", "²"])
def test_port_must_be_a_whole_number_in_range(port: str) -> None:
    problems = problems_for(with_env(PORT=port))

    assert problems == [f"PORT must be a whole number from 1 to 65535, got {port!r}"]


@pytest.mark.parametrize("port", ["1", "8080", "65535", " 8080 "])
def test_port_in_range_is_used(port: str) -> None:
    assert load_settings(with_env(PORT=port)).port == int(port)


@pytest.mark.parametrize(
    "url", ["http://localhost:6379", "localhost:6379", "memcached://x:11211", "/tmp/redis.sock"]
)
def test_redis_url_scheme_must_be_redis(url: str) -> None:
    problems = problems_for(with_env(REDIS_URL=url))

    assert problems == [f"REDIS_URL must start with redis://, rediss:// or unix://, got {url!r}"]


@pytest.mark.parametrize(
    "url", ["redis://localhost:6379/0", "rediss://:pw@redis.example.com:6380", "unix:///tmp/r.sock"]
)
def test_redis_url_schemes_accepted(url: str) -> None:
    assert load_settings(with_env(REDIS_URL=url)).redis_url == url


def test_production_requires_public_url() -> None:
    problems = problems_for(with_env(BATON_ENV="production", REDIS_URL="redis://redis:6379/0"))

    assert len(problems) == 1
    assert problems[0].startswith("PUBLIC_URL is not set")
    assert "production" in problems[0]


def test_production_requires_redis_url() -> None:
    problems = problems_for(
        with_env(BATON_ENV="production", PUBLIC_URL="https://baton.example.com")
    )

    assert problems == [
        "REDIS_URL is not set: in production each process (web, clock) would start an "
        "embedded Redis of its own and split the data; set it to your Redis server's URL "
        "(redis://…)"
    ]


def test_development_keeps_the_embedded_redis_default() -> None:
    assert load_settings(with_env(BATON_ENV="development")).redis_url is None


def test_production_with_public_url_and_redis_url_loads() -> None:
    settings = load_settings(
        with_env(
            BATON_ENV="production",
            PUBLIC_URL="https://baton.example.com",
            REDIS_URL="redis://redis:6379/0",
        )
    )

    assert settings.production
    assert settings.public_url == "https://baton.example.com"
    assert settings.redis_url == "redis://redis:6379/0"


def test_unknown_environment_is_refused() -> None:
    problems = problems_for(with_env(BATON_ENV="staging"))

    assert problems == ["BATON_ENV must be development or production, got 'staging'"]


def test_log_level_is_case_insensitive_but_must_be_known() -> None:
    assert load_settings(with_env(LOG_LEVEL="debug")).log_level == "DEBUG"
    assert problems_for(with_env(LOG_LEVEL="verbose")) == [
        "LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got 'VERBOSE'"
    ]


def test_redis_prefix_must_be_key_safe() -> None:
    problems = problems_for(with_env(BATON_REDIS_PREFIX="baton prod"))

    assert problems == ["BATON_REDIS_PREFIX may hold only letters, digits and _ . : -"]


def test_delivery_runs_off_the_web_process_unless_configured() -> None:
    unset = load_settings(VALID)
    assert unset.delivery_workers(serves_web=True) == 0
    assert unset.delivery_workers(serves_web=False) == 8
    configured = load_settings(with_env(BATON_DELIVERY_THREADS="3"))
    assert configured.delivery_workers(serves_web=True) == 3
    assert configured.delivery_workers(serves_web=False) == 3


def test_max_queue_wait_is_whole_milliseconds() -> None:
    assert load_settings(VALID).max_queue_wait_ms == 250
    assert load_settings(with_env(BATON_MAX_QUEUE_WAIT_MS="0")).max_queue_wait_ms == 0
    assert problems_for(with_env(BATON_MAX_QUEUE_WAIT_MS="0.5")) == [
        "BATON_MAX_QUEUE_WAIT_MS must be a whole number from 0 to 15000, got '0.5'"
    ]


def test_delivery_threads_range() -> None:
    assert load_settings(with_env(BATON_DELIVERY_THREADS="0")).delivery_threads == 0
    assert problems_for(with_env(BATON_DELIVERY_THREADS="65")) == [
        "BATON_DELIVERY_THREADS must be a whole number from 0 to 64, got '65'"
    ]


def test_dead_letter_and_health_thresholds_are_whole_seconds() -> None:
    settings = load_settings(with_env(BATON_DEAD_LETTER_AFTER="60", BATON_UNHEALTHY_AFTER="0"))
    assert (settings.dead_letter_after, settings.unhealthy_after) == (60, 0)
    assert problems_for(with_env(BATON_DEAD_LETTER_AFTER="5m", BATON_UNHEALTHY_AFTER="-1")) == [
        "BATON_DEAD_LETTER_AFTER must be a whole number from 0 to 86400, got '5m'",
        "BATON_UNHEALTHY_AFTER must be a whole number from 0 to 86400, got '-1'",
    ]


# Defaults and alternatives


def test_defaults_when_optional_variables_are_unset() -> None:
    settings = load_settings(VALID)

    assert settings.slack_app_token is None
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.twilio_api_url == "https://api.twilio.com"
    assert settings.public_url is None
    assert settings.redis_url is None
    assert settings.redis_prefix == "baton"
    assert settings.data_dir == Path("data")
    assert settings.config_path == Path("config/baton.yml")
    assert settings.port == 3000
    assert settings.environment == "development"
    assert not settings.production
    assert settings.log_level == "INFO"
    assert settings.delivery_threads is None
    assert (settings.dead_letter_after, settings.unhealthy_after) == (300, 600)
    assert settings.twilio_messaging_service_sid is None


def test_empty_optional_variables_fall_back_to_defaults() -> None:
    settings = load_settings(
        with_env(PORT="", SLACK_API_URL="", REDIS_URL="", BATON_CONFIG="", PUBLIC_URL="")
    )

    assert settings.port == 3000
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.redis_url is None
    assert settings.config_path == Path("config/baton.yml")
    assert settings.public_url is None


def test_optional_variables_are_read() -> None:
    settings = load_settings(
        with_env(
            SLACK_API_URL="http://127.0.0.1:9000/api/",
            TWILIO_API_URL="http://127.0.0.1:9001",
            PUBLIC_URL="https://baton.example.com/",
            BATON_CONFIG="/etc/baton/baton.yml",
            BATON_DATA_DIR="/var/lib/baton",
            PORT="8080",
        )
    )

    assert settings.slack_api_url == "http://127.0.0.1:9000/api/"
    assert settings.twilio_api_url == "http://127.0.0.1:9001"
    assert settings.public_url == "https://baton.example.com"  # trailing slash dropped
    assert settings.config_path == Path("/etc/baton/baton.yml")
    assert settings.data_dir == Path("/var/lib/baton")
    assert settings.port == 8080


def test_messaging_service_instead_of_phone_number() -> None:
    settings = load_settings(
        with_env(TWILIO_PHONE_NUMBER=None, TWILIO_MESSAGING_SERVICE_SID=SERVICE_SID)
    )

    assert settings.twilio_phone_number is None
    assert settings.twilio_messaging_service_sid == SERVICE_SID


def test_messaging_service_and_phone_number_together() -> None:
    settings = load_settings(with_env(TWILIO_MESSAGING_SERVICE_SID=SERVICE_SID))

    assert settings.twilio_phone_number == "+12127365000"
    assert settings.twilio_messaging_service_sid == SERVICE_SID


def test_missing_phone_number_mentions_the_messaging_service_alternative() -> None:
    problems = problems_for(with_env(TWILIO_PHONE_NUMBER=None))

    assert len(problems) == 1
    assert problems[0].startswith("TWILIO_PHONE_NUMBER is not set")
    assert "TWILIO_MESSAGING_SERVICE_SID" in problems[0]


@pytest.mark.parametrize("sid", ["MG123", "AC" + "0" * 32, "MG" + "z" * 32])
def test_messaging_service_sid_must_be_mg_and_32_hex_digits(sid: str) -> None:
    problems = problems_for(with_env(TWILIO_PHONE_NUMBER=None, TWILIO_MESSAGING_SERVICE_SID=sid))

    assert problems == ["TWILIO_MESSAGING_SERVICE_SID must be MG followed by 32 hex digits"]


def test_load_settings_reads_only_the_mapping_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9999")

    assert load_settings(VALID).port == 3000


def test_settings_are_frozen() -> None:
    settings = load_settings(VALID)

    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]
    assert isinstance(settings, Settings)


# Start-up of `python app.py`


def run_app(env: dict[str, str], timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Run `python app.py` in its own process group; kill the whole group if it hangs."""
    process = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"python app.py did not exit within {timeout}s; stderr:\n{stderr}")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.fixture
def bare_env(tmp_path: Path) -> dict[str, str]:
    if (ROOT / ".env").exists():
        pytest.skip("a .env file in the project root would feed settings to app.py")
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}


def test_app_with_an_empty_environment_exits_2_naming_each_setting(
    bare_env: dict[str, str],
) -> None:
    result = run_app(bare_env)

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("baton: SLACK_BOT_TOKEN is not set")
    assert all(line.startswith("baton: ") for line in lines)
    for name in REQUIRED:
        assert sum(line.startswith(f"baton: {name} is not set") for line in lines) == 1


def test_app_with_a_bad_config_file_exits_2_naming_each_bad_key(
    bare_env: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "baton.yml"
    config.write_text(
        "business:\n"
        "  name: Acme\n"
        "  colour: blue\n"
        "queues:\n"
        "  - name: general\n"
        "    channel: C0123GENERAL\n"
        "    default: true\n"
        "response_targets:\n"
        "  first_response: 1w\n"
        "templates:\n"
        "  after_hours: Closed, {first_name}. Back {opens_at}, {team_name} says.\n",
        encoding="utf-8",
    )
    env = {
        **bare_env,
        **VALID,
        "BATON_CONFIG": str(config),
        "BATON_DATA_DIR": str(tmp_path / "data"),
        # Unreachable on purpose: the config must be refused before Redis matters.
        "REDIS_URL": "redis://127.0.0.1:1",
        "PORT": str(free_port()),
    }

    result = run_app(env)

    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    problems = [line for line in result.stderr.splitlines() if line.startswith("baton: ")]
    assert any("business.colour" in line and "unknown key" in line for line in problems)
    assert any("response_targets.first_response" in line and "1w" in line for line in problems)
    assert any(
        "templates.after_hours" in line and "unknown placeholder {team_name}" in line
        for line in problems
    )
    assert len(problems) == 3
