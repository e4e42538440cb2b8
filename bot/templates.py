"""Reply templates: fill placeholders from the conversation, and never send one left unfilled."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bot import response
from bot.calendar import BusinessCalendar
from bot.clock import Clock
from bot.contacts import Contact
from bot.timewords import duration, local_time
from bot.values import Conversation
from config import BatonConfig
from config.templates import PLACEHOLDER
from sms.segments import Segments, count_segments


@dataclass(frozen=True)
class Filled:
    """A template with what could be filled in, what could not, and what it costs to send."""

    name: str
    text: str
    missing: tuple[str, ...]
    segments: Segments

    @property
    def ready(self) -> bool:
        """Tell whether every placeholder was filled."""
        return not self.missing


def _timeframe(seconds: int) -> str:
    # A promise to the customer: rounded up, never shorter than the target.
    return f"within {duration(seconds, round_up=True)}"


def values_for(
    conv: Conversation,
    contact: Contact,
    agent_name: str | None,
    config: BatonConfig,
    calendar: BusinessCalendar,
    now: float,
) -> dict[str, str | None]:
    """Return each placeholder's value for this conversation (None when unknown)."""
    opens = calendar.next_open(now)
    opens_at = local_time(opens, config.business.timezone) if opens is not None else None
    return {
        "first_name": contact.first_name,
        "agent_name": agent_name,
        "team": conv.queue,
        "business": config.business.name,
        "timeframe": _timeframe(response.target_seconds(conv, config.targets_for(conv.queue))),
        "opens_at": opens_at,
    }


def fill(name: str, template: str, values: dict[str, str | None]) -> Filled:
    """Fill template; placeholders without a value stay visible and are listed as missing."""
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        if value:
            return value
        missing.append(match.group(1))
        return match.group(0)

    text = PLACEHOLDER.sub(replace, template)
    return Filled(name, text, tuple(dict.fromkeys(missing)), count_segments(text))


def unfilled(text: str) -> list[str]:
    """Return the placeholders still in a text about to be sent."""
    return PLACEHOLDER.findall(text)


# What an automatic text says where a value is unknown: it is sent with no one to fix it.
NEUTRAL = {"first_name": "there", "agent_name": "our team", "team": "our team", "opens_at": "soon"}


class Templates:
    """Fill the config's reply templates for a conversation."""

    def __init__(
        self,
        config: BatonConfig,
        calendar: BusinessCalendar,
        contact_of: Callable[[str], Contact],
        name_of: Callable[[str], str],
        clock: Clock,
    ) -> None:
        self.config = config
        self.calendar = calendar
        self.contact_of = contact_of
        self.name_of = name_of
        self.clock = clock

    def filled(self, conv: Conversation, name: str, user: str) -> Filled:
        """Return template `name` filled for conv, as sent by user (or the owner)."""
        agent = self.name_of(conv.owner or user)
        values = values_for(
            conv,
            self.contact_of(conv.customer_number),
            agent,
            self.config,
            self.calendar,
            self.clock.now(),
        )
        return fill(name, self.config.templates[name], values)

    def automatic(
        self, conv: Conversation, name: str, now: float, template: str | None = None
    ) -> str:
        """Return template `name` filled for a text Baton sends by itself; unknown values read neutrally.

        template: its text, when it is not one of the config's `templates` (the CSAT texts).
        """
        template = self.config.templates[name] if template is None else template
        wanted = set(PLACEHOLDER.findall(template))
        # Only what the template uses is looked up: this runs while Twilio waits.
        contact = self.contact_of(conv.customer_number) if "first_name" in wanted else None
        agent = self.name_of(conv.owner) if "agent_name" in wanted and conv.owner else None
        values = values_for(
            conv, contact or Contact(conv.customer_number), agent, self.config, self.calendar, now
        )
        known = {key: value for key, value in values.items() if value}
        return fill(name, template, {**NEUTRAL, **known}).text
