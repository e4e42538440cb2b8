"""Logs: library chatter and request bodies stay out at INFO; a logged value cannot forge a line."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from ops import logs


@pytest.fixture
def configured(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """Yield capsys, putting the root logger back afterwards; tests configure logs themselves.

    (configure binds sys.stderr when called, and capsys's stream is the test's own
    only inside the test.)
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield capsys
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_library_logger_made_at_info_still_logs_nothing_below_warning(configured):
    logs.configure("INFO", json_lines=False)
    # Bolt makes its loggers with the root's level at the time: INFO here.
    bolt = logging.getLogger("slack_bolt.RequestVerification")
    bolt.setLevel(logging.INFO)
    bolt.info("Invalid request signature detected (body: text=my number is +15551234567)")
    logging.getLogger("baton.test").info("kept")
    err = configured.readouterr().err
    assert "+15551234567" not in err and "kept" in err


def test_a_newline_in_a_logged_value_cannot_start_a_line(configured):
    logs.configure("INFO", json_lines=False)
    logging.getLogger("baton.test").warning("refused %s", "x\n2026-01-01 INFO forged: line")
    err = configured.readouterr().err
    assert err.count("\n") == 1 and "\\n2026-01-01 INFO forged" in err


def test_bolts_unhandled_request_warning_keeps_the_request_out(configured):
    logs.configure("INFO", json_lines=True)
    bolt = logging.getLogger("slack_bolt.App")
    bolt.warning("Unhandled request ({'type': 'block_actions', 'value': '+15551234567'})")
    err = configured.readouterr().err
    assert "Unhandled request" in err and "+15551234567" not in err and "block_actions" not in err
