"""The modals: Hand off, Templates, Contact."""

from __future__ import annotations

from typing import Any

from bot.values import Conversation
from bot.views.mrkdwn import Blocks, clip, customer_label, escape
from sms.numbers import display

HANDOFF_MESSAGE = "I'm looping in {name}, who handles {area}. They'll take it from here."


def handoff_modal(conv: Conversation) -> dict[str, Any]:
    """Return the Hand off modal: new owner, a note for them, an optional text to the customer."""
    return {
        "type": "modal",
        "callback_id": "handoff",
        "private_metadata": str(conv.number),
        "title": {"type": "plain_text", "text": f"Hand off {conv.ref}"[:24]},
        "submit": {"type": "plain_text", "text": "Hand off"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": clip(f"*{conv.ref}* · {customer_label(conv)}")},
            },
            {
                "type": "input",
                "block_id": "owner",
                "label": {"type": "plain_text", "text": "New owner"},
                "element": {"type": "users_select", "action_id": "owner"},
            },
            {
                "type": "input",
                "block_id": "note",
                "label": {"type": "plain_text", "text": "Note for them (stays in Slack)"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "note",
                    "multiline": True,
                    "max_length": 2900,
                },
            },
            {
                "type": "input",
                "block_id": "customer",
                "optional": True,
                "label": {"type": "plain_text", "text": "Message to the customer (optional)"},
                "hint": {"type": "plain_text", "text": "{name} becomes the new owner's name."},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "message",
                    "multiline": True,
                    "max_length": 1600,
                    "initial_value": HANDOFF_MESSAGE.replace("{area}", conv.queue),
                },
            },
        ],
    }


def templates_modal(conv: Conversation, names: list[str], filled: Any | None) -> dict[str, Any]:
    """Return the Templates modal: pick one, see it filled in, edit, send."""
    options = [{"text": {"type": "plain_text", "text": n[:75]}, "value": n} for n in names[:100]]
    pick: dict[str, Any] = {
        "type": "input",
        "block_id": "template",
        "dispatch_action": True,
        "label": {"type": "plain_text", "text": "Template"},
        "element": {"type": "static_select", "action_id": "template_pick", "options": options},
    }
    blocks: Blocks = [pick]
    if filled is not None:
        pick["element"]["initial_option"] = next(o for o in options if o["value"] == filled.name)
        segments = filled.segments
        notes = [f"{segments.count} segment(s), {segments.encoding}, {segments.units} characters"]
        if filled.missing:
            missing = ", ".join("{" + m + "}" for m in filled.missing)
            notes.insert(0, f":warning: No value for {missing}: replace it before sending.")
        blocks += [
            {
                "type": "input",
                "block_id": f"text-{filled.name}",
                "label": {"type": "plain_text", "text": "Text to send"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "text",
                    "multiline": True,
                    "max_length": 1600,
                    "initial_value": filled.text[:1600],
                },
            },
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": escape(" · ".join(notes))}],
            },
        ]
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": "templates",
        "private_metadata": str(conv.number),
        "title": {"type": "plain_text", "text": f"Reply to {conv.ref}"[:24]},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }
    if filled is not None:
        view["submit"] = {"type": "plain_text", "text": "Send"}
    return view


def contact_modal(conv: Conversation, contact: Any) -> dict[str, Any]:
    """Return the Contact modal: the customer's name, account owner and notes."""
    owner: dict[str, Any] = {"type": "users_select", "action_id": "owner"}
    if contact.owner:
        owner["initial_user"] = contact.owner
    name: dict[str, Any] = {"type": "plain_text_input", "action_id": "name", "max_length": 80}
    if contact.name:
        name["initial_value"] = contact.name[:80]
    notes: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "notes",
        "multiline": True,
        "max_length": 2000,
    }
    if contact.notes:
        notes["initial_value"] = contact.notes[:2000]
    return {
        "type": "modal",
        "callback_id": "contact",
        "private_metadata": str(conv.number),
        "title": {"type": "plain_text", "text": "Contact"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{display(contact.phone)}*"}},
            {
                "type": "input",
                "block_id": "name",
                "optional": True,
                "label": {"type": "plain_text", "text": "Name"},
                "element": name,
            },
            {
                "type": "input",
                "block_id": "owner",
                "optional": True,
                "label": {"type": "plain_text", "text": "Account owner"},
                "element": owner,
            },
            {
                "type": "input",
                "block_id": "notes",
                "optional": True,
                "label": {"type": "plain_text", "text": "Notes"},
                "element": notes,
            },
        ],
    }
