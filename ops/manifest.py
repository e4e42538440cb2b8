"""Build the Slack app manifest that gives Baton every setting README's Slack app table lists."""

from __future__ import annotations

from typing import Any

from config import BatonConfig

# Exactly the bot scopes README's "Slack app" table lists; a scope Baton does
# not use would only make workspace admins hesitate to approve the install.
BOT_SCOPES = (
    "chat:write",
    "channels:history",
    "groups:history",
    "channels:read",
    "groups:read",
    "reactions:write",
    "users:read",
    "commands",
    "im:write",
    "files:write",
)
BOT_EVENTS = ("message.channels", "message.groups", "app_home_opened")
HANDOFF_CALLBACK_ID = "handoff_message"
EVENTS_PATH = "/slack/events"


def events_url(public_url: str) -> str:
    """Return the one URL Slack calls for events, interactivity and the slash command."""
    return public_url.rstrip("/") + EVENTS_PATH


def build_manifest(
    public_url: str, config: BatonConfig, name: str = "Baton", *, socket_mode: bool = False
) -> dict[str, Any]:
    """Return a Slack app manifest (a YAML-able dict) for this deployment."""
    url = events_url(public_url)
    slash_command: dict[str, Any] = {
        "command": config.slash_command,
        "url": url,
        "description": "Text customers and manage SMS conversations",
        "usage_hint": "help | send <phone> <text> | claim <#ref> | mine",
        # Slack then sends people as <@U123|name>, which the command parser expects.
        "should_escape": True,
    }
    event_subscriptions: dict[str, Any] = {"request_url": url, "bot_events": list(BOT_EVENTS)}
    interactivity: dict[str, Any] = {"is_enabled": True, "request_url": url}
    if socket_mode:
        # Over Socket Mode Slack delivers everything on the websocket; a request
        # URL would be ignored at best and rejected by manifest validation at worst.
        del slash_command["url"]
        del event_subscriptions["request_url"]
        del interactivity["request_url"]
    return {
        "display_information": {
            "name": name,
            "description": "Own every customer text from Slack",
            "long_description": (
                "Baton bridges your business SMS number (Twilio) into Slack. Each customer "
                "conversation is one Slack thread under a card in its queue's channel. One "
                "person owns a conversation at a time: they claim it, and from then on only "
                "their thread replies are texted to the customer. Response-time targets are "
                "watched, so nothing sits unanswered."
            ),
            "background_color": "#1d3557",
        },
        "features": {
            # The Messages tab carries Baton's DMs (handoffs, reminders); people need not write there.
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": True,
            },
            "bot_user": {"display_name": name, "always_online": True},
            "shortcuts": [
                {
                    "name": "Hand off conversation",
                    "type": "message",
                    "callback_id": HANDOFF_CALLBACK_ID,
                    "description": "Make someone else the owner of this SMS conversation",
                }
            ],
            "slash_commands": [slash_command],
        },
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": {
            "event_subscriptions": event_subscriptions,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }
