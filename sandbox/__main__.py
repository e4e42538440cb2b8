"""Run the sandbox: ``python -m sandbox [--port 8000] [--reset]``; Ctrl-C stops it."""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import sys
import threading
from pathlib import Path

from sandbox.server import Sandbox


def main(argv: list[str] | None = None) -> int:
    """Start the sandbox, print its page's URL, and run until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="Try Baton in your browser: a fake phone and a fake Slack workspace, "
        "talking to the real Baton, all on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=8000, help="port of the page (default 8000)")
    parser.add_argument(
        "--reset",
        action="store_true",
        help="start afresh: delete the sandbox's own data (its Redis keys and saved workspace)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data/sandbox"),
        help="where the embedded Redis and the saved workspace live (default data/sandbox)",
    )
    args = parser.parse_args(argv)
    sandbox = Sandbox(port=args.port, data_dir=args.data_dir)
    try:
        sandbox.start(reset=args.reset)
    except OSError as exc:
        sandbox.stop()
        if exc.errno == errno.EADDRINUSE:
            print(f"sandbox: port {args.port} is in use; pick another with --port", file=sys.stderr)
            return 1
        raise
    # Warnings only: the page is the interface, and the terminal keeps the one URL readable.
    logging.basicConfig(level=logging.WARNING, format="sandbox: %(name)s: %(message)s")
    print(f"Baton sandbox: {sandbox.url}", flush=True)

    stopping = threading.Event()
    # Set both handlers: a shell may start the process with SIGINT ignored (a background job).
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
