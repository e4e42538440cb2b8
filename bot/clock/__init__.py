"""Time for the domain, injected so that tests never sleep.

``python -m bot.clock`` still starts the clock process (the Procfile names
it): this package's ``__main__``, which hands over to ops/processes.py.
"""

from __future__ import annotations

import math
import time
from typing import Protocol


class Clock(Protocol):
    """A source of the current time, in seconds since the epoch."""

    def now(self) -> float: ...


class SystemClock:
    """The real wall clock, to the millisecond.

    Finer is noise for a response clock, and every time Baton stores (a conversation
    keeps up to six, each history entry one) is then at most 14 characters, not 18.
    """

    def now(self) -> float:
        """Return the current time in seconds since the epoch, to the millisecond (never ahead)."""
        return math.floor(time.time() * 1000) / 1000
