"""Modal submissions: the Hand off form."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, App

from bot.ownership import may_text
from bot.service import Baton
from sms.segments import MAX_BODY

logger = logging.getLogger(__name__)

PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


def register(app: App, baton: Baton) -> None:
    """Register the modals' submissions: Hand off, Templates, Contact."""

    @app.view("templates")
    def on_template_send(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        conv = baton.conversations.get(int(view["private_metadata"]))
        block = next((b for b in view["state"]["values"] if b.startswith("text-")), None)
        if conv is None or block is None:
            ack(response_action="errors", errors={"template": "Pick a template first."})
            return
        text = (view["state"]["values"][block]["text"].get("value") or "").strip()
        left = PLACEHOLDER.findall(text)
        if not text:
            ack(response_action="errors", errors={block: "Nothing to send."})
            return
        if left:
            ack(
                response_action="errors",
                errors={block: f"Replace {left[0]} before sending; it would be texted as typed."},
            )
            return
        if not may_text(conv, user, baton.config.reply_policy):
            ack(
                response_action="errors",
                errors={block: f"Only the owner of {conv.ref} can text the customer."},
            )
            return
        ack()
        baton.replies.text_customer(conv, user, text)

    @app.view("contact")
    def on_contact_save(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = view["state"]["values"]
        conv = baton.conversations.get(int(view["private_metadata"]))
        owner = values["owner"]["owner"].get("selected_user") or ""
        problem = baton.people.why_not_owner(owner) if owner else None
        if conv is None or problem:
            ack(
                response_action="errors",
                errors={"owner": (problem or "").replace(f"<@{owner}>", "That person")},
            )
            return
        ack()
        name = (values["name"]["name"].get("value") or "").strip()
        notes = (values["notes"]["notes"].get("value") or "").strip()
        baton.contacts.update(conv.customer_number, owner=owner, notes=notes)
        baton.customers.rename(conv.customer_number, body["user"]["id"], name or None)

    @app.view("handoff")
    def on_handoff(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = view["state"]["values"]
        user = body["user"]["id"]
        number = int(view["private_metadata"])
        to = values["owner"]["owner"].get("selected_user") or ""
        note = values["note"]["note"].get("value") or ""
        message = (values.get("customer", {}).get("message", {}).get("value") or "").strip()
        errors: dict[str, str] = {}
        problem = baton.people.why_not_owner(to) if to else "Pick the new owner."
        if problem:
            errors["owner"] = problem.replace(f"<@{to}>", "That person")
        if not note.strip():
            errors["note"] = "Write a note for the new owner: what they need to know."
        if message:
            message = message.replace("{name}", baton.people.name(to) if to else "{name}")
            left = PLACEHOLDER.findall(message)
            if left:
                errors["customer"] = (
                    f"Replace {left[0]} with words, or the customer gets it as typed."
                )
            elif len(message) > MAX_BODY:
                errors["customer"] = f"A text can be at most {MAX_BODY:,} characters."
        if errors:
            ack(response_action="errors", errors=errors)
            return
        change = baton.conversations.hand_off(number, user, to, note)
        if not change.ok:
            ack(response_action="errors", errors={"owner": change.refused or "Not handed off."})
            return
        ack()
        if message and change.conversation is not None:
            baton.replies.text_customer(change.conversation, user, message)
