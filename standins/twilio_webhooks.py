"""Twilio calling a webhook: sign the configured URL, post, and retry as its connection overrides say.

The overrides are the URL's fragment
(https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides):
``rc`` retries at most, only after a failure ``rp`` names (``4xx``, ``5xx``,
``ct`` a failed connection, ``rt`` no answer within ``rt`` ms, or ``all``), and
no attempt past ``tt`` ms from the first. Twilio documents no pause between
attempts, so this stand-in makes none: only the time each attempt takes spreads
them out. It reads the fragment itself, as Twilio would, not with Baton's code.

A transport carries the requests: Flask's test client, or ``HttpTransport``.
An in-process request cannot be cut short, so an answer that came later than
``rt`` (or past ``tt``) is counted as the timeout Twilio would have seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from twilio.request_validator import RequestValidator

ALL = ("4xx", "5xx", "ct", "rt")
# Where the fragment is silent. Neither default retries an HTTP answer.
DEFAULT_RETRIES = 1
DEFAULT_POLICY = ("ct", "rt")
DEFAULT_READ_TIMEOUT_MS = 15000
DEFAULT_TOTAL_TIME_MS = 15000


@dataclass(frozen=True)
class Attempt:
    """One request Twilio made: when (seconds after the first), how long, and how it ended."""

    started: float
    seconds: float
    status: int | None  # None: no answer at all (the connection failed)
    failure: str | None  # None: a 2xx in time; else "ct", "rt", "4xx", "5xx", "tt" or "other"


class TwilioWebhookCaller:
    """Post a signed webhook the way Twilio does, retrying as the URL's overrides allow."""

    def __init__(
        self,
        transport: Any,
        auth_token: str,
        *,
        signs_fragment: bool = True,
    ) -> None:
        """Call webhooks through transport, signed with auth_token.

        Args:
            transport: has ``post(path, data=, content_type=, headers=)``, like Flask's test client.
            signs_fragment: sign the URL as configured, overrides included (Twilio
                signs "the exact URL your application supplied"), or without them.
        """
        self.transport = transport
        self.validator = RequestValidator(auth_token)
        self.signs_fragment = signs_fragment

    def deliver(
        self,
        url: str,
        params: dict[str, str],
        *,
        after_attempt: Callable[[Attempt], None] | None = None,
    ) -> list[Attempt]:
        """Post params to url until an attempt succeeds or the overrides allow no more."""
        address, _, fragment = url.partition("#")
        overrides = dict(parse_qsl(fragment))
        retries = int(overrides.get("rc", DEFAULT_RETRIES))
        policy = tuple(overrides["rp"].split(",")) if "rp" in overrides else DEFAULT_POLICY
        if "all" in policy:
            policy = ALL
        read_timeout = int(overrides.get("rt", DEFAULT_READ_TIMEOUT_MS)) / 1000
        total_time = int(overrides.get("tt", DEFAULT_TOTAL_TIME_MS)) / 1000
        signature = self.validator.compute_signature(
            url if self.signs_fragment else address, params
        )
        parts = urlsplit(address)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        first = time.monotonic()
        attempts: list[Attempt] = []
        for _ in range(retries + 1):
            began = time.monotonic()
            try:
                answer = self.transport.post(
                    path,
                    data=urlencode(params),
                    content_type="application/x-www-form-urlencoded",
                    headers={"X-Twilio-Signature": signature},
                )
                status: int | None = answer.status_code
            except OSError:
                status = None
            ended = time.monotonic()
            attempt = Attempt(
                started=began - first,
                seconds=ended - began,
                status=status,
                failure=_failure(status, ended - began, ended - first, read_timeout, total_time),
            )
            attempts.append(attempt)
            if after_attempt is not None:
                after_attempt(attempt)
            if attempt.failure not in policy or time.monotonic() - first >= total_time:
                break
        return attempts


def _failure(
    status: int | None, seconds: float, since_first: float, read_timeout: float, total: float
) -> str | None:
    if since_first > total:
        return "tt"
    if status is None:
        return "ct"
    if seconds > read_timeout:
        return "rt"
    if 200 <= status < 300:
        return None
    if 400 <= status < 500:
        return "4xx"
    if 500 <= status < 600:
        return "5xx"
    return "other"
