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
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]|\n")


class Guard(logging.Filter):
    """Keep libraries below WARNING out (unless at DEBUG)."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.library_floor = level if level <= logging.DEBUG else max(logging.WARNING, level)

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith(LIBRARIES) and record.levelno < self.library_floor)


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
