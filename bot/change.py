"""A change to one conversation, as a decision returns it, and a refusal.

The decisions (bot.ownership, bot.inbound, bot.replies, bot.csat, …) build a
Change from the conversation as read, or raise Refused; the commit engine
(bot.commit) commits it. Neither the decisions nor the handlers that read a
Change need the engine itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.values import Conversation, Event, SlackJob


class Refused(Exception):
    """An ownership or status change a person asked for but may not make now."""


@dataclass(frozen=True)
class Change:
    """What one transaction does to a conversation; refused (and empty) when it may not happen.

    Built once by a decision and never changed: the commit returns a new one.
    """

    conversation: Conversation | None
    refused: str | None = None
    events: tuple[Event, ...] = ()
    jobs: tuple[SlackJob, ...] = ()
    messages: tuple[dict[str, str], ...] = ()
    # A customer's MessageSid: the change is refused if it was stored, and stores it.
    inbound_sid: str | None = None
    # A Slack message's ts decided on: the change is refused if it was, and records it.
    decided_ts: str | None = None
    # Texts to send the customer, queued in the conversation's SMS outbox lane.
    texts: tuple[dict[str, str], ...] = ()
    # (sid, slack ts) of a text sent to the customer, so its status finds its Slack message.
    outbound: tuple[str, str] | None = None
    # Erase the customer's texts and number from the conversation (forget).
    erase: bool = False
    # Empty the texts' bodies and media and the events' notes, keeping who and when (retention).
    expire: bool = False
    # Index the conversation and its stored texts afresh (texts stored before the index existed).
    reindex: bool = False
    # Index terms to take the conversation out of: values it no longer has that the index
    # still names it under (a change an older Baton made in the sets it knew).
    unindex: frozenset[str] = frozenset()
    counted: tuple[str, ...] = ()  # counters for /metrics to add once committed
    result: str | None = None  # created, appended, unchanged or duplicate
    reply: str | None = None  # an automatic text answer to the customer (TwiML)

    def __post_init__(self) -> None:
        for name in ("events", "jobs", "messages", "texts", "counted"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    @property
    def ok(self) -> bool:
        """Tell whether the change was made."""
        return self.refused is None
