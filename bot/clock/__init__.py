"""Time for the domain, injected so that tests never sleep.

``python -m bot.clock`` still starts the clock process (the Procfile names
it): this package's ``__main__``, which hands over to ops/processes.py.
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
