"""Who gets a new conversation: the queue by keyword, then the account owner, the shift, or the queue.

Pure functions of the text, the contact, the config, the time and people's
availability; the reason they give is recorded and shown on the card.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from bot.calendar import BusinessCalendar
from bot.rota import on_duty
from config import BatonConfig, Queue


@dataclass(frozen=True)
class Route:
    """The queue a first text goes to, and the rule that sent it there."""

    queue: Queue
    rule: str | None = None

    @property
    def reason(self) -> str:
        """Say why the text went to this queue."""
        if self.rule is None:
            return "no keyword matched, so the default queue"
        return f"keyword {self.rule} → {self.queue.name}"


@dataclass(frozen=True)
class Assignment:
    """Where a new conversation goes and who owns it, with the reason people see."""

    route: Route
    owner: str | None
    how: str  # "account", "shift" or "queue"
    reason: str


@cache
def _pattern(rule: str) -> re.Pattern[str]:
    if len(rule) > 2 and rule.startswith("/") and rule.endswith("/"):
        return re.compile(rule[1:-1], re.IGNORECASE)
    # Whole words, any case, with simple plurals (quote, quotes; estimate, estimates; box, boxes).
    return re.compile(rf"\b{re.escape(rule)}(?:s|es)?\b", re.IGNORECASE)


def pick_on_duty(
    users: tuple[str, ...], is_away: Callable[[str], bool], load: Callable[[str], int]
) -> str | None:
    """Return who on a shift takes the next conversation: present, least loaded, rota order."""
    present = [u for u in users if not is_away(u)]
    return min(present, key=lambda u: (load(u), users.index(u))) if present else None


def route(text: str, config: BatonConfig) -> Route:
    """Return the first queue (in file order) with a rule matching text, else the default."""
    for queue in config.queues:
        for rule in queue.keywords:
            if _pattern(rule).search(text or ""):
                return Route(queue, rule)
    return Route(config.default_queue)


def assign(
    text: str,
    config: BatonConfig,
    calendar: BusinessCalendar,
    at: float,
    *,
    account_owner: str | None,
    is_away: Callable[[str], bool],
    load: Callable[[str], int],
) -> Assignment:
    """Return the queue and owner for a new conversation, and why."""
    where = route(text, config)
    fallback = ""
    if account_owner:
        if is_away(account_owner):
            fallback = f"account owner <@{account_owner}> is away; "
        elif not calendar.is_open(at):
            fallback = f"account owner <@{account_owner}> is off hours; "
        else:
            return Assignment(where, account_owner, "account", f"account owner <@{account_owner}>")
    duty = on_duty(where.queue, at, config.business.timezone)
    if duty is not None:
        owner = pick_on_duty(duty.users, is_away, load)
        if owner:
            return Assignment(where, owner, "shift", f"{fallback}on shift")
        fallback += "everyone on shift is away; "
    elif where.queue.shifts:
        fallback += "no one is on shift; "
    return Assignment(where, None, "queue", f"{fallback}unclaimed")


class Assigner:
    """Assign new conversations from live data: contacts, away status and current load."""

    def __init__(
        self,
        config: BatonConfig,
        calendar: BusinessCalendar,
        *,
        is_away: Callable[[str], bool],
        owners: Callable[[], list[str | None]],
    ) -> None:
        self.config = config
        self.calendar = calendar
        self.is_away = is_away
        self.owners = owners

    def __call__(self, body: str, account_owner: str | None, at: float) -> Assignment:
        """Return the assignment of a new conversation whose first text is body.

        account_owner is the owner on file for the customer (their contact, read with the
        conversation's number), or None.
        """
        counts: Counter[str | None] | None = None

        def load(user: str) -> int:
            # Read who owns what once, and only when a shift needs to choose.
            nonlocal counts
            if counts is None:
                counts = Counter(self.owners())
            return counts[user]

        return assign(
            body,
            self.config,
            self.calendar,
            at,
            account_owner=account_owner,
            is_away=self.is_away,
            load=load,
        )
