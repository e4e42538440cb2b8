"""What one committed change adds to the reports: a pure function of the states before and after.

Every commit (``bot.commit``) passes its conversation before and after, with
the events and texts it records, through ``Tally``; what comes back is the
conversation with its report fields brought up to date and a ``Ledger`` of
what to add to the aggregates (``bot.aggregates``), written by the same Lua
commit. The backfill (``bot.aggregates.Backfill``) replays stored event logs
through this same function, so a rebuilt day counts exactly what a live one did.

Each fact is counted on the day it happens (in the business's time zone),
under the conversation's queue and the person it belongs to ("" for nobody):
a response under whoever texted it, a resolution and the texts in under the
owner, a reassignment under the person who lost the conversation, a rating
under the person it names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from bot import response
from bot.calendar import BusinessCalendar
from bot.response import unanswered_too_long
from bot.values import Conversation, Event
from config import BatonConfig

# Authors of texts Baton sends by itself (the after-hours reply, a CSAT question):
# never a human reply.
AUTOMATIC_AUTHORS = frozenset({"baton", ""})
SCORES = ("1", "2", "3", "4", "5")


def is_human_reply(message: dict[str, str]) -> bool:
    """Tell whether a stored text is a person's reply to the customer."""
    return message.get("direction") == "out" and message.get("author", "") not in AUTOMATIC_AUTHORS


@dataclass
class Ledger:
    """What one change adds to the aggregates, by day, queue and person."""

    counts: list[tuple[str, str, str, str, int]] = field(
        default_factory=list
    )  # day, metric, q, p, n
    durations: list[tuple[str, str, str, str, int]] = field(
        default_factory=list
    )  # day, kind, q, p, s
    members: list[tuple[str, str, str, str, int]] = field(
        default_factory=list
    )  # day, set, q, p, conv
    open: list[tuple[str, str, int]] = field(default_factory=list)  # queue, person, +1 / -1

    def __bool__(self) -> bool:
        return bool(self.counts or self.durations or self.members or self.open)


class Tally:
    """Count a change into the reports (pure: no store, no clock)."""

    def __init__(self, config: BatonConfig, calendar: BusinessCalendar) -> None:
        self.config = config
        self.calendar = calendar
        self.zone = ZoneInfo(config.business.timezone)

    def day(self, at: float) -> str:
        """Return the business day of a moment, as YYYY-MM-DD."""
        return datetime.fromtimestamp(at, self.zone).date().isoformat()

    def __call__(
        self,
        before: Conversation | None,
        conv: Conversation,
        events: Sequence[Event],
        messages: Sequence[dict[str, str]],
        now: float,
    ) -> tuple[Conversation, Ledger]:
        """Return conv with its report fields kept, and what the change adds to the aggregates.

        now is when the change happened (its events' and texts' time).
        """
        ledger = Ledger()
        day = self.day(now)
        queue, owner = conv.queue, conv.owner or ""
        number = conv.number

        def count(metric: str, person: str, amount: int = 1, at_queue: str = queue) -> None:
            ledger.counts.append((day, metric, at_queue, person, amount))

        if before is None:
            count("new", owner)
        for message in messages:
            if message.get("direction") == "in":
                count("texts_in", owner)
            elif message.get("direction") == "out":
                count("texts_out", message.get("author", "") if is_human_reply(message) else "")

        conv = self._stretch(before, conv, messages, now, count, ledger, day)
        conv = self._resolution(before, conv, events, messages, now, count, ledger, day)

        if conv.owner:
            if before is not None and before.last_person and before.last_person != conv.owner:
                count("reassignments", before.last_person)
                ledger.members.append((day, "reassigned", queue, before.last_person, number))
                ledger.members.append((day, "active", queue, before.last_person, number))
                conv = replace(conv, reassignments=conv.reassignments + 1)
            conv = replace(conv, last_person=conv.owner)

        for event in events:
            if event.kind == "rated" and event.after in SCORES:
                count(f"rated:{event.after}", event.who)
                conv = replace(conv, rating=int(event.after))

        if events or messages or ledger.counts:
            ledger.members.append((day, "active", queue, owner, number))

        was = (
            (before.queue, before.owner or "")
            if before is not None and before.status != "closed"
            else None
        )
        is_ = (queue, owner) if conv.status != "closed" else None
        if was != is_:
            if was is not None:
                ledger.open.append((*was, -1))
            if is_ is not None:
                ledger.open.append((*is_, 1))
        return conv, ledger

    def _stretch(self, before, conv, messages, now, count, ledger, day):  # type: ignore[no-untyped-def]
        """Count the unanswered stretch that ends, turns 24 h old, or starts."""
        running = before is not None and before.awaiting and before.stretch_at is not None
        if running and unanswered_too_long(before, now):
            # Counted once, when it turns 24 hours old (the sweep wakes it then), under
            # whoever owned it then; its reply, if one comes, is still a response.
            count("stretches", before.owner or "", at_queue=before.queue)
            count("unanswered_24h", before.owner or "", at_queue=before.queue)
            conv = replace(conv, stretch_24h=True, unanswered_24h=conv.unanswered_24h + 1)
        if running and not conv.awaiting:
            assert before is not None and before.stretch_at is not None
            replies = [m for m in messages if is_human_reply(m)]
            person = conv.owner or ""
            if replies:
                person = replies[0]["author"]
                seconds = round(self.calendar.open_seconds(before.stretch_at, now))
                kind = "first" if before.first_response is None else "next"
                ledger.durations.append((day, kind, conv.queue, person, seconds))
                due = response.reply_due_at(
                    before, self.config.targets_for(before.queue), self.calendar
                )
                if due is not None:
                    count("timed", person)
                    if now <= due:
                        count("met", person)
                if kind == "first":
                    conv = replace(conv, first_response=float(seconds))
            if not conv.stretch_24h:
                count("stretches", person)
            conv = replace(conv, stretch_at=None, stretch_24h=False)
        elif conv.awaiting and not (before is not None and before.awaiting):
            conv = replace(conv, stretch_at=now, stretch_24h=False)
        return conv

    def _resolution(self, before, conv, events, messages, now, count, ledger, day):  # type: ignore[no-untyped-def]
        """Count a Resolve, and keep when the open stretch's first customer text came."""
        resolved = any(e.kind == "status" and e.after == "closed" for e in events)
        if (
            resolved
            and before is not None
            and before.status != "closed"
            and conv.status == "closed"
        ):
            count("resolved", conv.owner or "")
            if before.opened_at is not None:
                seconds = round(now - before.opened_at)
                ledger.durations.append((day, "resolution", conv.queue, conv.owner or "", seconds))
                conv = replace(conv, resolution=float(seconds))
        if conv.status == "closed":
            return replace(conv, opened_at=None)
        if conv.opened_at is None and any(m.get("direction") == "in" for m in messages):
            return replace(conv, opened_at=now)
        return conv
