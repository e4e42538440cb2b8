"""Baton's values: a conversation, its events, a customer's text, a Slack job, and their Redis encoding.

Redis hash and stream fields are strings: each field type has one encoding here,
and "" means None, False or an empty tuple. The two compound field formats
(a phone pair ``business|customer`` and a thread ``channel:ts``) are built here
and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal

Status = Literal["open", "pending", "closed"]
STATUS_LABELS = {"open": "Open", "pending": "Pending", "closed": "Closed"}
# What an erased customer's number becomes.
FORGOTTEN = "forgotten"
# The author of a text Baton sends by itself (after hours, the rating question):
# never a human reply, so it answers nothing on the response clock.
AUTOMATIC = "baton"


def phone_pair(business_number: str, customer_number: str) -> str:
    """Return the directory field naming a conversation by its two numbers."""
    return f"{business_number}|{customer_number}"


def thread_ref(channel: str, ts: str) -> str:
    """Return the directory field naming a conversation by its card's thread."""
    return f"{channel}:{ts}"


@dataclass(frozen=True)
class Conversation:
    """One customer number talking to one business number."""

    number: int
    business_number: str
    customer_number: str
    queue: str
    channel: str
    status: Status = "open"
    owner: str | None = None
    opted_out: bool = False
    card_ts: str | None = None
    customer_name: str | None = None
    tags: tuple[str, ...] = ()
    collaborators: tuple[str, ...] = ()
    created_at: float = 0.0
    last_inbound_at: float | None = None
    # The response clock. A stretch is the customer's texts since the last human
    # reply: `awaiting` while it lasts, timed from `waiting_since` (None while
    # paused by Pending) plus the open time `used` before the pause.
    awaiting: bool = False
    waiting_since: float | None = None
    used: float = 0.0
    replied: bool = False
    reminded: int = 0  # the highest reminder level sent in this stretch
    autoreplied_until: float | None = None
    assigned_by: str = ""  # how the owner got it: account, shift, claim, handoff, …
    route_reason: str = ""  # why it is in its queue and with its owner, as the card says
    # The rating question (CSAT): when it was last asked, whose resolution it is
    # about (the owner then, "" for none), whether a rating may still answer it,
    # and the rating that answered the latest question (0: none yet).
    csat_asked_at: float | None = None
    csat_owner: str = ""
    csat_open: bool = False
    rating: int = 0
    # What reports count (bot.tally keeps these in every commit): when the current
    # unanswered stretch began (its first customer text) and whether it was counted as
    # unanswered 24 h; the first customer text since the conversation last opened; the
    # last person who owned it (a release keeps them, so a claim by someone else is a
    # reassignment); and its figures so far, for the CSV.
    stretch_at: float | None = None
    stretch_24h: bool = False
    opened_at: float | None = None
    last_person: str = ""
    first_response: float | None = None  # seconds, in business hours when they are set
    resolution: float | None = None  # seconds of the latest resolution, wall clock
    reassignments: int = 0
    unanswered_24h: int = 0
    # The Twilio sid of the latest customer text: kept here, no record of its own until
    # a second text moves it into the conversation's record of sids (bot.commit).
    in_sid: str = ""
    version: int = 0

    @property
    def ref(self) -> str:
        """Return the short reference people type, like #12."""
        return f"#{self.number}"

    @property
    def pair(self) -> str:
        """Return the directory field of this conversation's two numbers."""
        return phone_pair(self.business_number, self.customer_number)

    def to_fields(self) -> dict[str, str]:
        """Return the conversation as Redis hash fields."""
        return {f.name: _encode(f.type, getattr(self, f.name)) for f in fields(self)}

    def to_stored(self, before: Conversation | None = None) -> tuple[dict[str, str], list[str]]:
        """Return the hash fields to set, and those to delete, to store it over before.

        An optional field at its default (empty, no, zero) is not stored: it reads back
        as its default (see from_fields), and most of a conversation's fields are at
        theirs most of its life. One stored in before and at its default now is deleted.
        """
        values = self.to_fields()
        stored = {
            name: value
            for name, value in values.items()
            if name in _REQUIRED or value != _AT_DEFAULT[name]
        }
        was = before.to_fields() if before is not None else _AT_DEFAULT
        gone = [name for name in values if name not in stored and was[name] != _AT_DEFAULT[name]]
        return stored, gone

    @classmethod
    def from_fields(cls, raw: dict[str, str]) -> Conversation:
        """Build a conversation from its Redis hash (fields it lacks take their defaults)."""
        return cls(**{name: decode(raw[name]) for name, decode in _DECODERS.items() if name in raw})


