"""Phone numbers: parse what people and carriers send into E.164, and mask them for logs."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

# Every text carries the business number, and most a customer who texted before:
# phonenumbers takes about 20 us a parse, so each distinct number is parsed once.
PARSED_KEPT = 4096


class InvalidNumber(ValueError):
    """A phone number that cannot be a real, textable number."""


@lru_cache(maxsize=PARSED_KEPT)
def normalise(text: str, region: str = "US", *, strict: bool = True) -> str:
    """Return text as an E.164 number, reading it in region unless it starts with +.

    strict also refuses numbers no carrier has assigned (typos); carriers' own
    numbers in webhooks are checked only for a possible length.
    """
    cleaned = (text or "").strip()
    if not cleaned or len(cleaned) > 40:
        raise InvalidNumber(f"{cleaned[:40]!r} is not a phone number")
    try:
        number = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException:
        raise InvalidNumber(f"{cleaned!r} is not a phone number") from None
    if not phonenumbers.is_possible_number(number) or (
        strict and not phonenumbers.is_valid_number(number)
    ):
        raise InvalidNumber(f"{cleaned!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=PARSED_KEPT)
def display(e164: str) -> str:
    """Return an E.164 number formatted for people, like +1 555-123-4567."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def mask(number: str | None) -> str:
    """Return number with all but its first two and last four characters hidden."""
    if not number:
        return "-"
    if len(number) <= 6:
        return "*" * len(number)
    return number[:2] + "*" * (len(number) - 6) + number[-4:]
