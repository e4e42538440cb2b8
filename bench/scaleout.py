"""Scale-out: 1, 2 and 4 web processes, with a separate delivery process, against one Redis.

Run from the repository root::

    .venv/bin/python -m bench.scaleout                       # web 1,2,4; open loop, as Twilio
    .venv/bin/python -m bench.scaleout --web 1,2 --rates 100,200,300 --json /tmp/scaleout.json

For each number of web processes (gunicorn ``--workers``, 8 threads each, the Procfile's worker
class) it runs ``bench.inbound`` at rising offered rates, each on a fresh embedded Redis (AOF,
fsync always) with one clock process delivering (``--clocks``), and stops at the first rate
whose ack p99 is over ``--p99-ms`` (50) or which is not accepted in full, twice (this is a
shared machine: one run in a few has a spike). It reports, per
number of web processes, the highest rate met, and at it the CPU one text costs the web
workers and the Redis server (read from /proc), and so how many texts one Redis CPU-second
carries. Every process of the run shares this machine's cores: where the web processes cannot
get more CPU, adding them adds nothing, and the figures say so (``machine busy``).

Exit status: 0, or 2 when a run could not start.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import inbound


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scaleout", description=__doc__.split("\n\n")[0]
    )
    add = parser.add_argument
    add("--web", default="1,2,4", help="numbers of web processes to try (1,2,4)")
    add(
        "--rates",
        default="50,75,100,125,150,200,250,300,400",
        help="offered texts/s to try, rising; stops at the first one missed",
    )
    add("--seconds", type=float, default=8.0, help="seconds of sending per rate (8)")
    add("--p99-ms", type=float, default=50.0, help="the ack p99 a rate must meet (50)")
    add("--clocks", type=int, default=1, help="delivery (clock) processes (1)")
    add("--keep-alive", action="store_true", help="16 keep-alive clients instead of open loop")
    add("--json", type=Path, default=None, help="write every run's figures here")
    add("--verbose", action="store_true", help="show each bench.inbound run's output")
    return parser.parse_args(argv)


def run_once(args: argparse.Namespace, web: int, rate: int) -> dict[str, Any]:
    """Run bench.inbound once (ack path only) and return its figures."""
    with tempfile.TemporaryDirectory(prefix="baton-scaleout-") as tmp:
        out = Path(tmp) / "figures.json"
        argv = [
            "--rate",
            str(rate),
            "--texts",
            str(max(200, int(rate * args.seconds))),
            "--workers",
            str(web),
            "--clocks",
            str(args.clocks),
            "--slack-timeout",
            "0",  # the ack path is measured; delivery only has to run alongside
            "--json",
            str(out),
        ]
        if not args.keep_alive:
            argv.append("--new-connection")
        printed = io.StringIO()
        with contextlib.redirect_stdout(sys.stdout if args.verbose else printed):
            inbound.main(argv)
        return json.loads(out.read_text())


def met(figures: dict[str, Any], p99_ms: float) -> bool:
    accepted = figures["statuses"].get("200", 0)
    return figures["ack_ms"]["p99"] <= p99_ms and accepted >= 0.99 * figures["texts"]


def per_text_ms(cpu_seconds: float, texts: int) -> float:
    return round(1000 * cpu_seconds / max(1, texts), 3)


def measure(args: argparse.Namespace, web: int, rate: int) -> dict[str, Any]:
    """Run one rate with this many web processes; print and return its row."""
    figures = run_once(args, web, rate)
    texts = figures["statuses"].get("200", 0)
    cpu = figures["cpu_s"]
    row = {
        "web": web,
        "rate": rate,
        "met": met(figures, args.p99_ms),
        "accepted_per_s": figures["accepted_per_s"],
        "p99_ms": figures["ack_ms"]["p99"],
        "refused_share": figures["refused_share"],
        "web_cpu_ms_per_text": per_text_ms(sum(cpu["gunicorn_workers"]), texts),
        "redis_cpu_ms_per_text": per_text_ms(cpu["redis"] or 0.0, texts),
        "redis_cpu_s": cpu["redis"],
        "texts": texts,
        "machine_busy": cpu["machine_busy"],
        "other_processes_cpu_s": cpu["other_processes"],
        "tree": figures["tree"],
    }
    print(
        f"web {web}, offered {rate}/s: accepted {row['accepted_per_s']}/s, "
        f"p99 {row['p99_ms']} ms, refused {row['refused_share']:.1%}, "
        f"web CPU {row['web_cpu_ms_per_text']} ms/text, "
        f"Redis CPU {row['redis_cpu_ms_per_text']} ms/text, "
        f"machine busy {row['machine_busy']:.0%}, other processes "
        f"{row['other_processes_cpu_s']} CPU-s" + ("" if row["met"] else "  <- missed"),
        flush=True,
    )
    return row


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    webs = [int(n) for n in args.web.split(",")]
    rates = [int(r) for r in args.rates.split(",")]
    runs: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    for web in webs:
        best: dict[str, Any] | None = None
        for rate in rates:
            for _attempt in range(2):
                row = measure(args, web, rate)
                runs.append(row)
                if row["met"]:
                    break
            if not row["met"]:
                break
            best = row
        redis_ms = sorted(r["redis_cpu_ms_per_text"] for r in runs if r["web"] == web)
        summary.append(
            {"web": web, "best": best, "redis_cpu_ms_per_text_median": redis_ms[len(redis_ms) // 2]}
        )

    print(f"\n== throughput at ack p99 <= {args.p99_ms:g} ms, one Redis ==")
    print(
        "web processes | texts/s | p99 ms | web CPU ms/text | Redis CPU ms/text | "
        "texts per Redis CPU-s | machine busy"
    )
    print(
        "Redis CPU per text, median of every run: "
        + ", ".join(f"{e['web']} web: {e['redis_cpu_ms_per_text_median']} ms" for e in summary)
    )
    for entry in summary:
        best = entry["best"]
        if best is None:
            print(f"{entry['web']} | none met | | | | |")
            continue
        per_redis_second = (
            round(1000 / best["redis_cpu_ms_per_text"]) if best["redis_cpu_ms_per_text"] else None
        )
        print(
            f"{entry['web']} | {best['rate']} | {best['p99_ms']} | {best['web_cpu_ms_per_text']} | "
            f"{best['redis_cpu_ms_per_text']} | {per_redis_second} | {best['machine_busy']:.0%}"
        )
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "summary": summary}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except inbound.BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        sys.exit(2)
