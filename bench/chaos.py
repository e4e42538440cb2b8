"""Chaos run: texts in and replies out while Redis, web workers, the clock, Slack and Twilio fail.

Run from the repository root::

    .venv/bin/python -m bench.chaos                          # every scenario (about 7 minutes)
    .venv/bin/python -m bench.chaos --quick                  # 12 s of load each (about 5 minutes)
    .venv/bin/python -m bench.chaos --scenario redis-sigkill # one scenario (repeat to pick more)

Each scenario gets a fresh stack: its own ``redis-server`` (append-only file,
``appendfsync always``) on a free port with its data in a temp dir, a FakeSlack
and a FakeTwilio in this process (both answer after ``--api-delay``), Baton's
web process (gunicorn, 2 gthread workers) and its clock (``python -m bot.clock``),
both running the Slack and SMS outbox workers. Then, for ``--seconds``:

* customers text (about ``--text-rate`` per second in all): each sends its next
  text once Twilio is done with the last, to the SMS URL ``webhooks --apply`` sets,
  retrying as that URL's connection overrides say (standins.twilio_webhooks),
  and resends a few MessageSids after they were answered, as Twilio sometimes does;
* owners claim each new conversation with a signed Claim click once its card
  is in Slack, then reply in its thread (about ``--reply-rate`` per second): a
  signed message event, retried as Slack does when it gets no 2xx within 3 s
  (3 retries, sooner than Slack's 1 and 5 minutes), and a quarter of them
  delivered once more after their 2xx (same event_id and ts);
* the scenario's fault strikes 30% of the way in.

Then it waits until every acknowledged text is in Slack and every acknowledged
reply was texted, or ``--drain-timeout``, and counts from what the stand-ins
recorded: each text and reply carries a unique token in its body.

Exit status: 0 when nothing acknowledged was lost or doubled in any scenario, 1
otherwise, 2 when the bench itself could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

from bench.inbound import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    BUSINESS_NUMBER,
    HOST,
    ROOT,
    Baton,
    BenchError,
    baton_env,
    free_port,
    machine,
    tree,
)
from bot.store import Keys
from sms.overrides import RETRIES
from standins.actors import Answer, Teammate, inbound_form, shape
from standins.server import Fault
from standins.slack import FakeSlack, in_threads
from standins.twilio import FakeTwilio
from standins.twilio_webhooks import TwilioWebhookCaller

PREFIX = "chaos"
SIGNING_SECRET = "x"  # what bench.inbound.baton_env gives Baton
CHANNELS = {"C0123GENERAL": "general", "C0123SALES": "sales", "C0123SCHED": "scheduling"}
OWNERS = [f"U0OWNER{n}" for n in range(1, 10)]
TEXT_TOKEN = re.compile(r"\bcx(\d+)-(\d{3})-(\d{4})\b")
REPLY_TOKEN = re.compile(r"\brp(\d+)-(\d{5})\b")
SLACK_TIMEOUT = 3.0  # Slack counts an event unanswered after 3 s and delivers it again
TWILIO_TIMEOUT = 5.0  # the rt override of Baton's SMS URL


# --------------------------------------------------------------------------------------------
# The stand-ins, able to fail for a while


@dataclass
class Window:
    """Every call answered with `status` until `until` (time.monotonic)."""

    status: int
    until: float
    headers: dict[str, str]
    # Every n-th failed call did its work first (a post made, a text created) and only its
    # answer is the fault, like an answer lost on the way back. 0: never.
    after_effect_every: int = 0
    calls: int = 0


class Outages:
    """Mixin for a stand-in: fail every call for some seconds, on top of fail_next/set_down."""

    _outage: Window | None = None
    _lock: threading.RLock

    def fail_for(
        self,
        seconds: float,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        after_effect_every: int = 0,
    ) -> None:
        with self._lock:
            self._outage = Window(
                status, time.monotonic() + seconds, dict(headers or {}), after_effect_every
            )

    def window_calls(self) -> int:
        with self._lock:
            return self._outage.calls if self._outage else 0

    def _take_fault(self, method: str) -> Fault | None:  # called with the lock held
        window = self._outage
        if window is not None and time.monotonic() < window.until:
            window.calls += 1
            every = window.after_effect_every
            return Fault(
                method,
                window.status,
                1,
                headers=dict(window.headers),
                after_effect=bool(every) and window.calls % every == 0,
            )
        return super()._take_fault(method)  # type: ignore[misc]


class ChaosSlack(Outages, FakeSlack):
    """FakeSlack that can fail for a while."""


class ChaosTwilio(Outages, FakeTwilio):
    """FakeTwilio that can fail for a while."""


class Http:
    """POST to Baton over a fresh connection with a client timeout; failures are OSError."""

    def __init__(self, base_url: str, timeout: float) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or HOST
        self.port = parts.port or 80
        self.timeout = timeout

    def post(
        self,
        path: str,
        data: str | bytes = b"",
        content_type: str = "application/x-www-form-urlencoded",
        headers: dict[str, str] | None = None,
    ) -> Answer:
        body = data.encode() if isinstance(data, str) else data
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(
                "POST", path, body=body, headers={"Content-Type": content_type, **(headers or {})}
            )
            response = conn.getresponse()
            return Answer(response.status, response.read(), response.headers.get_content_type())
        except http.client.HTTPException as exc:  # a worker killed mid-answer
            raise ConnectionError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            conn.close()


# --------------------------------------------------------------------------------------------
# Processes: Redis, the clock (gunicorn is bench.inbound.Baton)


class RedisServer:
    """A redis-server of the run's own on a free port: AOF with fsync on every write."""

    def __init__(self, directory: Path, executable: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.executable = executable
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self, timeout: float = 30.0) -> None:
        """Start the server on its port and directory (replaying its AOF); wait for PING."""
        self.process = subprocess.Popen(
            [
                self.executable,
                "--port",
                str(self.port),
                "--bind",
                HOST,
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--daemonize",
                "no",
                "--logfile",
                str(self.directory / "redis.log"),
                # What README asks of a REDIS_URL server (bot/store.py sets them when embedded).
                "--stream-node-max-bytes",
                "512",
                "--hash-max-ziplist-value",
                "128",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        client = redis.Redis(host=HOST, port=self.port, socket_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise BenchError(f"redis-server exited with {self.process.returncode}")
                try:
                    if client.ping():
                        return
                except redis.RedisError:  # not listening yet, or still loading its AOF
                    pass
                time.sleep(0.05)
        finally:
            client.close()
        raise BenchError(f"redis-server did not answer PING in {timeout:.0f}s")

    def kill(self, signum: signal.Signals) -> None:
        """Send signum and wait for the server to exit."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


class ClockProcess:
    """``python -m bot.clock`` with its output appended to a log file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log_path = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot.clock"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=25)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


class Stack:
    """One scenario's Baton: stand-ins, Redis, gunicorn and the clock."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.keys = Keys(PREFIX)
        self.slack: ChaosSlack | None = None
        self.twilio: ChaosTwilio | None = None
        self.redis: RedisServer | None = None
        self.web: Baton | None = None
        self.clock: ClockProcess | None = None
        self.store: redis.Redis | None = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        slack = self.slack = ChaosSlack().start()
        for channel, name in CHANNELS.items():
            slack.add_channel(channel, name)
        for owner in OWNERS:
            slack.add_user(owner, owner.lower(), real_name=f"Owner {owner[-1]}")
        twilio = self.twilio = ChaosTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN).start()
        twilio.add_number(BUSINESS_NUMBER)
        # Real APIs take a while to answer, so a killed process is often in the middle of a call.
        slack.delay = twilio.delay = self.args.api_delay
        self.redis = RedisServer(self.workdir / "redis", self.args.redis_server)
        self.redis.start()
        self.store = redis.Redis(
            host=HOST,
            port=self.redis.port,
            decode_responses=True,
            socket_timeout=2,
            socket_connect_timeout=1,
        )
        port = free_port()
        env = baton_env(
            self.args, port, slack.url, twilio.url, self.redis.url, PREFIX, self.workdir
        )
        self.web = Baton(self.args, env, port, self.workdir / "gunicorn.log")
        self.web.wait_healthy()
        self.clock = ClockProcess(env, self.workdir / "clock.log")
        self.clock.start()
        deadline = time.monotonic() + 30
        while not self.store.exists(self.keys.heartbeat("clock")):
            if time.monotonic() > deadline or self.clock.process.poll() is not None:  # type: ignore[union-attr]
                raise BenchError(f"the clock never beat; see {self.clock.log_path}")
            time.sleep(0.2)

    @property
    def url(self) -> str:
        assert self.web is not None
        return f"http://{HOST}:{self.web.port}"

    def backlog(self) -> int | None:
        """Return the Slack and SMS outboxes' work entries waiting or in progress, from Redis."""
        assert self.store is not None
        total = 0
        try:
            for name in ("slack", "sms"):
                keys = self.keys.outboxes(name)
                groups = self.store.xinfo_groups(keys.work)
                group = next((g for g in groups if g["name"] == keys.group), None)
                if group is not None:
                    total += int(group["pending"]) + int(group.get("lag") or 0)
        except redis.ResponseError:  # no work stream yet
            return 0
        except redis.RedisError:
            return None
        return total

    def problems(self) -> list[str]:
        """Return the WARNING/ERROR lines and tracebacks of the web and clock logs."""
        found = []
        for label, path in (
            ("web", self.workdir / "gunicorn.log"),
            ("clock", self.workdir / "clock.log"),
        ):
            if not path.exists():
                continue
            for line in path.read_text(errors="replace").splitlines():
                if (
                    " WARNING " in line or " ERROR " in line or "Traceback" in line
                ) and "`token`" not in line:  # Bolt's notes at start-up
                    found.append(f"{label}: {line}")
        return found

    def stop(self) -> None:
        for step in (
            lambda: self.clock and self.clock.stop(),
            lambda: self.web and self.web.stop(),
            lambda: self.store and self.store.close(),
            lambda: self.redis and self.redis.stop(),
            lambda: self.slack and self.slack.stop(),
            lambda: self.twilio and self.twilio.stop(),
        ):
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - cleanup must go on
                print(f"chaos: cleanup step failed: {exc}", file=sys.stderr)


# --------------------------------------------------------------------------------------------
# The load and what it recorded


@dataclass
class TextSent:
    """One customer text: what Twilio got on each attempt, and on a later resend."""

    token: str
    customer: int
    seq: int
    statuses: list[int | None]
    seconds: list[float] = field(default_factory=list)  # how long each attempt took
    resend: list[int | None] = field(default_factory=list)
    acked_at: float = 0.0  # time.time() when the last attempt ended

    @property
    def acked(self) -> bool:
        return any(s is not None and 200 <= s < 300 for s in self.statuses)


@dataclass
class ReplySent:
    """One owner's thread reply: Baton's answer to each delivery of its event."""

    token: str
    customer: int
    owner: str
    ts: str
    thread: tuple[str, str]
    statuses: list[int | None] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    acked_at: float = 0.0  # time.time() when the last delivery before the 2xx ended
    repeat: int | str | None = "-"  # status of Slack's extra delivery after a 2xx, if any

    @property
    def acked(self) -> bool:
        return any(s is not None and 200 <= s < 300 for s in self.statuses)


@dataclass
class Conv:
    """A customer's conversation as the owners see it in Slack."""

    number: int
    channel: str
    card_ts: str
    owner: str
    claimed: threading.Event = field(default_factory=threading.Event)


@dataclass
class Tally:
    texts_sent: int = 0
    texts_resent: int = 0
    texts_acked: int = 0
    texts_in_slack: int = 0
    texts_lost: list[str] = field(default_factory=list)
    texts_doubled: dict[str, int] = field(default_factory=dict)
    texts_out_of_order: int = 0
    texts_late: list[str] = field(default_factory=list)  # how each out-of-order post came
    texts_gave_up: int = 0
    texts_posted_unacked: int = 0
    replies_sent: int = 0
    replies_repeated: int = 0
    replies_acked: int = 0
    replies_texted: int = 0
    replies_refused: int = 0
    replies_lost: list[str] = field(default_factory=list)
    replies_doubled: dict[str, int] = field(default_factory=dict)
    replies_gave_up: int = 0
    replies_texted_unacked: int = 0
    text_delay: float = 0.0  # the longest time from a text's ack to its post in Slack, s
    reply_delay: float = 0.0  # the longest time from a reply's ack to its text, s
    text_slowest: str = ""
    reply_slowest: str = ""

    @property
    def pending(self) -> int:
        return (self.texts_acked - self.texts_in_slack) + len(self.replies_lost)

    @property
    def clean(self) -> bool:
        return not (
            self.texts_lost or self.texts_doubled or self.replies_lost or self.replies_doubled
        )


class Run:
    """One scenario's load, its fault and its accounting."""

    def __init__(self, args: argparse.Namespace, stack: Stack, tag: int, seed: int) -> None:
        self.args = args
        self.stack = stack
        self.tag = tag
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.texts: list[TextSent] = []
        self.replies: list[ReplySent] = []
        self.convs: dict[int, Conv] = {}  # customer -> conversation, once its card is seen
        self.claims_failed: list[int] = []
        self.faults: list[str] = []
        self.t0 = 0.0
        self.wall0 = 0.0  # time.time() at t0, to place the stand-ins' wall-clock records
        self.load_ended = 0.0
        self.reply_seq = 0

    # -- timeline --------------------------------------------------------------------------

    def now(self) -> float:
        return time.monotonic() - self.t0

    def note(self, what: str) -> None:
        line = f"+{self.now():.1f}s {what}"
        self.faults.append(line)
        print(f"chaos:   {line}", flush=True)

    def sleep_until(self, offset: float) -> None:
        delay = self.t0 + offset - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    # -- customers -------------------------------------------------------------------------

    def customer(self, c: int, start: float, end: float, interval: float, seed: int) -> None:
        rng = random.Random(seed)
        caller = TwilioWebhookCaller(Http(self.stack.url, TWILIO_TIMEOUT), AUTH_TOKEN)
        url = RETRIES.on(f"{self.stack.url}/twilio/sms")
        number = f"+1646{self.tag:03d}{c:04d}"
        seq = 0
        next_at = start
        while not self.stopping.is_set():
            if self.stopping.wait(max(0.0, next_at - time.monotonic())):
                break
            if time.monotonic() >= end:
                break
            token = f"cx{self.tag}-{c:03d}-{seq:04d}"
            params = inbound_form(
                number,
                BUSINESS_NUMBER,
                f"{token} hello from customer {c}, please call me back",
                sid="SM" + uuid.uuid4().hex,
            )
            attempts = caller.deliver(url, params)
            record = TextSent(
                token,
                c,
                seq,
                [a.status for a in attempts],
                [a.seconds for a in attempts],
                acked_at=time.time(),
            )
            with self.lock:
                self.texts.append(record)
            if record.acked and rng.random() < self.args.resends:
                time.sleep(rng.uniform(0.1, 1.0))  # Twilio sends the same MessageSid again
                record.resend = [a.status for a in caller.deliver(url, params)]
            seq += 1
            next_at = max(next_at + interval, time.monotonic())

    # -- owners ----------------------------------------------------------------------------

    def teammate(self, user: str) -> Teammate:
        return Teammate(
            Http(self.stack.url, SLACK_TIMEOUT),
            self.stack.slack,  # type: ignore[arg-type]
            None,
            user,
            signing_secret=SIGNING_SECRET,
        )

    def discover(self, pool: ThreadPoolExecutor, until: threading.Event) -> None:
        """Find each customer's card in Slack as it appears, and have its owner claim it."""
        slack = self.stack.slack
        assert slack is not None
        while not until.wait(0.5):
            cards: dict[str, tuple[str, int]] = {}
            thread_of: dict[int, tuple[str, str]] = {}
            for message in slack.messages():
                meta = message.get("metadata") or {}
                if meta.get("event_type") == "baton_card":
                    number = (meta.get("event_payload") or {}).get("conversation")
                    cards[message["ts"]] = (message["channel"], int(number))
            for message, thread_ts, said in in_threads(slack.messages()):
                for tag, customer, _seq in TEXT_TOKEN.findall(said):
                    if int(tag) == self.tag:
                        thread_of.setdefault(int(customer), (message["channel"], thread_ts))
            for customer, (channel, thread_ts) in thread_of.items():
                if customer in self.convs or thread_ts not in cards:
                    continue
                conv = Conv(
                    number=cards[thread_ts][1],
                    channel=channel,
                    card_ts=thread_ts,
                    owner=OWNERS[customer % self.args.owners],
                )
                with self.lock:
                    self.convs[customer] = conv
                pool.submit(self.claim, customer, conv)

    def claim(self, customer: int, conv: Conv) -> None:
        """Click Claim until the store says the owner has it (a click is acknowledged first)."""
        store, key = self.stack.store, self.stack.keys.conversation(conv.number)
        assert store is not None
        mate = self.teammate(conv.owner)
        for _ in range(20):
            if self.stopping.is_set():
                return
            with contextlib.suppress(OSError):
                mate.clicks("claim", str(conv.number), channel=conv.channel)
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline:
                try:
                    if store.hget(key, "owner") == conv.owner:
                        conv.claimed.set()
                        return
                except redis.RedisError:
                    pass
                time.sleep(0.2)
        with self.lock:
            self.claims_failed.append(customer)

    def replier(self, end: float, pool: ThreadPoolExecutor) -> None:
        """Have owners reply in their claimed conversations' threads, about reply_rate a second."""
        interval = 1.0 / self.args.reply_rate
        next_at = time.monotonic()
        while time.monotonic() < end and not self.stopping.is_set():
            if self.stopping.wait(max(0.0, next_at - time.monotonic())):
                break
            next_at += interval
            with self.lock:
                ready = [(c, conv) for c, conv in self.convs.items() if conv.claimed.is_set()]
            if not ready:
                continue
            customer, conv = self.rng.choice(ready)
            token = f"rp{self.tag}-{self.reply_seq:05d}"
            self.reply_seq += 1
            pool.submit(self.reply, customer, conv, token, self.rng.random(), self.rng.random())

    def reply(self, customer: int, conv: Conv, token: str, dice: float, delay: float) -> None:
        """Post an owner's thread message, and deliver its event to Baton as Slack would."""
        slack = self.stack.slack
        assert slack is not None
        text = f"{token} thanks for writing, we will call you back"
        ts = slack.add_message(conv.channel, text, user=conv.owner, thread_ts=conv.card_ts)
        payload = shape("message_event")
        payload["event"].update(
            text=text,
            user=conv.owner,
            ts=ts,
            event_ts=ts,
            thread_ts=conv.card_ts,
            channel=conv.channel,
            client_msg_id=str(uuid.uuid4()),
        )
        payload["event_id"] = f"Ev{uuid.uuid4().hex[:12].upper()}"
        payload["event_time"] = int(float(ts))
        record = ReplySent(token, customer, conv.owner, ts, (conv.channel, conv.card_ts))
        with self.lock:
            self.replies.append(record)
        mate = self.teammate(conv.owner)

        def deliver(retry: int, reason: str) -> int | None:
            headers = (
                {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": reason} if retry else {}
            )
            try:
                return int(mate.send_event(payload, headers).status_code)
            except OSError:
                return None  # no answer within 3 s, or the connection broke

        reason = ""
        for attempt, pause in enumerate([0.0, *self.args.slack_retries]):
            time.sleep(pause)
            began = time.monotonic()
            status = deliver(attempt, reason)
            record.seconds.append(time.monotonic() - began)
            record.statuses.append(status)
            record.acked_at = time.time()
            if record.acked:
                break
            reason = "http_timeout" if status is None else "http_error"
        if record.acked and dice < self.args.slack_duplicates:
            time.sleep(0.2 + 1.8 * delay)  # Slack was not sure it got through: the same again
            record.repeat = deliver(1, "http_timeout")

    # -- the scenario ----------------------------------------------------------------------

    def load(self, fault: Callable[[Run], None] | None) -> None:
        args = self.args
        self.t0 = time.monotonic()
        self.wall0 = time.time()
        end = self.t0 + args.seconds
        interval = args.customers / args.text_rate
        pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="chaos-owner")
        discovering = threading.Event()
        threads = []
        for c in range(args.customers):
            # Most customers start at once; a quarter start later, during the fault.
            if c % 4 == 3:
                start = self.t0 + self.rng.uniform(0.2, 0.6) * args.seconds
            else:
                start = self.t0 + self.rng.uniform(0.0, interval)
            threads.append(
                threading.Thread(
                    target=self.customer,
                    args=(c, start, end, interval, self.rng.random()),
                    name=f"chaos-customer-{c}",
                    daemon=True,
                )
            )
        threads.append(
            threading.Thread(
                target=self.replier, args=(end, pool), name="chaos-replier", daemon=True
            )
        )
        watcher = threading.Thread(
            target=self.discover, args=(pool, discovering), name="chaos-discover", daemon=True
        )
        striker = (
            threading.Thread(target=fault, args=(self,), name="chaos-fault", daemon=True)
            if fault
            else None
        )
        for thread in [*threads, watcher, *([striker] if striker else [])]:
            thread.start()
        try:
            for thread in threads:
                # A text in flight at the end gets Twilio's whole budget (tt = 15 s).
                thread.join(timeout=max(0.0, end - time.monotonic()) + 30)
            if striker is not None:
                striker.join(timeout=120)
                if striker.is_alive():
                    raise BenchError("the fault never finished")
            discovering.set()
            watcher.join(timeout=10)
            pool.shutdown(wait=True)  # replies in flight finish their retries
        finally:
            self.stopping.set()
            discovering.set()
            pool.shutdown(wait=False, cancel_futures=True)

    def tally(self) -> Tally:
        slack, twilio = self.stack.slack, self.stack.twilio
        assert slack is not None and twilio is not None
        with self.lock:
            texts = list(self.texts)
            replies = list(self.replies)
        t = Tally()
        posts: Counter[str] = Counter()
        first_post: dict[str, str] = {}  # token -> ts of its first post
        order: dict[int, list[int]] = defaultdict(list)  # customer -> seq of posts, in ts order
        refusals: Counter[tuple[str, str]] = Counter()  # thread -> visible refusals
        for message, thread_ts, body in in_threads(slack.messages()):
            for tag, customer, seq in TEXT_TOKEN.findall(body):
                if int(tag) == self.tag:
                    token = f"cx{tag}-{customer}-{seq}"
                    if not posts[token]:
                        order[int(customer)].append(int(seq))
                        first_post[token] = message["ts"]
                    posts[token] += 1
            if "message was not texted" in body:
                refusals[(message["channel"], thread_ts)] += 1
        for note in slack.ephemerals:
            if (note.get("text") or "").startswith("Not texted") and note.get("thread_ts"):
                refusals[(note["channel"], note["thread_ts"])] += 1
        texted: Counter[str] = Counter()
        for sms in twilio.sent:
            for tag, seq in REPLY_TOKEN.findall(sms.get("body") or ""):
                if int(tag) == self.tag:
                    texted[f"rp{tag}-{seq}"] += 1
        first_send: dict[str, float] = {}  # token -> when Twilio was first asked to text it
        for call in twilio.calls_to("messages.create"):
            for tag, seq in REPLY_TOKEN.findall(str(call.params.get("Body") or "")):
                if int(tag) == self.tag:
                    first_send.setdefault(f"rp{tag}-{seq}", call.at)
        text_delays = {
            x.token: float(first_post[x.token]) - x.acked_at
            for x in texts
            if x.acked and x.token in first_post
        }
        reply_delays = {
            r.token: first_send[r.token] - r.acked_at
            for r in replies
            if texted[r.token] and r.acked
        }
        if text_delays:
            t.text_slowest = max(text_delays, key=text_delays.__getitem__)
            t.text_delay = max(0.0, text_delays[t.text_slowest])
        if reply_delays:
            t.reply_slowest = max(reply_delays, key=reply_delays.__getitem__)
            t.reply_delay = max(0.0, reply_delays[t.reply_slowest])

        t.texts_sent = len(texts)
        t.texts_resent = sum(1 for x in texts if x.resend)
        for x in texts:
            if x.acked:
                t.texts_acked += 1
                if posts[x.token]:
                    t.texts_in_slack += 1
                else:
                    t.texts_lost.append(x.token)
            else:
                t.texts_gave_up += 1
                t.texts_posted_unacked += bool(posts[x.token])
        t.texts_doubled = {k: n for k, n in posts.items() if n > 1}
        acked = {(x.customer, x.seq): x.acked for x in texts}
        for customer, shown in order.items():
            highest = -1
            for seq in shown:
                if seq < highest:
                    t.texts_out_of_order += 1
                    how = "acked" if acked.get((customer, seq)) else "Twilio gave up on it"
                    t.texts_late.append(
                        f"cx{self.tag}-{customer:03d}-{seq:04d} ({how}) after "
                        f"cx{self.tag}-{customer:03d}-{highest:04d}"
                    )
                highest = max(highest, seq)

        t.replies_sent = len(replies)
        t.replies_repeated = sum(1 for r in replies if r.repeat != "-")
        unsent_by_thread: dict[tuple[str, str], list[str]] = defaultdict(list)
        for r in replies:
            if r.acked:
                t.replies_acked += 1
                if texted[r.token]:
                    t.replies_texted += 1
                else:
                    unsent_by_thread[r.thread].append(r.token)
            else:
                t.replies_gave_up += 1
                t.replies_texted_unacked += bool(texted[r.token])
        for thread, tokens in unsent_by_thread.items():
            # A refusal in the thread (or to its author) accounts for one untexted reply there.
            refused = min(len(tokens), refusals[thread])
            t.replies_refused += refused
            t.replies_lost += tokens[refused:]
        t.replies_doubled = {k: n for k, n in texted.items() if n > 1}
        return t

    def drain(self) -> tuple[Tally, int | None]:
        """Wait for everything acknowledged to arrive, and the outboxes to empty; count."""
        deadline = time.monotonic() + self.args.drain_timeout
        tally = self.tally()
        while tally.pending and time.monotonic() < deadline:
            time.sleep(1.0)
            tally = self.tally()
        backlog = self.stack.backlog()
        settle = time.monotonic() + 30
        while backlog != 0 and time.monotonic() < settle:
            time.sleep(1.0)
            backlog = self.stack.backlog()
        time.sleep(self.args.settle)  # a late second post or text would show now
        return self.tally(), backlog


# --------------------------------------------------------------------------------------------
# Scenarios


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    fault: Callable[[Run], None] | None


def restart_redis(signum: signal.Signals) -> Callable[[Run], None]:
    def fault(run: Run) -> None:
        server = run.stack.redis
        assert server is not None
        run.sleep_until(run.args.fault_at)
        run.note(f"Redis {signum.name}")
        server.kill(signum)
        run.note("Redis exited")
        time.sleep(run.args.redis_down)
        server.start()
        run.note("Redis started again on its AOF, answering PING")

    return fault


def started_at(pid: int) -> int:
    """Return when process pid started, in clock ticks since boot (0 if it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 0


def kill_web_workers(run: Run) -> None:
    """SIGKILL the longest-running gunicorn worker four times over --fault-seconds."""
    web = run.stack.web
    assert web is not None
    for n in range(4):
        run.sleep_until(run.args.fault_at + n * run.args.fault_seconds / 3)
        workers = sorted(web.workers(), key=started_at)
        if not workers:
            run.note("no web worker to kill")
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(workers[0], signal.SIGKILL)
        run.note(f"SIGKILL web worker {workers[0]} (workers were {workers})")
    time.sleep(3)
    run.note(f"web workers now {web.workers()}")


def restart_clock(run: Run) -> None:
    clock = run.stack.clock
    assert clock is not None
    run.sleep_until(run.args.fault_at)
    pid = clock.process.pid if clock.process else None
    clock.kill()
    run.note(f"SIGKILL clock {pid}")
    time.sleep(run.args.clock_down)
    clock.start()
    run.note(f"clock started again ({clock.process.pid if clock.process else None})")


def outage(
    who: str, status: int, *, headers: dict[str, str] | None = None, after_effect_every: int = 0
) -> Callable[[Run], None]:
    def fault(run: Run) -> None:
        standin: ChaosSlack | ChaosTwilio | None = getattr(run.stack, who)
        assert standin is not None
        run.sleep_until(run.args.fault_at)
        standin.fail_for(
            run.args.fault_seconds, status, headers=headers, after_effect_every=after_effect_every
        )
        run.note(f"{who.title()} answers every call {status} for {run.args.fault_seconds:g}s")
        time.sleep(run.args.fault_seconds)
        run.note(f"{who.title()} answers again ({standin.window_calls()} calls failed)")

    return fault


SCENARIOS = [
    Scenario("baseline", "no fault", None),
    Scenario(
        "redis-sigterm",
        "Redis stopped with SIGTERM, started again after --redis-down s",
        restart_redis(signal.SIGTERM),
    ),
    Scenario(
        "redis-sigkill",
        "Redis killed with SIGKILL, started again on its AOF after --redis-down s",
        restart_redis(signal.SIGKILL),
    ),
    Scenario(
        "web-sigkill",
        "4 SIGKILLs of a gunicorn worker over --fault-seconds; gunicorn starts new ones",
        kill_web_workers,
    ),
    Scenario(
        "clock-sigkill",
        "the clock SIGKILLed, started again after --clock-down s",
        restart_clock,
    ),
    Scenario(
        "slack-500",
        "Slack answers 500 to every call for --fault-seconds; every 2nd one did its work first",
        outage("slack", 500, after_effect_every=2),
    ),
    Scenario(
        "slack-429",
        "Slack answers 429 (Retry-After: 2) to every call for --fault-seconds",
        outage("slack", 429, headers={"Retry-After": "2"}),
    ),
    Scenario(
        "twilio-500",
        "Twilio answers 500 to every call for --fault-seconds; every 2nd one did its work first",
        outage("twilio", 500, after_effect_every=2),
    ),
]


# --------------------------------------------------------------------------------------------
# The run


@dataclass
class Result:
    scenario: Scenario
    tally: Tally
    load_ended: float
    backlog: int | None
    faults: list[str]
    text_statuses: Counter[Any]
    text_failed_seconds: list[float]
    event_failed_seconds: list[float]
    event_statuses: Counter[Any]
    claims_failed: list[int]
    problems: list[str]


def run_scenario(args: argparse.Namespace, scenario: Scenario, tag: int, root: Path) -> Result:
    workdir = root / scenario.name
    stack = Stack(args, workdir)
    print(f"\nchaos: == {scenario.name}: {scenario.what} ==", flush=True)
    try:
        stack.start()
        run = Run(args, stack, tag, args.seed * 1000 + tag)
        print(
            f"chaos:   web :{stack.web.port} workers {stack.web.workers()}, "  # type: ignore[union-attr]
            f"redis :{stack.redis.port}; load {args.seconds:g}s",  # type: ignore[union-attr]
            flush=True,
        )
        run.load(scenario.fault)
        run.load_ended = run.now()
        print(f"chaos:   load done at +{run.load_ended:.1f}s; draining", flush=True)
        tally, backlog = run.drain()
        result = Result(
            scenario=scenario,
            tally=tally,
            load_ended=run.load_ended,
            backlog=backlog,
            faults=run.faults,
            text_statuses=Counter(s for x in run.texts for s in x.statuses),
            text_failed_seconds=failed_seconds(run.texts),
            event_failed_seconds=failed_seconds(run.replies),
            event_statuses=Counter(s for r in run.replies for s in r.statuses),
            claims_failed=run.claims_failed,
            problems=stack.problems(),
        )
        print_result(result, run)
        return result
    finally:
        stack.stop()
        if args.logs:
            target = args.logs / scenario.name
            target.mkdir(parents=True, exist_ok=True)
            for path in (
                workdir / "gunicorn.log",
                workdir / "clock.log",
                workdir / "redis" / "redis.log",
            ):
                if path.exists():
                    shutil.copyfile(path, target / path.name)


def failed_seconds(records: list[TextSent] | list[ReplySent]) -> list[float]:
    """Return how long each attempt that got no 2xx took."""
    return [
        seconds
        for record in records
        for status, seconds in zip(record.statuses, record.seconds, strict=False)
        if status is None or not 200 <= status < 300
    ]


def spread(values: list[float]) -> str:
    if not values:
        return "none"
    ordered = sorted(values)
    return f"{len(ordered)}, p50 {ordered[len(ordered) // 2]:.1f}s, max {ordered[-1]:.1f}s"


def print_result(r: Result, run: Run) -> None:
    t = r.tally
    lines = [
        f"chaos:   texts: {t.texts_sent} sent (+{t.texts_resent} MessageSids resent), "
        f"{t.texts_acked} acked, {t.texts_in_slack} in Slack, {t.texts_posted_unacked} more "
        f"in Slack though Twilio gave up on them; attempts answered "
        f"{dict(sorted(r.text_statuses.items(), key=str))} (None: no answer)",
        f"chaos:   replies: {t.replies_sent} sent ({t.replies_repeated} delivered again after "
        f"a 2xx), {t.replies_acked} acked, {t.replies_texted} texted, {t.replies_refused} "
        f"refused; deliveries answered {dict(sorted(r.event_statuses.items(), key=str))}",
        f"chaos:   attempts without a 2xx took: texts {spread(r.text_failed_seconds)}; "
        f"Slack events {spread(r.event_failed_seconds)}",
        f"chaos:   longest from ack to Slack post {t.text_delay:.1f}s ({t.text_slowest}), "
        f"to Twilio {t.reply_delay:.1f}s ({t.reply_slowest}) (load ended at +{r.load_ended:.1f}s); outbox backlog then "
        f"{r.backlog}; Baton log warnings/errors: {len(r.problems)}",
    ]
    if r.claims_failed:
        lines.append(f"chaos:   claims never recorded for customers {r.claims_failed}")
    if t.texts_lost:
        lines.append(f"chaos:   LOST texts: {t.texts_lost[:20]}")
    if t.texts_late:
        lines.append(f"chaos:   OUT OF ORDER texts: {t.texts_late[:20]}")
    if t.texts_doubled:
        lines.append(f"chaos:   DOUBLED texts: {dict(list(t.texts_doubled.items())[:20])}")
    if t.replies_lost:
        lost = [x for x in run.replies if x.token in set(t.replies_lost)]
        lines.append(
            "chaos:   LOST replies: "
            + ", ".join(f"{x.token} (ts {x.ts}, answers {x.statuses})" for x in lost[:20])
        )
    if t.replies_doubled:
        lines.append(f"chaos:   DOUBLED replies: {dict(list(t.replies_doubled.items())[:20])}")
    if not t.clean or r.backlog:
        lines += [f"chaos:     {line}" for line in r.problems[:15]]
    print("\n".join(lines), flush=True)


HEADER = (
    "| scenario | texts acked | in Slack | lost | doubled | out of order | Twilio gave up "
    "| replies acked | texted | refused | lost | doubled | Slack gave up | longest delay s, in / out |"
)


def row(r: Result) -> str:
    t = r.tally
    cells = [
        r.scenario.name,
        t.texts_acked,
        t.texts_in_slack,
        len(t.texts_lost),
        sum(n - 1 for n in t.texts_doubled.values()),
        t.texts_out_of_order,
        t.texts_gave_up,
        t.replies_acked,
        t.replies_texted,
        t.replies_refused,
        len(t.replies_lost),
        sum(n - 1 for n in t.replies_doubled.values()),
        t.replies_gave_up,
        f"{t.text_delay:.1f} / {t.reply_delay:.1f}",
    ]
    return "| " + " | ".join(str(c) for c in cells) + " |"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos", description=__doc__.split("\n\n")[0]
    )
    add = parser.add_argument
    names = [s.name for s in SCENARIOS]
    add("--scenario", action="append", choices=names, help="run only this one (repeatable)")
    add("--quick", action="store_true", help="short smoke run: 12 s of load, 5 s faults")
    add("--seconds", type=float, default=None, help="load per scenario, s (25; quick 12)")
    add("--customers", type=int, default=40, help="customers per scenario (40)")
    add("--owners", type=int, default=4, help=f"owners replying (4, at most {len(OWNERS)})")
    add("--text-rate", type=float, default=25.0, help="customer texts per second (25)")
    add("--reply-rate", type=float, default=2.5, help="owner replies per second (2.5)")
    add("--resends", type=float, default=0.05, help="share of texts Twilio resends (0.05)")
    add(
        "--slack-duplicates",
        type=float,
        default=0.25,
        help="share of acknowledged events Slack delivers again (0.25)",
    )
    add(
        "--slack-retries",
        default="1,5,15",
        help="Slack's pauses before its 3 retries of an unanswered event, s (1,5,15)",
    )
    add("--fault-seconds", type=float, default=None, help="Slack/Twilio outage, s (10; quick 5)")
    add("--redis-down", type=float, default=None, help="Redis stays down, s (5; quick 3)")
    add(
        "--api-delay",
        type=float,
        default=0.2,
        help="the Slack and Twilio stand-ins answer after this many s (0.2)",
    )
    add("--clock-down", type=float, default=3.0, help="the clock stays dead, s (3)")
    add("--drain-timeout", type=float, default=120.0, help="wait for delivery at most, s (120)")
    add("--settle", type=float, default=3.0, help="look again after the outboxes empty, s (3)")
    add("--delivery-threads", type=int, default=4, help="BATON_DELIVERY_THREADS (4)")
    add("--workers", type=int, default=2, help="gunicorn workers (2)")
    add("--threads", type=int, default=8, help="gunicorn gthread threads per worker (8)")
    add("--gunicorn-args", default="", help="more gunicorn options")
    add("--redis-server", default=shutil.which("redis-server") or "/usr/bin/redis-server")
    add("--log-level", default="INFO", help="Baton's LOG_LEVEL (INFO)")
    add("--seed", type=int, default=1, help="random seed (1)")
    add("--logs", type=Path, default=None, help="copy each scenario's logs under this dir")
    args = parser.parse_args(argv)
    args.hours = "always-open"  # bench.inbound.baton_env: a config with no business hours
    if args.seconds is None:
        args.seconds = 12.0 if args.quick else 25.0
    if args.fault_seconds is None:
        args.fault_seconds = 5.0 if args.quick else 10.0
    if args.redis_down is None:
        args.redis_down = 3.0 if args.quick else 5.0
    args.fault_at = round(args.seconds * 0.3, 1)
    args.slack_retries = [float(x) for x in args.slack_retries.split(",") if x.strip()]
    if not 1 <= args.owners <= len(OWNERS):
        parser.error(f"--owners must be from 1 to {len(OWNERS)}")
    if args.customers < 1 or args.customers > 999 or args.text_rate <= 0 or args.reply_rate <= 0:
        parser.error("--customers must be 1-999, and the rates positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = [s for s in SCENARIOS if not args.scenario or s.name in args.scenario]
    root = Path(tempfile.mkdtemp(prefix="baton-chaos-"))
    began = time.monotonic()
    print(
        f"chaos: tree {tree()}; {machine()}; {len(chosen)} scenario(s), {args.seconds:g}s of "
        f"load each: {args.customers} customers at {args.text_rate:g} texts/s, "
        f"{args.owners} owners at {args.reply_rate:g} replies/s",
        flush=True,
    )
    results: list[Result] = []

    def interrupted(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        for tag, scenario in enumerate(chosen, start=1):
            results.append(run_scenario(args, scenario, tag, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    met = all(r.tally.clean for r in results)
    print("\n" + HEADER)
    print("|" + "---|" * 14)
    for r in results:
        print(row(r))
    print(
        f"\ntarget: 0 lost, 0 doubled in both directions — {'met' if met else 'NOT met'} "
        f"(run took {time.monotonic() - began:.0f}s)",
        flush=True,
    )
    return 0 if met else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"chaos: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("chaos: interrupted; everything it started was stopped", file=sys.stderr)
        sys.exit(130)
