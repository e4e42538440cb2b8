"""Carrier opt-out and opt-in keywords (the CTIA set Twilio also honours)."""

from __future__ import annotations

import string
from typing import Literal

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "UNSTOP", "YES"})


def opt_change(body: str, twilio_opt_out_type: str | None = None) -> Literal["out", "in"] | None:
    """Tell whether a customer's text opts them out, back in, or neither.

    Twilio's Advanced Opt-Out sends ``OptOutType``; without it, the whole text
    must be one keyword (any case, surrounding spaces and punctuation ignored).
    """
    if twilio_opt_out_type:
        kind = twilio_opt_out_type.upper()
        if kind == "STOP":
            return "out"
        if kind == "START":
            return "in"
    word = (body or "").strip(string.whitespace + string.punctuation).upper()
    if word in OPT_OUT:
        return "out"
    if word in OPT_IN:
        return "in"
    return None
