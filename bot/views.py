"""Everything Baton shows in Slack, built from a conversation: the one rendering place."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.conversations import STATUS_LABELS, Conversation, Event
from sms.numbers import display

Blocks = list[dict[str, Any]]

# Slack's limits: section text 3,000 characters, message text 40,000.
SECTION_LIMIT = 3000


def escape(text: str) -> str:
    """Escape text for Slack so a customer cannot mention @channel or forge links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int = SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape_keep_mentions(text: str) -> str:
    """Escape text for Slack but keep the <@U…> mentions Baton itself wrote into it."""
    parts = re.split(r"(<@[UW][A-Z0-9]+>)", text)
    return "".join(p if re.fullmatch(r"<@[UW][A-Z0-9]+>", p) else escape(p) for p in parts)


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


def _overflow_option(text: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text}, "value": value}


CARD_TAGS = ("urgent", "billing", "appointment", "followup-needed")


def card_buttons(conv: Conversation) -> list[dict[str, Any]]:
    """Return the card's buttons for the conversation's current owner and status."""
    value = str(conv.number)
    buttons: list[dict[str, Any]] = []
    if conv.owner is None:
        buttons.append(_button("Claim", "claim", value, "primary"))
    else:
        buttons += [_button("Release", "release", value), _button("Hand off", "handoff", value)]
    if conv.status in ("open", "pending"):
        buttons.append(_button("Resolve", "resolve", value))
    else:
        buttons.append(_button("Reopen", "reopen", value))
    if conv.owner is not None and conv.status != "closed":
        buttons.append(_button("Templates", "templates", value))
    buttons.append(_button("Contact", "contact", value))
    options = [
        _overflow_option("Mark open", f"status:open:{value}")
        if conv.status == "pending"
        else _overflow_option("Mark pending", f"status:pending:{value}")
    ]
    for tag in CARD_TAGS:
        if tag in conv.tags:
            options.append(_overflow_option(f"Remove tag {tag}", f"untag:{tag}:{value}"))
        else:
            options.append(_overflow_option(f"Tag {tag}", f"tag:{tag}:{value}"))
    buttons.append({"type": "overflow", "action_id": "card_menu", "options": options})
    return buttons


def _span(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


def due_phrase(conv: Conversation, due_at: float | None, now: float, tz: str) -> str | None:
    """Return when a reply is due, as the card and lists say it, or None if nothing is awaited."""
    if conv.status == "pending":
        return "waiting on customer"
    if due_at is None:
        return None
    clock = datetime.fromtimestamp(due_at, ZoneInfo(tz)).strftime("%a %H:%M")
    if due_at > now:
        return f"reply due in {_span(due_at - now)} (by {clock})"
    return f"overdue by {_span(now - due_at)} (was due {clock})"


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
        facts.append(f"*Reply:* {extras.due}")
    facts.append(f"*Queue:* {escape(conv.queue)}")
    if conv.tags:
        facts.append("*Tags:* " + " ".join(f"`{escape(t)}`" for t in conv.tags))
    if conv.collaborators:
        facts.append("*Looped in:* " + ", ".join(f"<@{u}>" for u in conv.collaborators))
    if conv.opted_out:
        facts.append(":no_entry: *Opted out* (texted STOP)")
    return facts


def card(conv: Conversation, extras: CardExtras | None = None) -> tuple[str, Blocks]:
    """Return the conversation card's fallback text and blocks."""
    title = f":speech_balloon: *{conv.ref}* · {customer_label(conv)}"
    facts = _clip("  ·  ".join(card_facts(conv, extras)))
    blocks: Blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(title)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": facts}]},
        {"type": "actions", "block_id": f"card-{conv.number}", "elements": card_buttons(conv)},
    ]
    if conv.route_reason:
        why = {
            "type": "mrkdwn",
            "text": _clip(f"_Why here:_ {escape_keep_mentions(conv.route_reason)}"),
        }
        blocks.insert(2, {"type": "context", "elements": [why]})
    text = f"{conv.ref} {customer_label(conv)}: {owner_label(conv)}, {STATUS_LABELS[conv.status]}"
    return text, blocks


def moved_card(conv: Conversation, link: str) -> tuple[str, Blocks]:
    """Return what the old card says once its conversation moved to another queue."""
    text = f":arrow_right: {conv.ref} moved to the *{escape(conv.queue)}* queue: <{link}|continue there>."
    return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def direct_message(text: str, link: str) -> str:
    """Return a DM from Baton with a link to the conversation's thread."""
    return _clip(f"{text}\n<{link}|Open the conversation>", 39000)


def thread_link(team_url: str, conv: Conversation) -> str:
    """Return a link to the conversation's card, or just its reference if not posted yet."""
    if not conv.card_ts or not team_url:
        return conv.ref
    base = team_url if team_url.endswith("/") else team_url + "/"
    return f"<{base}archives/{conv.channel}/p{conv.card_ts.replace('.', '')}|{conv.ref}>"


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

HANDOFF_MESSAGE = "I'm looping in {name}, who handles {area}. They'll take it from here."
LIST_LIMIT = 15


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
                "text": {"type": "mrkdwn", "text": _clip(f"*{conv.ref}* · {customer_label(conv)}")},
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


