"""A subcommand as a person typed it (Ask), how one says they typed it wrong (Mistake), and the people it names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot import views
from bot.change import Refused
from bot.service import Baton

# A person named as Slack writes a mention: <@U012AB3CD> or <@U012AB3CD|name>.
MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")

# What a subcommand answers: a sentence, or a message with blocks.
Answer = str | dict[str, Any]


@dataclass(frozen=True)
class Ask:
    """One subcommand as a person typed it, and the services that answer it."""

    baton: Baton
    user: str
    text: str  # what follows the subcommand's name, stripped
    command: str  # the slash command as configured, like /sms
    usage: views.Usage

    @property
    def words(self) -> list[str]:
        """Return the text's words."""
        return self.text.split()

    @property
    def region(self) -> str:
        """Return the country whose numbers may be typed without +."""
        return self.baton.config.business.country

    @property
    def form(self) -> str:
        """Return how this subcommand is typed, for the mistakes that show it."""
        return views.correct_form(self.command, self.usage)


class Mistake(Exception):
    """The person typed the command wrong; the message shows the correct form."""


def person(token: str, ask: Ask) -> str:
    """Return the Slack user a mention names, or say the word is not one."""
    match = MENTION.match(token)
    if not match:
        raise Mistake(views.not_a_person(token, ask.form))
    return match.group(1)


def may_own(ask: Ask, user: str) -> None:
    """Refuse when user may not own a conversation (a bot, someone deactivated)."""
    problem = ask.baton.people.why_not_owner(user)
    if problem:
        raise Refused(problem)
