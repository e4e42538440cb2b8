"""Slack delivery's throughput when Slack is slow: posts a second against delivery threads.

In-process, on an embedded Redis and the stand-ins: `--texts` signed texts from
`--customers` customers are taken in through the real Flask app (its test client) with
delivery off; then the Slack stand-in answers every call after `--slack-delay` seconds, and
one delivering process's Slack outbox, with each count of `--threads` in turn, drains a fresh
copy of that backlog. Printed per thread count: posts, first to last post, posts a second,
the bound (threads / delay), and the stand-in's connections (a kept-alive connection per
thread, not one per call). Pacing is off (the stand-in does not limit), so the figure is
delivery's own ceiling across channels.

    .venv/bin/python -m bench.drain
    .venv/bin/python -m bench.drain --threads 16 64 128 --slack-delay 1
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from app import shutdown
from bench.storm import in_process
from standins import FakeSlack, FakeTwilio


def run(args: argparse.Namespace, threads: int, workdir: Path) -> dict[str, float]:
    """Queue the texts, then time one outbox with threads draining them against a slow Slack."""
    with FakeSlack() as slack, FakeTwilio() as twilio:
        server, app, customers = in_process(
            workdir,
            slack,
            twilio,
            prefix=f"drain{threads}",
            pace=0.0,
            customers=args.customers,
            numbers="+1555400",
        )
        baton = app.extensions["baton"]
        for index in range(args.texts):
            answer = customers[index % args.customers].texts(f"text {index}")
            assert answer.status_code == 200, answer.status_code
        slack.delay = args.slack_delay
        connections = slack.connections
        baton.delivery.start(threads)
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline and (
            len([c for c in slack.calls_to("chat.postMessage") if c.status == 200]) < args.texts
            or baton.delivery.backlog()
        ):
            time.sleep(0.05)
        posts = sorted(c.at for c in slack.calls_to("chat.postMessage") if c.status == 200)
        calls = len(slack.calls_to(None))
        opened = slack.connections - connections
        shutdown(app)
        server.shutdown()
    if len(posts) < args.texts:
        raise SystemExit(f"drain: only {len(posts)} of {args.texts} posts in {args.timeout:.0f} s")
    span = posts[-1] - posts[0] + args.slack_delay  # the first post was asked for a delay before
    return {"posts": len(posts), "calls": calls, "span": span, "connections": opened}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.drain", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--texts", type=int, default=1200)
    parser.add_argument("--customers", type=int, default=600)
    parser.add_argument("--slack-delay", type=float, default=1.0, help="s per Slack call (1)")
    parser.add_argument("--threads", type=int, nargs="+", default=[16, 64, 128])
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    print(
        f"{args.texts} texts from {args.customers} customers queued; Slack answers each call "
        f"in {args.slack_delay:g} s; one delivering process"
    )
    print("  threads  posts  Slack calls  first→last s  posts/s  bound/s  connections")
    with tempfile.TemporaryDirectory(prefix="baton-drain-") as tmp:
        for threads in args.threads:
            result = run(args, threads, Path(tmp))
            rate = result["posts"] / result["span"]
            print(
                f"  {threads:>7}  {result['posts']:>5}  {result['calls']:>11}"
                f"  {result['span']:>12.1f}  {rate:>7.1f}  {threads / args.slack_delay:>7.0f}"
                f"  {result['connections']:>11}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
