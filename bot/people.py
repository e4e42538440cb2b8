"""What the domain asks about the people in Slack; ``slack.people`` answers from the Web API."""

from __future__ import annotations

from typing import Protocol

from bot.values import Conversation


class People(Protocol):
    """Names and facts about Slack users and the workspace."""

    def name(self, user_id: str) -> str:
        """Return the name a customer should see for a Slack user."""
        ...

    def why_not_owner(self, user_id: str) -> str | None:
        """Return why this user cannot own conversations (a bot, deactivated), or None."""
        ...

    def team_url(self) -> str:
        """Return the workspace's URL, for links to threads ("" when unknown)."""
        ...

    def in_channel(self, user_id: str, channel: str) -> bool:
        """Tell whether user is a member of channel."""
        ...


class Uploads(Protocol):
    """Files Baton gives a person in Slack."""

    def to_person(self, user: str, content: str, filename: str, title: str) -> None:
        """Upload content as a file into user's DM with Baton."""
        ...


class Threads(Protocol):
    """Which conversation a Slack thread is the card thread of."""

    def conversation(self, channel: str, thread_ts: str, bot_id: str | None) -> Conversation | None:
        """Return the conversation whose card is thread_ts in channel, or None for any other thread."""
        ...
