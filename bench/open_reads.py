"""What reading the open conversations costs: whole, or only their owners.

A least-loaded pick (a new text in a queue whose shift has several people on
it, and each shift change) counts who owns what among the open conversations;
the home tab and the shift hand-over read them whole. In-process, on the
embedded Redis and the stand-ins: `--open` conversations are opened, each by a
new customer's text with its card posted (as bench.memory opens them), then
`Conversations.active()` and `Conversations.open_owners()` are timed
alternately, `--repeat` times each, and their medians printed.

    .venv/bin/python -m bench.open_reads
    .venv/bin/python -m bench.open_reads --open 200
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from app import shutdown
from bench.memory import open_conversations
from bench.storm import in_process
from standins import FakeSlack, FakeTwilio


def timed_into(times: list[float], read: Callable[[], object]) -> None:
    """Append how long read() took, in ms, to times."""
    started = time.perf_counter()
    read()
    times.append((time.perf_counter() - started) * 1000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.open_reads", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--open", type=int, default=2000, help="conversations open")
    parser.add_argument("--repeat", type=int, default=15, help="reads of each kind")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="baton-open-reads-") as tmp,
        FakeSlack() as slack,
        FakeTwilio() as twilio,
    ):
        server, app, people = in_process(
            Path(tmp),
            slack,
            twilio,
            prefix="reads",
            pace=0.0,
            customers=args.open,
            numbers="+1555400",
        )
        baton = app.extensions["baton"]
        baton.delivery.start(2)
        try:
            open_conversations(people, slack, baton)
            conversations = baton.conversations
            whole = [c.owner for c in conversations.active()]
            assert conversations.open_owners() == whole and len(whole) == args.open
            timed: dict[str, list[float]] = {"active()": [], "open_owners()": []}
            for _ in range(args.repeat):
                timed_into(timed["active()"], conversations.active)
                timed_into(timed["open_owners()"], conversations.open_owners)
        finally:
            shutdown(app)
            server.shutdown()
    print(f"{args.open} conversations open; median of {args.repeat} reads each")
    for name, times in timed.items():
        print(f"  {name:<15} {statistics.median(times):7.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
