"""Everything Baton shows in Slack, built from a conversation: the one rendering place."""

from __future__ import annotations

import json
from typing import Any

from bot.conversations import STATUS_LABELS, Conversation
from sms.numbers import display

Blocks = list[dict[str, Any]]

# Slack's limits: section text 3,000 characters, message text 40,000.
SECTION_LIMIT = 3000


def escape(text: str) -> str:
    """Escape text for Slack so a customer cannot mention @channel or forge links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int = SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def customer_label(conv: Conversation) -> str:
    """Return the customer's name and number as people read them."""
    number = display(conv.customer_number)
    return f"{escape(conv.customer_name)} ({number})" if conv.customer_name else number


def owner_label(conv: Conversation) -> str:
    """Return the owner as a Slack mention, or Unclaimed."""
    return f"<@{conv.owner}>" if conv.owner else "Unclaimed"


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def card_buttons(conv: Conversation) -> list[dict[str, Any]]:
    """Return the card's buttons for the conversation's current owner and status."""
    value = str(conv.number)
    buttons = []
    if conv.owner is None:
        buttons.append(_button("Claim", "claim", value, "primary"))
    else:
        buttons.append(_button("Release", "release", value))
    if conv.status in ("open", "pending"):
        buttons.append(_button("Resolve", "resolve", value))
    else:
        buttons.append(_button("Reopen", "reopen", value))
    return buttons


def card(conv: Conversation) -> tuple[str, Blocks]:
    """Return the conversation card's fallback text and blocks."""
    facts = [
        f"*Owner:* {owner_label(conv)}",
        f"*Status:* {STATUS_LABELS[conv.status]}",
        f"*Queue:* {escape(conv.queue)}",
    ]
    if conv.opted_out:
        facts.append(":no_entry: *Opted out* (texted STOP)")
    title = f":speech_balloon: *{conv.ref}* · {customer_label(conv)}"
    blocks: Blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(title)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "  ·  ".join(facts)}]},
        {"type": "actions", "block_id": f"card-{conv.number}", "elements": card_buttons(conv)},
    ]
    text = f"{conv.ref} {customer_label(conv)}: {owner_label(conv)}, {STATUS_LABELS[conv.status]}"
    return text, blocks


def customer_text(conv: Conversation, body: str, media: list[tuple[str, str]]) -> str:
    """Return a customer's text as posted in the thread, with links to any MMS media."""
    lines = [f"*{customer_label(conv)}:* {escape(body)}" if body else f"*{customer_label(conv)}:*"]
    for index, (url, content_type) in enumerate(media, start=1):
        lines.append(f":paperclip: <{url}|attachment {index}> ({escape(content_type)})")
    return _clip("\n".join(lines), 39000)


def metadata(kind: str, number: int, job: str) -> dict[str, Any]:
    """Return the message metadata that lets delivery find a post it already made."""
    return {"event_type": f"baton_{kind}", "event_payload": {"conversation": number, "job": job}}


def not_owner_note(conv: Conversation) -> str:
    """Explain to a non-owner why their thread message was not texted."""
    return (
        f"Not texted: {owner_label(conv)} owns {conv.ref}, so your message stays in Slack "
        "as team discussion. Ask them to hand it off if you should reply."
    )


def unclaimed_note(conv: Conversation, held: str) -> tuple[str, Blocks]:
    """Offer to claim an unclaimed conversation and send the held message."""
    text = (
        f"Not texted: {conv.ref} is unclaimed, so your message stays in Slack. "
        "Claim it to text the customer this message."
    )
    blocks: Blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {
            "type": "actions",
            "elements": [_button("Claim & send", "claim_and_send", held, "primary")],
        },
    ]
    return text, blocks


def held_value(number: int, channel: str, ts: str) -> str:
    """Return the button value naming a held thread message."""
    return json.dumps({"conversation": number, "channel": channel, "ts": ts})


FILE_NOT_SENT = "The attached file was not texted: Baton sends text only. The text part was sent."
