"""Count the Redis round trips of a customer's text (``Inbound.receive``), before Twilio's answer.

Run from the repository root (or, for another tree, from that tree with its path first)::

    .venv/bin/python -m bench.receive                  # 300 customers, three texts each
    cd /tmp/main && PYTHONPATH=$PWD /work/baton/.venv/bin/python /work/baton/bench/receive.py

On a fresh embedded Redis with ``appendfsync always`` (as Baton's own), the services are built
by ``app.build_baton`` (``bench.sweep.build``) and one warm-up text is received. Then each of
``--customers`` customers texts three times; each ``receive()`` is counted by bench.sweep's
counting connection (one round trip per ``send_packed_command``: a pipeline is one) and timed.
"first" is a customer's first text (a new conversation), "again" their next two. Everything
the webhook does against Redis before it answers is in ``receive()``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid

from bench import sweep as bench
from bot.values import InboundText


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=300)
    args = parser.parse_args(argv)
    clock = bench.BenchClock(bench.T - 600.0)
    trips: dict[str, list[int]] = {"first": [], "again": []}
    seconds: dict[str, list[float]] = {"first": [], "again": []}
    durable = ["appendonly=yes", "appendfsync=always"]
    with bench.config_file() as config, bench.fresh_store(None, False, durable) as store:
        inbound = bench.build(store, config, clock).inbound
        inbound.receive(InboundText(_sid(), "+16460000000", bench.BUSINESS_NUMBER, "warm-up"))
        for round_ in ("first", "again", "again"):
            for index in range(1, args.customers + 1):
                clock.current += 0.05
                text = InboundText(_sid(), f"+1646{index:07d}", bench.BUSINESS_NUMBER, bench.BODY)
                before = bench.WIRE.snapshot()
                started = time.perf_counter()
                inbound.receive(text)
                seconds[round_].append(time.perf_counter() - started)
                trips[round_].append(bench.WIRE.since(before).round_trips)
    for name, counted in trips.items():
        print(
            f"{name}: {statistics.fmean(counted):.2f} round trips per text "
            f"(min {min(counted)}, max {max(counted)}); "
            f"receive() median {statistics.median(seconds[name]) * 1e3:.2f} ms"
        )
    return 0


def _sid() -> str:
    return "SM" + uuid.uuid4().hex


if __name__ == "__main__":
    sys.exit(main())
