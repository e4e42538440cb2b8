"""How many SMS segments a text costs: GSM-7 (160/153) or UCS-2 (70/67)."""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")
MAX_BODY = 1600  # Twilio refuses longer bodies (error 21617).


@dataclass(frozen=True)
class Segments:
    """A text's encoding, length in code units, and segment count."""

    encoding: str
    units: int
    count: int


def count_segments(text: str) -> Segments:
    """Count the segments text will be split into."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text):
        units = sum(2 if c in GSM7_EXTENDED else 1 for c in text)
        return Segments("GSM-7", units, 1 if units <= 160 else -(-units // 153))
    units = sum(2 if ord(c) > 0xFFFF else 1 for c in text)
    return Segments("UCS-2", units, 1 if units <= 70 else -(-units // 67))
