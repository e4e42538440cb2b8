"""Time for the domain (injected, so tests never sleep) and the clock process.

``python -m bot.clock`` runs the background process: the Slack delivery
workers and the APScheduler jobs.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A source of the current time, in seconds since the epoch."""

    def now(self) -> float: ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> float:
        """Return the current time in seconds since the epoch."""
        return time.time()


def main() -> None:
    """Run the clock process (scheduler and Slack delivery) until it is stopped."""
    # Deferred: the composition root builds the services from the environment.
    from app import run_clock

    run_clock()


if __name__ == "__main__":
    main()