def _encode(kind: str, value: Any) -> str:
    if value is None or value is False:
        return ""
    if kind == "bool":
        return "1"
    if kind.startswith("tuple"):
        return ",".join(value)
    if kind.startswith("float"):
        return repr(float(value))
    return str(value)


def _decoder(kind: str) -> Callable[[str], Any]:
    """Return what reads a hash field of this kind (a field's annotation) back."""
    if kind == "bool":
        return bool
    if kind.startswith("tuple"):
        return _parts
    if kind.endswith("| None"):
        inner = _decoder(kind.removesuffix(" | None"))
        return lambda text: inner(text) if text else None
    if kind == "int":
        return lambda text: int(text or 0)
    if kind == "float":
        return lambda text: float(text or 0)
    return _text


def _parts(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split(",") if part)


def _text(text: str) -> str:
    return text


# Reading a conversation is the sweep's most frequent step: the fields' kinds once.
_DECODERS = {f.name: _decoder(f.type) for f in fields(Conversation)}


def _default(f: Any) -> Any:
    if f.default is not MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not MISSING else MISSING


# Fields always stored, even empty: those without a default, or whose default is not what
# an empty field reads back as.
_REQUIRED = frozenset(
    f.name
    for f in fields(Conversation)
    if _default(f) is MISSING or _DECODERS[f.name]("") != _default(f)
)
# How each optional field's default is stored ("" for those always stored).
_AT_DEFAULT = {
    f.name: "" if f.name in _REQUIRED else _encode(f.type, _default(f))
    for f in fields(Conversation)
}


def without(tags: tuple[str, ...], tag: str) -> tuple[str, ...]:
    """Return tags less tag."""
    return tuple(t for t in tags if t != tag)


@dataclass(frozen=True)
class Event:
    """A change of owner or status: who did it, when, from what to what, and why."""

    kind: str
    who: str
    at: float
    before: str = ""
    after: str = ""
    note: str = ""

    def to_fields(self) -> dict[str, str]:
        """Return the event as a history entry's fields (an empty one is left out)."""
        fields = {"kind": self.kind, "who": self.who, "at": repr(self.at)}
        for name, value in (("before", self.before), ("after", self.after), ("note", self.note)):
            if value:
                fields[name] = value
        return fields

    @classmethod
    def from_fields(cls, raw: dict[str, str]) -> Event:
        """Build an event from a history entry's fields (those it lacks are empty)."""
        return cls(
            kind=raw["kind"],
            who=raw["who"],
            at=float(raw["at"]),
            before=raw.get("before", ""),
            after=raw.get("after", ""),
            note=raw.get("note", ""),
        )


@dataclass(frozen=True)
class InboundText:
    """A customer's text as the SMS provider delivered it (numbers already E.164)."""

    sid: str
    customer_number: str
    business_number: str
    body: str
    media: tuple[tuple[str, str], ...] = ()  # (url, content type)
    opt_change: Literal["out", "in"] | None = None


@dataclass(frozen=True)
class SlackJob:
    """One thing the delivery worker must do in Slack for a conversation."""

    kind: Literal[
        "card",
        "refresh",
        "text",
        "notice",
        "react",
        "retire",
        "dm",
        "channel",
        "erased",
        "refused",
        "whisper",
    ]
    fields: dict[str, str] = field(default_factory=dict)

    def to_fields(self) -> dict[str, str]:
        """Return the job as outbox stream fields."""
        return {"kind": self.kind, **self.fields}


def notice(text: str) -> SlackJob:
    """Return a job that posts a line from Baton in the conversation's thread."""
    return SlackJob("notice", {"text": text})


def direct(user: str, text: str) -> SlackJob:
    """Return a job that sends user a DM linking to the conversation's thread."""
    return SlackJob("dm", {"user": user, "text": text})


def whisper(user: str, channel: str, thread_ts: str, text: str, blocks: str = "") -> SlackJob:
    """Return a job that tells one person something in a thread, seen by them only.

    blocks is Block Kit as JSON, or empty.
    """
    return SlackJob(
        "whisper",
        {"user": user, "channel": channel, "thread_ts": thread_ts, "text": text, "blocks": blocks},
    )


def to_channel(text: str, *, claim_prompt: bool = False) -> SlackJob:
    """Return a job that posts a line in the conversation's queue channel, linking its thread.

    A claim prompt (the conversation is unclaimed) is updated once someone owns it.
    """
    return SlackJob("channel", {"text": text, "claim_prompt": "1" if claim_prompt else ""})


REFRESH = SlackJob("refresh")
