"""Read and validate the process settings; the only module that reads os.environ."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from dotenv import load_dotenv

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
# Delivery workers per outbox in the clock and the all-in-one process when BATON_DELIVERY_THREADS
# is unset; the web process then runs none, so webhooks never wait behind delivery.
DELIVERY_THREADS = 8


class ConfigError(Exception):
    """A setting or config key is missing or malformed; each problem is one line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    """Everything Baton reads from the environment."""

    slack_bot_token: str
    slack_signing_secret: str
    twilio_account_sid: str
    twilio_auth_token: str
    twilio_phone_number: str | None = None
    twilio_messaging_service_sid: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    twilio_api_url: str = "https://api.twilio.com"
    public_url: str | None = None
    redis_url: str | None = None
    redis_prefix: str = "baton"
    data_dir: Path = field(default_factory=lambda: Path("data"))
    config_path: Path = field(default_factory=lambda: Path("config/baton.yml"))
    port: int = 3000
    environment: str = "development"
    log_level: str = "INFO"
    # None: unset, so the web process delivers nothing and the clock runs DELIVERY_THREADS.
    delivery_threads: int | None = None
    # Seconds a refused card or customer text is retried before it is dead-lettered.
    dead_letter_after: int = 300
    # Seconds the oldest queued job may wait before /healthz answers 503 (0: never).
    unhealthy_after: int = 600
    # Slack delivery's pace, as a multiple of Slack's published rate limits:
    # 1 keeps within them; 0 turns pacing off (a stand-in that does not limit).
    slack_pace: float = 1.0
    # Milliseconds a request may wait for a web thread before it is refused with 503 (0: never).
    max_queue_wait_ms: int = 250

    @property
    def production(self) -> bool:
        """Tell whether this process runs in production mode."""
        return self.environment == "production"

    def delivery_workers(self, *, serves_web: bool) -> int:
        """Return how many delivery workers per outbox this process runs.

        Unset, a web process runs none, so a webhook never waits behind delivery for the
        interpreter; the clock and the all-in-one process run DELIVERY_THREADS.
        """
        if self.delivery_threads is not None:
            return self.delivery_threads
        return 0 if serves_web else DELIVERY_THREADS


def _url(problems: list[str], name: str, value: str | None) -> str | None:
    if value is None:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        problems.append(f"{name} must be an http(s) URL like https://example.com, got {value!r}")
    return value


def _int(
    problems: list[str], name: str, value: str | None, default: int, low: int, high: int
) -> int:
    if value is None:
        return default
    if not value.strip().isdecimal() or not low <= int(value) <= high:
        problems.append(f"{name} must be a whole number from {low} to {high}, got {value!r}")
        return default
    return int(value)


