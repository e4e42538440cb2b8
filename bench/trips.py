"""Redis round trips per text: before Twilio's answer, and per Slack post.

In-process, on an embedded Redis and the stand-ins: `--texts` signed texts from
`--customers` customers through the real Flask app (its test client), then the
Slack outbox drained by one delivery worker thread (a burst: every text queued
first). Then `--steady` texts one at a time, each posted before the next is
sent, as texts arrive when delivery keeps up. A round trip is one command or
one pipeline sent on a connection (redis-py's `send_packed_command`, counted
here, in the bench only); delivery's are counted in the delivery threads only,
not in the bench's own polling.

    .venv/bin/python -m bench.trips
    .venv/bin/python -m bench.trips --texts 600 --customers 60 --pace 0
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import redis
import redis.connection

from app import shutdown
from bench.memory import memory_by_kind
from bench.storm import in_process
from standins import FakeSlack, FakeTwilio

ROOT = Path(__file__).resolve().parent.parent

_counts = threading.local()  # per thread: the texts' requests are counted in this one
_all = {"n": 0, "on": False}  # every thread: the delivery workers
_lock = threading.Lock()


COMMANDS: Counter[str] = Counter()
_by_command = False


def _counting(send):  # type: ignore[no-untyped-def]
    def send_packed_command(self, command, check_health=True):  # type: ignore[no-untyped-def]
        _counts.n = getattr(_counts, "n", 0) + 1
        if _all["on"] and "-delivery-" in threading.current_thread().name:
            with _lock:
                _all["n"] += 1
        if _all["on"] and _by_command and "-delivery-" in threading.current_thread().name:
            first = command[0] if isinstance(command, list) else command
            words = bytes(first).split(b"\r\n")
            COMMANDS[words[2].decode() if len(words) > 2 else "?"] += 1
        return send(self, command, check_health)

    return send_packed_command


def trips() -> int:
    return getattr(_counts, "n", 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.trips", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--texts", type=int, default=600)
    parser.add_argument("--customers", type=int, default=60)
    parser.add_argument(
        "--memory", action="store_true", help="also Redis's MEMORY USAGE by kind of key"
    )
    parser.add_argument("--steady", type=int, default=100, help="texts sent one at a time")
    parser.add_argument("--pace", type=float, default=0.0, help="BATON_SLACK_PACE (0: off)")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds to count idle workers")
    parser.add_argument("--idle-threads", type=int, default=8, help="per outbox, when idle")
    parser.add_argument(
        "--by-command", action="store_true", help="also count delivery's by command"
    )
    args = parser.parse_args(argv)

    redis.connection.AbstractConnection.send_packed_command = _counting(
        redis.connection.AbstractConnection.send_packed_command
    )
    with (
        tempfile.TemporaryDirectory(prefix="baton-trips-") as tmp,
        FakeSlack() as slack,
        FakeTwilio() as twilio,
    ):
        server, app, customers = in_process(
            Path(tmp),
            slack,
            twilio,
            prefix="trips",
            pace=args.pace,
            customers=args.customers,
            numbers="+1555300",
        )
        baton = app.extensions["baton"]
        empty = server.info("memory")["used_memory"]
        before = trips()
        cpu = time.thread_time()
        for index in range(args.texts):
            answer = customers[index % args.customers].texts(f"text {index}")
            assert answer.status_code == 200, answer.status_code
        inbound = (trips() - before) / args.texts
        inbound_cpu = (time.thread_time() - cpu) / args.texts
        queued = server.info("memory")["used_memory"]
        # Delivery by one worker thread, as a delivering process runs it, counted in every thread.
        global _by_command
        _by_command = args.by_command
        cpu = time.process_time()
        _all["on"] = True
        baton.delivery.start(1)
        # Every text posted (a first text is in its card, or, before that, after it) and nothing left.
        while (
            len([c for c in slack.calls_to("chat.postMessage") if c.status == 200]) < args.texts
            or baton.delivery.backlog()
        ):
            time.sleep(0.01)
        _all["on"] = False
        delivered = server.info("memory")["used_memory"]
        by_kind = memory_by_kind(server) if args.memory else Counter()
        posts = len([c for c in slack.calls_to("chat.postMessage") if c.status == 200])
        updates = len(slack.calls_to("chat.update"))
        per_post = _all["n"] / max(1, posts)
        post_cpu = (time.process_time() - cpu) / max(1, posts)
        # Steady: a text, then its post, then the next, with the worker waiting in Redis.
        steady_before, steady_posts = _all["n"], posts
        _all["on"] = True
        for index in range(args.steady):
            answer = customers[index % args.customers].texts(f"steady {index}")
            assert answer.status_code == 200, answer.status_code
            while len([c for c in slack.calls_to("chat.postMessage") if c.status == 200]) <= (
                steady_posts + index
            ):
                time.sleep(0.002)
        _all["on"] = False
        steady = (_all["n"] - steady_before) / max(1, args.steady)
        baton.delivery.stop()
        # Idle: what the Slack and SMS workers of a process cost Redis with nothing to do.
        for outbox in (baton.delivery, baton.texting):
            outbox.stop_event.clear()
            outbox.start(args.idle_threads)
        time.sleep(1.0)
        idle_before = _all["n"]
        _all["on"] = True
        time.sleep(args.idle)
        _all["on"] = False
        idle = (_all["n"] - idle_before) / args.idle
        for outbox in (baton.delivery, baton.texting):
            outbox.stop()
        shutdown(app)
        server.shutdown()
    print(f"{args.texts} texts from {args.customers} customers, pace {args.pace}")
    print(
        f"  round trips per text, until Twilio's answer   {inbound:.2f}   ({inbound_cpu * 1000:.2f} ms CPU)"
    )
    print(
        f"  round trips per Slack post ({posts} posts, {updates} card updates)   {per_post:.2f}"
        f"   ({post_cpu * 1000:.2f} ms CPU, this thread)"
    )
    print(f"  round trips per Slack post, one text at a time ({args.steady})   {steady:.2f}")
    per = args.customers
    print(
        f"  Redis per conversation (used_memory): {(queued - empty) / per:,.0f} B queued,"
        f" {(delivered - empty) / per:,.0f} B delivered"
    )
    if by_kind:
        print(
            f"  MEMORY USAGE by kind of key after delivery, per conversation (sum {sum(by_kind.values()) / per:,.0f} B):"
        )
        for kind, size in by_kind.most_common(12):
            print(f"    {kind:<44} {size / per:7.0f} B")
    print(f"  idle: {2 * args.idle_threads} delivery threads   {idle:.1f} round trips a second")
    if COMMANDS:
        print(
            f"  delivery's round trips by first command, per post of both runs ({posts + args.steady})"
        )
    for command, count in COMMANDS.most_common():
        print(f"    {command:<16} {count / max(1, posts + args.steady):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