@dataclass(frozen=True)
class Listed:
    """A conversation as lists show it: with its reply-due phrase."""

    conversation: Conversation
    due: str | None = None


def _line(item: Listed, team_url: str) -> str:
    conv = item.conversation
    tags = " ".join(f"`{escape(t)}`" for t in conv.tags)
    parts = [thread_link(team_url, conv), customer_label(conv), STATUS_LABELS[conv.status]]
    if conv.owner:
        parts.append(owner_label(conv))
    if item.due:
        parts.append(item.due)
    return " · ".join(parts) + (f" {tags}" if tags else "")


def conversation_list(title: str, convs: list[Listed], team_url: str, empty: str) -> Blocks:
    """Return a titled list of conversations as two blocks, whole lines only, within Slack's limits."""
    lines: list[str] = []
    budget = SECTION_LIMIT - 40  # room for the "…and N more" line
    for item in convs[:LIST_LIMIT]:
        line = f"• {_line(item, team_url)}"
        if sum(len(x) + 1 for x in lines) + len(line) > budget:
            break
        lines.append(line)
    hidden = len(convs) - len(lines)
    if hidden and lines:
        lines.append(f"…and {hidden} more")
    body = "\n".join(lines) if lines else f"_{empty}_"
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{escape(title)}*"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": body}},
    ]


def my_lists(
    mine: list[Listed],
    unclaimed: list[Listed],
    handed: list[Listed],
    team_url: str,
) -> Blocks:
    """Return My conversations, Unclaimed in my queues and Recently handed to me."""
    return [
        *conversation_list("My conversations", mine, team_url, "Nothing is yours right now."),
        {"type": "divider"},
        *conversation_list("Unclaimed in my queues", unclaimed, team_url, "Nothing unclaimed."),
        {"type": "divider"},
        *conversation_list(
            "Recently handed to me", handed, team_url, "Nothing handed to you lately."
        ),
    ]


def home(blocks: Blocks) -> dict[str, Any]:
    """Return the App Home tab around the user's lists."""
    header = {"type": "header", "text": {"type": "plain_text", "text": "Your conversations"}}
    return {"type": "home", "blocks": [header, *blocks]}


EVENT_WORDS = {
    "created": "conversation started in {after}",
    "claimed": "claimed",
    "released": "released",
    "handed_off": "handed off to {to}",
    "looped_in": "looped in {to}",
    "transferred": "moved from {before} to {after}",
    "status": "status {before} → {after}",
    "reopened": "reopened by a customer text",
    "tagged": "tags {note}",
    "opted_out": "customer opted out",
    "opted_in": "customer opted back in",
}


def _event_line(event: Event, zone: ZoneInfo) -> str:
    when = datetime.fromtimestamp(event.at, zone).strftime("%b %d %H:%M")
    who = f"<@{event.who}>" if event.who.startswith(("U", "W")) else event.who
    if event.kind == "handed_off" and not event.after:
        words = "handed back to the queue"
    else:
        words = EVENT_WORDS.get(event.kind, event.kind).format(
            to=f"<@{event.after}>" if event.after else "",
            before=STATUS_LABELS.get(event.before, event.before) or "-",
            after=STATUS_LABELS.get(event.after, event.after),
            note=escape(event.note),
        )
    note = f" — {escape(event.note)}" if event.note and event.kind != "tagged" else ""
    return f"• {when} · {who} · {words}{note}"


def history(conv: Conversation, events: list[Event], tz: str) -> str:
    """Return the conversation's ownership and status events, one line each, newest kept if too many."""
    zone = ZoneInfo(tz)
    header = f"*History of {conv.ref}*"
    lines: list[str] = []
    size = len(header) + 200
    for event in reversed(events):
        line = _event_line(event, zone)
        if size + len(line) + 1 > 39000:
            break
        lines.append(line)
        size += len(line) + 1
    lines.reverse()
    left_out = len(events) - len(lines)
    if left_out:
        header += f"\n_{left_out} earlier changes are not shown here; `export` has them all._"
    return "\n".join([header, *lines])


def outbound_notice(user: str, body: str) -> str:
    """Return the thread line recording a text sent from outside the thread."""
    return _clip(f":outbox_tray: <@{user}> texted the customer:\n{quoted_text(body)}", 39000)


def quoted_text(text: str) -> str:
    """Return text escaped and quoted for Slack, line by line."""
    return "\n".join(f">{escape(line)}" for line in text.splitlines() or [""])


def queue_lists(name: str, unclaimed: list[Listed], overdue: list[Listed], team_url: str) -> Blocks:
    """Return a queue's unclaimed and overdue conversations."""
    return [
        *conversation_list(f"Unclaimed in {name}", unclaimed, team_url, "Nothing unclaimed."),
        *conversation_list(f"Overdue in {name}", overdue, team_url, "Nothing overdue."),
        {"type": "divider"},
    ]


def _author(message: dict[str, str]) -> str:
    if message.get("direction") == "in":
        return "Customer"
    author = message.get("author", "")
    return f"<@{author}>" if author.startswith(("U", "W")) else "Baton (automatic)"


