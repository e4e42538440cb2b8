"""Adapters from Slack and Twilio into Baton's domain."""

from __future__ import annotations

from slack_bolt import App

from bot.service import Baton
from handlers import actions, commands, home, messages, views


def register(app: App, baton: Baton) -> None:
    """Register every Slack listener on the Bolt app."""
    messages.register(app, baton)
    actions.register(app, baton)
    commands.register(app, baton)
    views.register(app, baton)
    home.register(app, baton)
