"""Response targets: when a human reply is due, and when each reminder level falls.

Everything here is a pure function of the conversation's response clock
(kept by the state machine from its events), the policy (targets) and the
business calendar; "now" is passed in, never read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.calendar import BusinessCalendar
from bot.values import Conversation, Status
from config import ResponseTargets

WARN, DUE, ESCALATE = 1, 2, 3
LEVEL_NAMES = {WARN: "reminder", DUE: "due", ESCALATE: "escalation"}
# Cards are refreshed each minute from an hour before a reply is due to an hour after.
REFRESH_WINDOW = 3600
REFRESH_EVERY = 60
# An unanswered stretch this old (wall clock) counts as unanswered in the reports.
UNANSWERED_AFTER = 24 * 3600


@dataclass(frozen=True)
class Level:
    """One reminder level and the moment it falls."""

    level: int
    at: float


def target_seconds(conv: Conversation, targets: ResponseTargets) -> int:
    """Return the target that applies: urgent, first response, or next response."""
    if "urgent" in conv.tags:
        return targets.urgent
    return targets.next_response if conv.replied else targets.first_response


def _clock_running(conv: Conversation) -> bool:
    return conv.status == "open" and conv.awaiting and conv.waiting_since is not None


def _moment(conv: Conversation, seconds: float, calendar: BusinessCalendar) -> float:
    assert conv.waiting_since is not None
    return calendar.add(conv.waiting_since, seconds - conv.used)


def reply_due_at(
    conv: Conversation, targets: ResponseTargets, calendar: BusinessCalendar
) -> float | None:
    """Return when a human reply is due, or None when none is awaited or the clock is paused."""
    if not _clock_running(conv):
        return None
    return _moment(conv, target_seconds(conv, targets), calendar)


def levels(conv: Conversation, targets: ResponseTargets, calendar: BusinessCalendar) -> list[Level]:
    """Return the reminder levels of the running clock with their moments, earliest first."""
    if not _clock_running(conv):
        return []
    target = target_seconds(conv, targets)
    fractions = ((WARN, targets.warn_at), (DUE, 1.0), (ESCALATE, targets.escalate_after))
    return [
        Level(level, _moment(conv, target * fraction, calendar)) for level, fraction in fractions
    ]


def crossed(
    conv: Conversation, targets: ResponseTargets, calendar: BusinessCalendar, now: float
) -> list[int]:
    """Return the levels that have fallen by now and were not sent yet, in order."""
    return [
        lv.level
        for lv in levels(conv, targets, calendar)
        if lv.level > conv.reminded and lv.at <= now
    ]


def next_wake(
    conv: Conversation, targets: ResponseTargets, calendar: BusinessCalendar, now: float
) -> float | None:
    """Return when the sweep must next look at conv (a reminder or a card refresh), or None."""
    moments = [lv.at for lv in levels(conv, targets, calendar) if lv.level > conv.reminded]
    unanswered = unanswered_wake(conv)
    if unanswered is not None:
        moments.append(unanswered)
    due = reply_due_at(conv, targets, calendar)
    if due is not None:
        if now < due - REFRESH_WINDOW:
            moments.append(due - REFRESH_WINDOW)
        elif now <= due + REFRESH_WINDOW:
            moments.append(now + REFRESH_EVERY)
    return min(moments) if moments else None


def unanswered_wake(conv: Conversation) -> float | None:
    """Return when conv's unanswered stretch turns 24 hours old, if it is not counted yet."""
    if conv.awaiting and conv.stretch_at is not None and not conv.stretch_24h:
        return conv.stretch_at + UNANSWERED_AFTER
    return None


def unanswered_too_long(conv: Conversation, now: float) -> bool:
    """Tell whether conv's unanswered stretch has gone 24 hours and is not counted yet."""
    wake = unanswered_wake(conv)
    return wake is not None and now >= wake


# The clock itself: how texts, replies and statuses start, pause, resume and stop it.


def start_clock(conv: Conversation, now: float) -> Conversation:
    """Return conv with its clock running after a customer text (a new stretch, or resumed)."""
    if not conv.awaiting:
        return replace(
            conv,
            awaiting=True,
            waiting_since=now,
            used=0.0,
            reminded=0,
        )
    if conv.waiting_since is None and conv.status == "open":
        return replace(conv, waiting_since=now)  # resumes a clock paused by Pending
    return conv


def stop_clock(conv: Conversation) -> Conversation:
    """Return conv with nothing awaited: a human answered, or there is nothing to answer."""
    return replace(conv, awaiting=False, waiting_since=None, used=0.0)


def with_status(
    conv: Conversation, status: Status, now: float, calendar: BusinessCalendar
) -> Conversation:
    """Return conv with a new status, pausing, resuming or ending its response clock."""
    if conv.status == "closed" and status != "closed":
        # A rating answers the question of the resolve it followed, not a later one.
        conv = replace(conv, csat_open=False)
    if status == "pending" and conv.awaiting and conv.waiting_since is not None:
        used = conv.used + calendar.open_seconds(conv.waiting_since, now)
        return replace(conv, status=status, waiting_since=None, used=used)
    if status == "open" and conv.awaiting and conv.waiting_since is None:
        return replace(conv, status=status, waiting_since=now)
    if status == "closed":
        return replace(stop_clock(conv), status=status)
    return replace(conv, status=status)
