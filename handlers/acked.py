"""What a listener does after Slack got its answer: an error there is logged, and the answer stands.

Bolt runs a listener on a worker thread and waits up to 3 s for its ack. When the listener
raises soon after acking, before Bolt's request thread has seen the ack, Bolt takes the ack
back (its thread runner sets ``ack.response`` to None): Slack then waits 3 s and gets a 404
for a click, command or form that Baton acted on. So an error after the ack is logged here,
with its traceback, and never reaches Bolt; one before the ack still does (a 500: nothing was
acknowledged).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from slack_bolt import Ack

logger = logging.getLogger(__name__)


@contextmanager
def errors_logged_after(ack: Ack, what: str) -> Iterator[None]:
    """Log an error raised once ack has answered Slack; let one raised before it through."""
    try:
        yield
    except Exception:
        if ack.response is None:
            raise
        logger.exception("unhandled error in %s, after Slack's answer", what)
