"""Logging: readable lines in development, one JSON object per line in production."""

from __future__ import annotations

import json
import logging
import re
import sys


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "at": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


# Libraries whose INFO would log request bodies (phone numbers, texts); Bolt's
# own loggers copy the root's level when they are made, so a level set on
# "slack_bolt" alone does not reach them: the handler holds the line instead.
LIBRARIES = ("slack_bolt", "slack_sdk", "twilio", "urllib3", "apscheduler", "werkzeug")
UNHANDLED = "Unhandled request"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]|\n")


class Guard(logging.Filter):
    """Keep libraries below WARNING out (unless at DEBUG), and request content out of theirs."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.debug = level <= logging.DEBUG
        self.library_floor = level if self.debug else max(logging.WARNING, level)

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(LIBRARIES):
            return True
        if record.levelno < self.library_floor:
            return False
        if not self.debug and record.name.startswith("slack_bolt"):
            message = record.getMessage()
            if message.startswith(UNHANDLED):
                # Bolt quotes the request's fields (a value, a command's text) and a
                # listener to paste: say only that nothing handles it.
                record.msg, record.args = f"{UNHANDLED} (no listener for it; not logged)", ()
        return True


class LineFormatter(logging.Formatter):
    """Format a record as one line: a newline in a logged value cannot start a line of its own."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        # record.message is worked out anew by each formatter: changing it here touches no other.
        record.message = CONTROL.sub(
            lambda m: m.group().encode("unicode_escape").decode(), record.message
        )
        return super().formatMessage(record)


def configure(level: str, *, json_lines: bool) -> None:
    """Send Baton's logs to stderr at level, as JSON lines when json_lines."""
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(LineFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(Guard(logging.getLevelName(level)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library chatter at INFO would log request bodies (phone numbers, texts).
    for noisy in ("slack_bolt", "slack_sdk", "twilio", "urllib3", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
