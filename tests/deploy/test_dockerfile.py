"""The Dockerfile: linted with Docker's own parser, and its health check run against a real Baton."""

from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess
import sys
from pathlib import Path

import dockerfile
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app import create_app, shutdown
from config import Settings
from tests.deploy.lint import dockerfile_problems
from tests.ops.public import served
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
GOOD = """\
FROM python:3.11-slim
RUN useradd --uid 10001 baton
WORKDIR /app
COPY . .
USER baton
HEALTHCHECK CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/healthz')"]
CMD ["gunicorn", "app:create_app()"]
"""


def instruction(cmd: str) -> dockerfile.Command:
    commands = dockerfile.parse_file(str(ROOT / "Dockerfile"))
    return [c for c in commands if c.cmd == cmd][-1]


def test_the_dockerfile_passes_the_lint() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8")

    assert dockerfile_problems(text, ignore) == []


def test_the_lint_passes_a_minimal_good_file() -> None:
    assert dockerfile_problems(GOOD, ".env\n") == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("FROM python:3.11-slim", "FROM python:3.11"), "FROM python:3.11: the final stage"),
        (("FROM python:3.11-slim", "FROM ubuntu:24.04"), "FROM ubuntu:24.04: the final stage"),
        (("USER baton", "USER root"), "USER root: the process would run as root"),
        (("USER baton\n", ""), "no USER: the process would run as root"),
        (("HEALTHCHECK CMD", "# HEALTHCHECK CMD"), "no HEALTHCHECK"),
        (("/healthz", "/"), "the HEALTHCHECK does not ask /healthz"),
        (('"gunicorn", "app:create_app()"', '"python", "app.py"'), "not gunicorn serving"),
        (('"app:create_app()"', '"-c", "other.py", "app:create_app()"'), "another config file"),
        (("WORKDIR /app", "ENV SLACK_BOT_TOKEN=x"), "line 3: SLACK_BOT_TOKEN is given a value"),
        (("WORKDIR /app", "ARG TWILIO_AUTH_TOKEN=abc"), "TWILIO_AUTH_TOKEN is given a value"),
        (("WORKDIR /app", "ENV HINT=xoxb-1-2-3"), "line 3: a credential is written"),
        (("COPY . .", "COPY .env /app/.env"), "line 4: .env is copied into the image"),
        (("COPY . .", "COPY certs/server.key /app/"), "certs/server.key is copied"),
    ],
)
def test_the_lint_names_each_problem(change: tuple[str, str], problem: str) -> None:
    text = GOOD.replace(*change)
    assert text != GOOD

    problems = dockerfile_problems(text, ".env\n")

    assert len(problems) == 1, problems
    assert problem in problems[0]


def test_copying_the_whole_context_needs_env_left_out() -> None:
    assert dockerfile_problems(GOOD, "data/\n") == [
        "line 4: the whole context is copied but .dockerignore does not leave out .env"
    ]


def test_an_empty_setting_name_is_not_a_secret() -> None:
    # ARG without a value is filled in at build time, not baked in.
    assert dockerfile_problems(GOOD.replace("WORKDIR /app", "ARG SLACK_BOT_TOKEN"), ".env") == []


def test_the_image_starts_what_the_procfile_starts() -> None:
    procfile = dict(
        line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    shell, flag, command = instruction("CMD").value

    assert (shell, flag) == ("sh", "-c")
    assert command == "exec " + procfile["web"]


def run_health_check(port: int) -> subprocess.CompletedProcess[str]:
    """Run the image's HEALTHCHECK command here, with PORT as the container would have it."""
    check = instruction("HEALTHCHECK")
    argv = list(check.value[check.value.index("CMD") + 1 :])
    assert argv[0] == "python", shlex.join(argv)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PORT": str(port)}
    return subprocess.run(
        [sys.executable, *argv[1:]],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_health_check_passes_against_a_healthy_baton(settings: Settings) -> None:
    app = create_app(dataclasses.replace(settings, delivery_threads=0))
    try:
        with served(app) as url:
            result = run_health_check(int(url.rsplit(":", 1)[1]))
    finally:
        shutdown(app)

    assert result.returncode == 0, result.stderr


def test_the_health_check_fails_when_nothing_answers() -> None:
    assert run_health_check(free_port()).returncode != 0


def test_the_health_check_fails_when_baton_answers_503(settings: Settings) -> None:
    # Refused at once: redis-py's default retries would take longer than the check waits.
    unreachable = redis.Redis(port=free_port(), retry=Retry(NoBackoff(), 0))
    app = create_app(dataclasses.replace(settings, delivery_threads=0), redis=unreachable)
    try:
        with served(app) as url:
            result = run_health_check(int(url.rsplit(":", 1)[1]))
    finally:
        shutdown(app)

    assert result.returncode != 0
    assert "503" in result.stderr
