"""Buttons on the conversation card and on Baton's ephemeral notes."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.conversations import Change
from bot.service import Baton

logger = logging.getLogger(__name__)


def _number(body: dict[str, Any]) -> int | None:
    value = body["actions"][0].get("value", "")
    return int(value) if value.isdigit() else None


def register(app: App, baton: Baton) -> None:
    """Register the card buttons: Claim, Release, Resolve, Reopen, and Claim & send."""
    conversations = baton.conversations

    def card_button(action_id: str, change: Callable[[int, str], Change]) -> None:
        @app.action(action_id)
        def on_click(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
            ack()
            user = body["user"]["id"]
            number = _number(body)
            result = change(number, user) if number is not None else None
            if result is None or not result.ok:
                refusal = result.refused if result else "That button does not name a conversation."
                channel = (body.get("channel") or {}).get("id")
                if channel:
                    client.chat_postEphemeral(channel=channel, user=user, text=refusal)
                logger.info("%s refused for %s: %s", action_id, user, refusal)

    card_button("claim", conversations.claim)
    card_button("release", conversations.release)
    card_button("resolve", lambda n, u: conversations.set_status(n, u, "closed"))
    card_button("reopen", lambda n, u: conversations.set_status(n, u, "open"))

    @app.action("claim_and_send")
    def on_claim_and_send(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        try:
            held = json.loads(body["actions"][0]["value"])
            number, ts = int(held["conversation"]), str(held["ts"])
        except (ValueError, KeyError, TypeError):
            respond(text="That button does not name a message.", replace_original=True)
            return
        refusal, result = baton.replies.claim_and_send(number, ts, body["user"]["id"])
        if refusal:
            respond(text=f"Not sent: {refusal}", replace_original=True)
        elif result and result.outcome == "sent":
            respond(
                text=f"You claimed #{number} and your message was texted.", replace_original=True
            )
        elif result:
            respond(
                text=f"You claimed #{number}, but the message was not texted: {result.reason}.",
                replace_original=True,
            )
