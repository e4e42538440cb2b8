"""The processes as an operator runs them: gunicorn serving create_app(), killed and restarted."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import pytest
import redis
from twilio.request_validator import RequestValidator

from app import create_app
from bot.store import Keys
from config import Settings
from standins.slack import FakeSlack, in_threads
from tests.dialog import eventually, new_sid, posted
from tests.ops import bot_env
from tests.ports import free_port

ROOT = Path(__file__).resolve().parent.parent


def environment(
    settings: Settings, port: int, delivery_threads: str | None = "2"
) -> dict[str, str]:
    return bot_env(
        settings, PUBLIC_URL=f"http://127.0.0.1:{port}", BATON_DELIVERY_THREADS=delivery_threads
    )


@contextmanager
def gunicorn(
    settings: Settings, port: int, *options: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "app:create_app()",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "1",
            *options,
        ],
        cwd=ROOT,
        env=env or environment(settings, port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        eventually(lambda: healthy(port), timeout=20, message="gunicorn never became healthy")
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def text_over_http(port: int, auth_token: str, body: str) -> int:
    url = f"http://127.0.0.1:{port}/twilio/sms"
    sid = new_sid()
    params = {"MessageSid": sid, "From": "+15551234567", "To": "+15550001111", "Body": body}
    signature = RequestValidator(auth_token).compute_signature(url, params)
    request = urllib.request.Request(
        url, data=urlencode(params).encode(), headers={"X-Twilio-Signature": signature}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status


# Whatever the time of day: after hours, Baton also posts a notice of its auto-reply.
def posts_saying(fake_slack: FakeSlack, body: str) -> list[dict]:
    return [m for m, _thread, said in in_threads(fake_slack.messages()) if body in said]


def cards(fake_slack: FakeSlack) -> list[dict]:
    return [m for m in fake_slack.messages() if m.get("thread_ts") in (None, m["ts"])]


def test_a_text_acked_then_the_process_killed_reaches_slack_once_after_restart(
    settings, fake_slack, redis_server
):
    port = free_port()
    fake_slack.set_down(True)
    with gunicorn(settings, port) as first:
        assert text_over_http(port, settings.twilio_auth_token, "sent just before the crash") == 200
        fake_slack.wait_for("chat.postMessage")  # the worker was trying when it died
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    fake_slack.set_down(False)
    assert fake_slack.messages() == []
    with gunicorn(settings, port):
        eventually(
            lambda: posts_saying(fake_slack, "sent just before the crash"),
            timeout=45,
            message="text never reached Slack",
        )
        eventually(
            lambda: posted(redis_server, Keys(settings.redis_prefix), 1),
            timeout=30,
            message="delivery never finished",
        )
        assert len(posts_saying(fake_slack, "sent just before the crash")) == 1
        assert len(cards(fake_slack)) == 1


def test_gunicorn_serves_and_stops_cleanly_on_sigterm(settings, fake_slack):
    port = free_port()
    with gunicorn(settings, port) as process:
        assert text_over_http(port, settings.twilio_auth_token, "hello") == 200
        eventually(lambda: posts_saying(fake_slack, "hello"), timeout=10)
        assert len(cards(fake_slack)) == 1
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(timeout=20) == 0


def test_healthz_is_503_when_the_store_is_unreachable(settings, tmp_path):
    unreachable = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
    app = create_app(Settings(**{**settings.__dict__, "delivery_threads": 0}), redis=unreachable)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"store": "unreachable"}


def test_clock_process_beats_and_stops_cleanly_on_sigterm(settings, redis_server, fake_slack):
    env = environment(settings, free_port())
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.clock"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        heartbeat = Keys(settings.redis_prefix).heartbeat("clock")
        eventually(
            lambda: redis_server.exists(heartbeat), timeout=20, message="the clock never beat"
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()


# Delivery runs in the clock, away from the webhooks, unless a process is told otherwise


@contextmanager
def running(args: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen]:
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def test_the_web_process_queues_and_the_clock_delivers_by_default(
    settings, fake_slack, redis_server
):
    port = free_port()
    env = environment(settings, port, delivery_threads=None)
    keys = Keys(settings.redis_prefix)
    with gunicorn(settings, port, env=env):
        assert text_over_http(port, settings.twilio_auth_token, "waits for the clock") == 200
        with running(["-m", "bot.clock"], env) as clock:
            eventually(
                lambda: posts_saying(fake_slack, "waits for the clock"),
                timeout=20,
                message="the clock never delivered the text",
            )
            # The worker that took the text's work entry is the clock's: a delivery thread in the
            # web process would have taken it at once, before the clock started. (A consumer is
            # listed once it has read an entry; the SMS outbox had none to read.)
            names = keys.outboxes("slack")
            workers = [c["name"] for c in redis_server.xinfo_consumers(names.work, names.group)]
            assert workers and all(f"-{clock.pid}-" in name for name in workers), workers
    assert len(posts_saying(fake_slack, "waits for the clock")) == 1


def test_the_all_in_one_process_delivers_by_default(settings, fake_slack):
    port = free_port()
    env = {**environment(settings, port, delivery_threads=None), "PORT": str(port)}
    with running(["app.py"], env):
        eventually(lambda: healthy(port), timeout=20, message="python app.py never became healthy")
        assert text_over_http(port, settings.twilio_auth_token, "all in one") == 200
        eventually(lambda: posts_saying(fake_slack, "all in one"), timeout=20)


# A request over the size limit, on a keep-alive connection


def test_a_413_closes_the_connection_under_gunicorn_and_the_next_request_works(settings):
    # (werkzeug's development server, the sandbox's, closes every connection after its answer.)
    port = free_port()
    with gunicorn(settings, port, "--worker-class", "gthread", "--threads", "2"):  # the Procfile's
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/healthz")
        warm = connection.getresponse()
        warm.read()
        assert warm.getheader("Connection") == "keep-alive"
        connection.request(
            "POST",
            "/twilio/sms",
            body=b"Body=" + b"x" * 300_000,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        refused = connection.getresponse()
        assert refused.status == 413
        assert refused.getheader("Connection") == "close"
        assert b"too large" in refused.read()
        # Told that the connection closes, http.client opens a new one for the next request.
        connection.request("GET", "/healthz")
        assert connection.getresponse().status == 200
        connection.close()


# Past capacity: a request that waited too long for a thread is refused fast and stores nothing


def signed_text(settings: Settings, port: int, body: str) -> tuple[bytes, dict[str, str]]:
    params = {"MessageSid": new_sid(), "From": "+15551234567", "To": "+15550001111", "Body": body}
    url = f"http://127.0.0.1:{port}/twilio/sms"
    signature = RequestValidator(settings.twilio_auth_token).compute_signature(url, params)
    return urlencode(params).encode(), {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
    }


def post(port: int, form: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], float]:
    """POST a text on a connection of its own, as Twilio does; return status, headers, when."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", "/twilio/sms", body=form, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, dict(response.getheaders()), time.monotonic()
    finally:
        connection.close()


def stored(client: redis.Redis, keys: Keys) -> dict[bytes, bytes | None]:
    """Return every key of this deployment with its value, but the health check's probe."""
    probe = keys.health.encode()
    return {
        key: client.dump(key)
        for key in client.scan_iter(match=f"{keys.prefix}*".encode())
        if key != probe
    }


def test_a_text_that_waited_too_long_for_a_thread_is_refused_fast_and_changes_nothing(
    settings, redis_server, fake_slack
):
    port = free_port()
    keys = Keys(settings.redis_prefix)
    # One thread, held by a request whose body comes late, as a slow client's would.
    with gunicorn(settings, port, "--threads", "1"):
        holder = socket.create_connection(("127.0.0.1", port), timeout=10)
        holder.sendall(
            b"POST /twilio/sms HTTP/1.1\r\nHost: baton\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 6\r\n\r\n"
        )
        time.sleep(0.2)  # the thread has taken it and waits for its body
        before = stored(redis_server, keys)
        form, headers = signed_text(settings, port, "queued behind a slow client")
        answers: list[tuple[int, dict[str, str], float]] = []
        queued = threading.Thread(target=lambda: answers.append(post(port, form, headers)))
        queued.start()
        time.sleep(1.0)  # well past the 250 ms a request may wait (BATON_MAX_QUEUE_WAIT_MS)
        holder.sendall(b"Body=x")  # unsigned: 403, and the thread is free
        released = time.monotonic()
        queued.join(timeout=10)
        assert holder.recv(64).startswith(b"HTTP/1.1 403")
        holder.close()

        status, refused_headers, answered = answers[0]
        assert status == 503
        assert refused_headers["Retry-After"] == "1"
        assert refused_headers["Connection"] == "close"
        assert answered - released < 2.0  # refused at once (nothing stored is checked below)
        assert stored(redis_server, keys) == before

        # Within capacity the same text, retried as Twilio would, is taken, and once.
        assert post(port, form, headers)[0] == 200
        eventually(lambda: posts_saying(fake_slack, "queued behind a slow client"), timeout=20)
        assert len(posts_saying(fake_slack, "queued behind a slow client")) == 1


