"""Why a text could not be sent, in words a person can act on (no Twilio import needed)."""

from __future__ import annotations


class SmsFailed(Exception):
    """Twilio did not accept the text; reason says why in words a person can act on."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class SmsUnavailable(SmsFailed):
    """Twilio could not be asked (5xx, 429, a timeout): the text may or may not have gone."""