def transfer_summary(conv: Conversation, messages: list[dict[str, str]]) -> str:
    """Return the history summary a transferred conversation carries to its new thread."""
    lines = [f"*Summary of {conv.ref} so far* ({len(messages)} texts):"]
    for message in messages[-8:]:
        who = _author(message)
        body = message.get("body", "").replace("\n", " ")
        lines.append(f"• {who}: {escape(body[:200])}")
    return _clip("\n".join(lines))


def reminder(conv: Conversation, level: int, due_at: float | None, now: float) -> str:
    """Return the reminder for a level: 1 before the target, 2 at it, 3 escalation."""
    who = owner_label(conv)
    late = f"{_span(now - due_at)}" if due_at is not None and now > due_at else ""
    if level == 1:
        soon = f"in {_span(due_at - now)}" if due_at is not None and due_at > now else "soon"
        if conv.owner:
            return f":alarm_clock: A reply to {conv.ref} ({customer_label(conv)}) is due {soon}."
        return f":alarm_clock: {conv.ref} is unclaimed and a reply is due {soon}. Claim it?"
    if level == 2:
        if conv.owner:
            return f":alarm_clock: {who}, a reply to {conv.ref} is due now (also sent to you earlier as a DM)."
        return f":alarm_clock: {conv.ref} is unclaimed and its reply is due now."
    overdue = f"overdue by {late}" if late else "overdue"
    return f":rotating_light: {conv.ref} is {overdue}. Owner: {who}."


def _duty_people(users: tuple[str, ...]) -> str:
    return ", ".join(f"<@{u}>" for u in users) or "nobody"


def shift_summary(queue: str, duty: Any, items: list[Listed], messages: Any) -> str:
    """Return the shift-change summary of a queue's open conversations for the incoming shift."""
    who = _duty_people(duty.users) if duty is not None else "nobody"
    lines = [f":arrows_counterclockwise: *Shift change in {escape(queue)}.* Now on shift: {who}."]
    if not items:
        lines.append("No open conversations.")
    for item in items[:LIST_LIMIT]:
        conv = item.conversation
        texts = messages(conv.number)
        last = texts[-1]["body"].replace("\n", " ")[:80] if texts else ""
        due = f" · {item.due}" if item.due else ""
        lines.append(
            f"• {conv.ref} · {customer_label(conv)} · {owner_label(conv)} · {STATUS_LABELS[conv.status]}{due}"
            + (f" · “{escape(last)}”" if last else "")
        )
    if len(items) > LIST_LIMIT:
        lines.append(f"…and {len(items) - LIST_LIMIT} more")
    return _clip("\n".join(lines), 39000)


def on_call_text(
    queue: str,
    now_users: tuple[str, ...] | None,
    on_call: str | None,
    next_users: tuple[str, ...] | None,
    next_start: str | None,
) -> str:
    """Return who is on shift and on call in a queue, now and next."""
    lines = [f"*{escape(queue)}*"]
    lines.append(f"• On shift now: {_duty_people(now_users) if now_users else 'nobody'}")
    lines.append(f"• On call: {f'<@{on_call}>' if on_call else 'nobody'}")
    if next_users is not None:
        lines.append(f"• Next shift: {_duty_people(next_users)} from {next_start}")
    return "\n".join(lines)


def moment(at: float, tz: str) -> str:
    """Return a moment as people read it, like Tue Nov 17 14:35."""
    return datetime.fromtimestamp(at, ZoneInfo(tz)).strftime("%a %b %d %H:%M")


def contact_text(contact: Any) -> str:
    """Return what Baton keeps about a customer."""
    lines = [f"*{display(contact.phone)}*"]
    lines.append(f"• Name: {escape(contact.name) if contact.name else '—'}")
    lines.append(f"• Account owner: {f'<@{contact.owner}>' if contact.owner else '—'}")
    lines.append(f"• Notes: {escape(contact.notes) if contact.notes else '—'}")
    return "\n".join(lines)


def transcript(
    conv: Conversation, messages: list[dict[str, str]], events: list[Event], tz: str
) -> str:
    """Return a conversation as a plain-text transcript, texts and ownership changes in time order."""
    zone = ZoneInfo(tz)
    lines = [
        f"Conversation {conv.ref} with {display(conv.customer_number)} on {display(conv.business_number)}",
        "",
    ]
    entries: list[tuple[float, str]] = []
    for message in messages:
        who = (
            "Customer"
            if message.get("direction") == "in"
            else f"Team ({message.get('author', '')})"
        )
        entries.append((float(message.get("at", 0)), f"{who}: {message.get('body', '')}"))
    for event in events:
        entries.append(
            (
                event.at,
                f"[{event.kind}] by {event.who} {event.before}→{event.after} {event.note}".rstrip(),
            )
        )
    for at, line in sorted(entries, key=lambda e: e[0]):
        lines.append(f"{datetime.fromtimestamp(at, zone):%Y-%m-%d %H:%M:%S} {line}")
    return "\n".join(lines) + "\n"


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