def test_a_client_that_does_not_hang_up_holds_up_no_other_client(settings):
    port = free_port()
    with gunicorn(settings, port, "--threads", "2"):
        lingering = socket.create_connection(("127.0.0.1", port), timeout=10)
        lingering.sendall(b"GET /healthz HTTP/1.1\r\nHost: baton\r\nConnection: close\r\n\r\n")
        assert lingering.recv(64).startswith(b"HTTP/1.1 200")  # answered; the socket stays open
        started = time.monotonic()
        assert healthy(port)
        # Held up behind the lingering client, it would not be answered within healthy()'s 1 s.
        assert time.monotonic() - started < 1.5
        lingering.close()


# Production refuses a private store: each process would start its own embedded Redis.

ENTRY_POINTS = {
    "web": ["-m", "gunicorn", "app:create_app()", "-b", "127.0.0.1:0", "-w", "1"],
    "clock": ["-m", "bot.clock"],
    "all-in-one": ["app.py"],
    "doctor": ["-m", "bot", "doctor"],
}


@pytest.mark.parametrize("entry_point", list(ENTRY_POINTS))
def test_production_without_redis_url_stops_start_up_with_one_line(
    settings: Settings, tmp_path: Path, entry_point: str
) -> None:
    data_dir = tmp_path / "data"
    env = bot_env(
        settings,
        BATON_ENV="production",
        REDIS_URL=None,
        BATON_DATA_DIR=str(data_dir),
        PORT=str(free_port()),
    )
    process = subprocess.Popen(
        [sys.executable, *ENTRY_POINTS[entry_point]],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _stdout, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _stdout, stderr = process.communicate()
        pytest.fail(f"{entry_point} kept running without REDIS_URL; stderr:\n{stderr}")

    assert process.returncode != 0, stderr
    assert "Traceback" not in stderr, stderr
    said = [line for line in stderr.splitlines() if line.startswith("baton: ")]
    assert said == [
        "baton: REDIS_URL is not set: in production each process (web, clock) would start "
        "an embedded Redis of its own and split the data; set it to your Redis server's URL "
        "(redis://…)"
    ]
    assert not data_dir.exists(), "an embedded Redis was started"


def test_production_with_redis_url_serves(settings: Settings) -> None:
    port = free_port()
    production = Settings(**{**settings.__dict__, "environment": "production"})
    env = bot_env(production, PUBLIC_URL=f"http://127.0.0.1:{port}", BATON_ENV="production")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "app:create_app()", "-b", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        eventually(lambda: healthy(port), timeout=20, message="gunicorn never became healthy")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
