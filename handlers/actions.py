"""Buttons on the conversation card and on Baton's ephemeral notes."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import views
from bot.conversations import Change
from bot.ownership import may_manage
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

    def tell(client: WebClient, body: dict[str, Any], text: str) -> None:
        channel = (body.get("channel") or {}).get("id")
        if channel:
            client.chat_postEphemeral(channel=channel, user=body["user"]["id"], text=text)

    def open_handoff(client: WebClient, body: dict[str, Any], number: int) -> str | None:
        """Open the Hand off modal, or return why this person may not hand the conversation off."""
        conv = conversations.get(number)
        if conv is None:
            return f"There is no conversation #{number}."
        refusal = may_manage(conv, body["user"]["id"], baton.config.admins, "hand off")
        if refusal:
            return refusal
        client.views_open(trigger_id=body["trigger_id"], view=views.handoff_modal(conv))
        return None

    @app.action("handoff")
    def on_handoff(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        number = _number(body)
        refusal = open_handoff(client, body, number) if number is not None else "No conversation."
        if refusal:
            tell(client, body, refusal)

    @app.shortcut("handoff_message")
    def on_handoff_shortcut(
        ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        ack()
        message = body.get("message") or {}
        channel = (body.get("channel") or {}).get("id", "")
        conv = conversations.find_by_thread(
            channel, message.get("thread_ts") or message.get("ts", "")
        )
        refusal = (
            open_handoff(client, body, conv.number)
            if conv
            else "Hand off works on the messages of a Baton conversation thread."
        )
        if refusal:
            respond(text=refusal, response_type="ephemeral")

    @app.action("templates")
    def on_templates(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        conv = conversations.get(_number(body) or 0)
        if conv is None:
            return
        names = list(baton.config.templates)
        client.views_open(
            trigger_id=body["trigger_id"], view=views.templates_modal(conv, names, None)
        )

    @app.action("template_pick")
    def on_template_pick(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        view = body["view"]
        conv = conversations.get(int(view["private_metadata"]))
        if conv is None:
            return
        name = body["actions"][0]["selected_option"]["value"]
        filled = baton.templates.filled(conv, name, body["user"]["id"])
        client.views_update(
            view_id=view["id"],
            hash=view.get("hash"),
            view=views.templates_modal(conv, list(baton.config.templates), filled),
        )

    @app.action("contact")
    def on_contact(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        conv = conversations.get(_number(body) or 0)
        if conv is None:
            return
        contact = baton.contacts.get(conv.customer_number)
        client.views_open(trigger_id=body["trigger_id"], view=views.contact_modal(conv, contact))

    @app.action("card_menu")
    def on_card_menu(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        what, _, rest = body["actions"][0]["selected_option"]["value"].partition(":")
        argument, _, number_text = rest.partition(":")
        user = body["user"]["id"]
        if not number_text.isdigit():
            return
        number = int(number_text)
        if what == "status" and argument in ("open", "pending"):
            result = conversations.set_status(number, user, argument)  # type: ignore[arg-type]
        elif what == "tag":
            result = conversations.tag(number, user, [argument], [])
        elif what == "untag":
            result = conversations.tag(number, user, [], [argument])
        else:
            return
        if not result.ok:
            tell(client, body, result.refused or "")

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