def _float(
    problems: list[str], name: str, value: str | None, default: float, low: float, high: float
) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not low <= number <= high:
        problems.append(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")
        return default
    return number


def _environment(environ: Mapping[str, str] | None) -> dict[str, str]:
    """Return the variables that are set (reading ./.env too when environ is the real one)."""
    if environ is None:
        load_dotenv(override=False)
    return {k: v for k, v in (os.environ if environ is None else environ).items() if v != ""}


@dataclass(frozen=True)
class ManifestSettings:
    """What the Slack app manifest needs: where Slack calls Baton, and the config's command."""

    public_url: str | None
    config_path: Path


def load_manifest_settings(environ: Mapping[str, str] | None = None) -> ManifestSettings:
    """Read only PUBLIC_URL and BATON_CONFIG, so a manifest can be made before any secret exists."""
    env = _environment(environ)
    problems: list[str] = []
    public_url = _url(problems, "PUBLIC_URL", env.get("PUBLIC_URL"))
    if problems:
        raise ConfigError(problems)
    return ManifestSettings(
        public_url=public_url.rstrip("/") if public_url else None,
        config_path=Path(env.get("BATON_CONFIG", "config/baton.yml")),
    )


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment, raising ConfigError naming every problem.

    Reading the real environment also reads ./.env (development), which never
    overrides variables already set.
    """
    env = _environment(environ)
    problems: list[str] = []

    def required(name: str, hint: str) -> str:
        value = env.get(name)
        if value is None:
            problems.append(f"{name} is not set: {hint}")
            return ""
        return value

    bot_token = required("SLACK_BOT_TOKEN", "the Slack app's Bot User OAuth Token (xoxb-…)")
    if bot_token and not bot_token.startswith("xoxb-"):
        problems.append("SLACK_BOT_TOKEN must be a bot token starting with xoxb-")
    signing_secret = required("SLACK_SIGNING_SECRET", "the Slack app's Signing Secret")
    app_token = env.get("SLACK_APP_TOKEN")
    if app_token and not app_token.startswith("xapp-"):
        problems.append("SLACK_APP_TOKEN must be an app-level token starting with xapp-")

    account_sid = required("TWILIO_ACCOUNT_SID", "your Twilio Account SID (AC…)")
    if account_sid and not ACCOUNT_SID.match(account_sid):
        problems.append("TWILIO_ACCOUNT_SID must be AC followed by 32 hex digits")
    auth_token = required("TWILIO_AUTH_TOKEN", "your Twilio Auth Token")
    phone = env.get("TWILIO_PHONE_NUMBER")
    service = env.get("TWILIO_MESSAGING_SERVICE_SID")
    if phone is None and service is None:
        problems.append(
            "TWILIO_PHONE_NUMBER is not set: the business number in E.164 form, like +15551234567"
            " (or set TWILIO_MESSAGING_SERVICE_SID)"
        )
    if phone is not None and not E164.match(phone):
        problems.append(
            f"TWILIO_PHONE_NUMBER must be in E.164 form like +15551234567, got {phone!r}"
        )
    if service is not None and not MESSAGING_SERVICE_SID.match(service):
        problems.append("TWILIO_MESSAGING_SERVICE_SID must be MG followed by 32 hex digits")

    environment = env.get("BATON_ENV", "development")
    if environment not in ("development", "production"):
        problems.append(f"BATON_ENV must be development or production, got {environment!r}")
    public_url = _url(problems, "PUBLIC_URL", env.get("PUBLIC_URL"))
    if public_url is None and environment == "production":
        problems.append(
            "PUBLIC_URL is not set: the public https URL Twilio calls (required in production)"
        )
    redis_url = env.get("REDIS_URL")
    if redis_url is None and environment == "production":
        problems.append(
            "REDIS_URL is not set: in production each process (web, clock) would start an "
            "embedded Redis of its own and split the data; set it to your Redis server's URL "
            "(redis://…)"
        )
    if redis_url is not None and urlparse(redis_url).scheme not in ("redis", "rediss", "unix"):
        problems.append(
            f"REDIS_URL must start with redis://, rediss:// or unix://, got {redis_url!r}"
        )
    prefix = env.get("BATON_REDIS_PREFIX", "baton")
    if not re.fullmatch(r"[A-Za-z0-9_.:-]+", prefix):
        problems.append("BATON_REDIS_PREFIX may hold only letters, digits and _ . : -")
    log_level = env.get("LOG_LEVEL", "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        problems.append(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}")

    settings = Settings(
        slack_bot_token=bot_token,
        slack_signing_secret=signing_secret,
        slack_app_token=app_token,
        slack_api_url=_url(problems, "SLACK_API_URL", env.get("SLACK_API_URL"))
        or "https://slack.com/api/",
        twilio_account_sid=account_sid,
        twilio_auth_token=auth_token,
        twilio_phone_number=phone,
        twilio_messaging_service_sid=service,
        twilio_api_url=_url(problems, "TWILIO_API_URL", env.get("TWILIO_API_URL"))
        or "https://api.twilio.com",
        public_url=public_url.rstrip("/") if public_url else None,
        redis_url=redis_url,
        redis_prefix=prefix,
        data_dir=Path(env.get("BATON_DATA_DIR", "data")),
        config_path=Path(env.get("BATON_CONFIG", "config/baton.yml")),
        port=_int(problems, "PORT", env.get("PORT"), 3000, 1, 65535),
        environment=environment,
        log_level=log_level,
        delivery_threads=_int(
            problems, "BATON_DELIVERY_THREADS", env["BATON_DELIVERY_THREADS"], 0, 0, 64
        )
        if "BATON_DELIVERY_THREADS" in env
        else None,
        dead_letter_after=_int(
            problems, "BATON_DEAD_LETTER_AFTER", env.get("BATON_DEAD_LETTER_AFTER"), 300, 0, 86400
        ),
        unhealthy_after=_int(
            problems, "BATON_UNHEALTHY_AFTER", env.get("BATON_UNHEALTHY_AFTER"), 600, 0, 86400
        ),
        slack_pace=_float(problems, "BATON_SLACK_PACE", env.get("BATON_SLACK_PACE"), 1.0, 0, 100),
        max_queue_wait_ms=_int(
            problems, "BATON_MAX_QUEUE_WAIT_MS", env.get("BATON_MAX_QUEUE_WAIT_MS"), 250, 0, 15000
        ),
    )
    if problems:
        raise ConfigError(problems)
    return settings
