"""The conversation card, and the customer texts and metadata posted in its thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.timewords import duration
from bot.values import STATUS_LABELS, Conversation
from bot.views.mrkdwn import (
    Blocks,
    button,
    clip,
    customer_label,
    escape,
    escape_keep_mentions,
    overflow_option,
    owner_label,
    slack_time,
)

CARD_TAGS = ("urgent", "billing", "appointment", "followup-needed")


def card_buttons(conv: Conversation) -> list[dict[str, Any]]:
    """Return the card's buttons for the conversation's current owner and status."""
    value = str(conv.number)
    buttons: list[dict[str, Any]] = []
    if conv.owner is None:
        buttons.append(button("Claim", "claim", value, "primary"))
    else:
        buttons += [button("Release", "release", value), button("Hand off", "handoff", value)]
    if conv.status in ("open", "pending"):
        buttons.append(button("Resolve", "resolve", value))
    else:
        buttons.append(button("Reopen", "reopen", value))
    if conv.owner is not None and conv.status != "closed":
        buttons.append(button("Templates", "templates", value))
    buttons.append(button("Contact", "contact", value))
    options = [
        overflow_option("Mark open", f"status:open:{value}")
        if conv.status == "pending"
        else overflow_option("Mark pending", f"status:pending:{value}")
    ]
    for tag in CARD_TAGS:
        if tag in conv.tags:
            options.append(overflow_option(f"Remove tag {tag}", f"untag:{tag}:{value}"))
        else:
            options.append(overflow_option(f"Tag {tag}", f"tag:{tag}:{value}"))
    buttons.append({"type": "overflow", "action_id": "card_menu", "options": options})
    return buttons


def due_phrase(conv: Conversation, due_at: float | None, now: float, tz: str) -> str | None:
    """Return when a reply is due, as the card and lists say it, or None if nothing is awaited."""
    if conv.status == "pending":
        return "Waiting on customer"
    if due_at is None:
        return None
    clock = slack_time(due_at, tz)
    if due_at > now:
        return f"Reply due in {duration(due_at - now)} (by {clock})"
    return f"Reply overdue by {duration(now - due_at)} (was due {clock})"


def away_note(cover: str | None) -> str:
    """Return what the card says beside an owner who is away."""
    return f"away, covered by <@{cover}>" if cover else "away, covered by the queue"


@dataclass(frozen=True)
class CardExtras:
    """What a card shows beyond the conversation itself: the due time and the owner's absence."""

    due: str | None = None
    owner_note: str | None = None


def card_facts(conv: Conversation, extras: CardExtras | None = None) -> list[str]:
    """Return the card's facts: owner, status, due time, queue, tags, collaborators, opt-out."""
    extras = extras or CardExtras()
    owner = owner_label(conv) + (f" ({extras.owner_note})" if extras.owner_note else "")
    facts = [
        f"*Owner:* {owner}",
        f"*Status:* {STATUS_LABELS[conv.status]}",
    ]
    if extras.due:
        facts.append(extras.due)
    facts.append(f"*Queue:* {escape(conv.queue)}")
    if conv.tags:
        facts.append("*Tags:* " + " ".join(f"`{escape(t)}`" for t in conv.tags))
    if conv.collaborators:
        facts.append("*Looped in:* " + ", ".join(f"<@{u}>" for u in conv.collaborators))
    if conv.rating:
        facts.append(f":star: Rated {conv.rating}/5")
    if conv.opted_out:
        facts.append(":no_entry: *Opted out* (texted STOP)")
    return facts


def card(conv: Conversation, extras: CardExtras | None = None) -> tuple[str, Blocks]:
    """Return the conversation card's fallback text and blocks."""
    title = f":speech_balloon: *{conv.ref}* · {customer_label(conv)}"
    facts = clip("  ·  ".join(card_facts(conv, extras)))
    blocks: Blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": clip(title)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": facts}]},
        {"type": "actions", "block_id": f"card-{conv.number}", "elements": card_buttons(conv)},
    ]
    if conv.route_reason:
        why = {
            "type": "mrkdwn",
            "text": clip(f"_Why here:_ {escape_keep_mentions(conv.route_reason)}"),
        }
        blocks.insert(2, {"type": "context", "elements": [why]})
    text = f"{conv.ref} {customer_label(conv)}: {owner_label(conv)}, {STATUS_LABELS[conv.status]}"
    return text, blocks


def moved_card(conv: Conversation, link: str) -> tuple[str, Blocks]:
    """Return what the old card says once its conversation moved to another queue."""
    text = f":arrow_right: {conv.ref} moved to the *{escape(conv.queue)}* queue: <{link}|continue there>."
    return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def erased_card(conv: Conversation) -> tuple[str, Blocks]:
    """Return what a card says once its customer's data was erased: no buttons, nothing of theirs."""
    text = f":wastebasket: {conv.ref} was erased on request; nothing of the customer is kept."
    return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def customer_text(conv: Conversation, body: str, media: list[tuple[str, str]]) -> str:
    """Return a customer's text as posted in the thread, with links to any MMS media."""
    lines = [f"*{customer_label(conv)}:* {escape(body)}" if body else f"*{customer_label(conv)}:*"]
    for index, (url, content_type) in enumerate(media, start=1):
        lines.append(f":paperclip: <{url}|attachment {index}> ({escape(content_type)})")
    return clip("\n".join(lines), 39000)


def opening(conv: Conversation, body: str, media: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Return the attachment that shows a new conversation's first text under its card.

    An attachment, not blocks: refreshing the card replaces its blocks and keeps
    its attachments, so the first text stays without being stored for it.
    """
    text = customer_text(conv, body, media)
    return [
        {
            "color": "#4a90d9",
            "fallback": clip(text, 300),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": clip(text)}}],
        }
    ]


def metadata(kind: str, number: int, job: str) -> dict[str, Any]:
    """Return the message metadata that lets delivery find a post it already made."""
    return {"event_type": f"baton_{kind}", "event_payload": {"conversation": number, "job": job}}


def conversation_in(found: dict[str, Any] | None, kind: str) -> int | None:
    """Return the conversation a message's metadata (as metadata() made it) names for kind."""
    if not found or found.get("event_type") != f"baton_{kind}":
        return None
    number = (found.get("event_payload") or {}).get("conversation")
    return number if isinstance(number, int) and number > 0 else None
