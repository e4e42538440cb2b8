"""Run `python -m bot …` as an operator would, with the environment pointing at the stand-ins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from config import Settings

ROOT = Path(__file__).resolve().parents[2]


def bot_env(settings: Settings, **overrides: str | None) -> dict[str, str]:
    """Return an environment holding these settings; an override of None unsets a variable."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        # gunicorn keeps a control socket under $HOME.
        "HOME": os.environ.get("HOME", "/tmp"),
        "SLACK_BOT_TOKEN": settings.slack_bot_token,
        "SLACK_SIGNING_SECRET": settings.slack_signing_secret,
        "SLACK_API_URL": settings.slack_api_url,
        "TWILIO_ACCOUNT_SID": settings.twilio_account_sid,
        "TWILIO_AUTH_TOKEN": settings.twilio_auth_token,
        "TWILIO_PHONE_NUMBER": settings.twilio_phone_number or "",
        "TWILIO_API_URL": settings.twilio_api_url,
        "PUBLIC_URL": settings.public_url or "",
        "REDIS_URL": settings.redis_url or "",
        "BATON_REDIS_PREFIX": settings.redis_prefix,
        "BATON_CONFIG": str(settings.config_path),
        "BATON_DATA_DIR": str(settings.data_dir),
        "BATON_SLACK_PACE": str(settings.slack_pace),
        # Set explicitly so a developer's .env cannot change what the test sees.
        "BATON_ENV": "development",
    }
    # Baton treats an empty variable as unset, and an empty one (unlike a
    # missing one) is never filled in from a developer's .env file.
    env.update({name: value or "" for name, value in overrides.items()})
    return env


def run_bot(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot ARGS` from the project root and return what it printed."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
