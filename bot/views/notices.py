"""Lines Baton posts in threads, channels and DMs: notes, reminders, summaries, history."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.timewords import duration
from bot.values import AUTOMATIC, STATUS_LABELS, Conversation, Event
from bot.views.lists import LIST_LIMIT, Listed
from bot.views.mrkdwn import (
    Blocks,
    button,
    clip,
    customer_label,
    escape,
    owner_label,
    quoted_text,
    slack_time,
)
from sms.numbers import display


def direct_message(text: str, link: str) -> str:
    """Return a DM from Baton with a link to the conversation's thread."""
    return clip(f"{text}\n<{link}|Open the conversation>", 39000)


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
            "elements": [button("Claim & send", "claim_and_send", held, "primary")],
        },
    ]
    return text, blocks


ERASED_THREAD = (
    "Not texted: this customer's data was erased on request, so Baton texts them nothing "
    "from this thread."
)


def refused_text(text: str, number: int, ts: str, attempt: str) -> tuple[str, Blocks]:
    """Return a thread note that Twilio refused a text, with a Retry button."""
    value = json.dumps({"conversation": number, "ts": ts, "attempt": attempt})
    blocks: Blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "actions", "elements": [button("Retry", "retry_text", value)]},
    ]
    return text, blocks


def held_value(number: int, channel: str, ts: str) -> str:
    """Return the button value naming a held thread message."""
    return json.dumps({"conversation": number, "channel": channel, "ts": ts})


FILE_NOT_SENT = "The attached file was not texted: Baton sends text only. The text part was sent."


def outbound_notice(user: str, body: str) -> str:
    """Return the thread line recording a text sent from outside the thread."""
    if user == AUTOMATIC:
        return clip(
            f":robot_face: Baton texted the customer (automatic):\n{quoted_text(body)}", 39000
        )
    return clip(f":outbox_tray: <@{user}> texted the customer:\n{quoted_text(body)}", 39000)


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
    return clip("\n".join(lines))


def reminder(conv: Conversation, level: int, due_at: float | None, now: float) -> str:
    """Return the reminder for a level: 1 before the target, 2 at it, 3 escalation."""
    who = owner_label(conv)
    late = f"{duration(now - due_at)}" if due_at is not None and now > due_at else ""
    if level == 1:
        soon = f"in {duration(due_at - now)}" if due_at is not None and due_at > now else "soon"
        if conv.owner:
            return f":alarm_clock: A reply to {conv.ref} ({customer_label(conv)}) is due {soon}."
        return f":alarm_clock: {conv.ref} is unclaimed and a reply is due {soon}. Claim it?"
    if level == 2:
        if conv.owner:
            return f":alarm_clock: {who}, a reply to {conv.ref} is due now (also sent to you earlier as a DM)."
        return f":alarm_clock: {conv.ref} is unclaimed and its reply is due now."
    overdue = f"overdue by {late}" if late else "overdue"
    return f":rotating_light: {conv.ref} is {overdue}. Owner: {who}."


def claim_prompt_answered(conv: Conversation, link: str) -> str:
    """Return what a channel post that asked someone to claim the conversation says once answered."""
    if conv.owner and conv.assigned_by == "claim":
        done = f"<@{conv.owner}> claimed {conv.ref}."
    elif conv.owner:
        done = f"{conv.ref} is owned by <@{conv.owner}> now."
    else:
        done = f"{conv.ref} was closed unclaimed."
    return f":white_check_mark: {done} <{link}|Open the conversation>"


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
    return clip("\n".join(lines), 39000)


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


def contact_text(contact: Any) -> str:
    """Return what Baton keeps about a customer."""
    lines = [f"*{display(contact.phone)}*"]
    lines.append(f"• Name: {escape(contact.name) if contact.name else '—'}")
    lines.append(f"• Account owner: {f'<@{contact.owner}>' if contact.owner else '—'}")
    lines.append(f"• Notes: {escape(contact.notes) if contact.notes else '—'}")
    return "\n".join(lines)


EVENT_WORDS = {
    "created": "started the conversation in {after}",
    "claimed": "claimed",
    "released": "released",
    "handed_off": "handed off to {to}",
    "looped_in": "looped in {to}",
    "transferred": "moved it from {before} to {after}",
    "status": "changed the status from {before} to {after}",
    "reopened": "reopened it with a text",
    "tagged": "changed the tags: {note}",
    "opted_out": "opted out",
    "opted_in": "opted back in",
    "assigned": "assigned to {to}",
    "forgotten": "erased the customer's data",
    "expired": "erased the texts and media after the retention period",
}
# Who did it, when it was not a person in Slack.
ACTORS = {"customer": "Customer", "baton": "Baton", "carrier": "The carrier"}


def _event_line(event: Event, tz: str) -> str:
    when = slack_time(event.at, tz)
    who = f"<@{event.who}>" if event.who.startswith(("U", "W")) else event.who
    if event.kind == "handed_off" and not event.after:
        words = "handed back to the queue"
    elif event.kind == "rated":
        # who is the owner whose resolution was rated; the customer gave it.
        about = f"<@{event.who}>'s" if event.who else "the unclaimed"
        who, words = "customer", f"rated {about} resolution {event.after}/5"
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
    header = f"*History of {conv.ref}*"
    lines: list[str] = []
    size = len(header) + 200
    for event in reversed(events):
        line = _event_line(event, tz)
        if size + len(line) + 1 > 39000:
            break
        lines.append(line)
        size += len(line) + 1
    lines.reverse()
    left_out = len(events) - len(lines)
    if left_out:
        header += f"\n_{left_out} earlier changes are not shown here; `export` has them all._"
    return "\n".join([header, *lines])


def _plain_person(who: str, name_of: Callable[[str], str]) -> str:
    return name_of(who) if who.startswith(("U", "W")) else ACTORS.get(who, who)


def _plain_event(event: Event, name_of: Callable[[str], str]) -> str:
    """Return an ownership or status event in plain words, people by name."""
    if event.kind == "handed_off" and not event.after:
        words = "handed back to the queue"
    else:
        words = EVENT_WORDS.get(event.kind, event.kind.replace("_", " ")).format(
            to=_plain_person(event.after, name_of) if event.after else "",
            before=STATUS_LABELS.get(event.before, event.before) or "-",
            after=STATUS_LABELS.get(event.after, event.after),
            note=event.note,
        )
    note = f" ({event.note})" if event.note and event.kind != "tagged" else ""
    return f"{_plain_person(event.who, name_of)} {words}{note}"


def transcript(
    conv: Conversation,
    messages: list[dict[str, str]],
    events: list[Event],
    tz: str,
    name_of: Callable[[str], str],
) -> str:
    """Return a conversation as a plain-text transcript, texts and ownership changes in time order.

    People are named (name_of gives a Slack user's name) and times are in the
    business's time zone, named on every line.
    """
    zone = ZoneInfo(tz)
    customer = (
        f"{conv.customer_name} ({display(conv.customer_number)})"
        if conv.customer_name
        else display(conv.customer_number)
    )
    lines = [
        f"Conversation {conv.ref} with {customer} on {display(conv.business_number)}",
        f"Times are in the business's time zone, {tz}.",
        "",
    ]
    entries: list[tuple[float, str]] = []
    for message in messages:
        author = message.get("author", "")
        if message.get("direction") == "in":
            who = "Customer"
        elif author.startswith(("U", "W")):
            who = name_of(author)
        else:
            who = "Baton (automatic)"
        entries.append((float(message.get("at", 0)), f"{who}: {message.get('body', '')}"))
    for event in events:
        entries.append((event.at, f"* {_plain_event(event, name_of)}"))
    for at, line in sorted(entries, key=lambda e: e[0]):
        lines.append(f"{datetime.fromtimestamp(at, zone):%Y-%m-%d %H:%M:%S %Z} {line}")
    return "\n".join(lines) + "\n"


# Lines about ownership and status changes, in the conversation's thread.


def claimed(conv: Conversation, user: str) -> str:
    """Say who claimed the conversation."""
    return f"<@{user}> claimed {conv.ref}."


def released(conv: Conversation, user: str) -> str:
    """Say who gave the conversation back to its queue (and whose it was, if not theirs)."""
    by = "" if conv.owner == user else f" (owner was <@{conv.owner}>)"
    return f"<@{user}> released {conv.ref} back to the {conv.queue} queue{by}."


STATUS_WORDS = {
    "open": "reopened {ref}",
    "pending": "marked {ref} pending",
    "closed": "resolved {ref}",
}


def status_set(conv: Conversation, user: str, status: str) -> str:
    """Say who changed the status."""
    return f"<@{user}> {STATUS_WORDS[status].format(ref=conv.ref)}."


def handed_off(conv: Conversation, user: str, to: str, note: str) -> str:
    """Say who handed the conversation to whom, quoting their note."""
    return f":handshake: <@{user}> handed {conv.ref} to <@{to}>:\n{quoted_text(note)}"


def handed_you(conv: Conversation, user: str, note: str) -> str:
    """Tell the new owner, in a DM, who handed them the conversation and why."""
    return f"<@{user}> handed you {conv.ref}: {note}"


def shift_moved(conv: Conversation, to: str | None) -> str:
    """Say where a shift change moved the conversation."""
    if to:
        return f":arrows_counterclockwise: Shift change: {conv.ref} moves to <@{to}>."
    return (
        f":arrows_counterclockwise: Shift change: no one is on shift, so {conv.ref} goes back "
        f"to the {conv.queue} queue."
    )


def shift_yours(conv: Conversation) -> str:
    """Tell the incoming shift's person, in a DM, that the conversation is theirs."""
    return f"Shift change: {conv.ref} is yours now."


def erased(user: str) -> str:
    """Say who erased the customer's data."""
    return f":wastebasket: <@{user}> erased this customer's data from Baton."


def looped_in(conv: Conversation, user: str, collaborator: str) -> str:
    """Say who looped whom in."""
    return f"<@{user}> looped in <@{collaborator}> on {conv.ref}."


def looped_you_in(conv: Conversation, user: str) -> str:
    """Tell a collaborator, in a DM, who looped them in."""
    return f"<@{user}> looped you in on {conv.ref}."


def moved_here(conv: Conversation, user: str, summary: str) -> str:
    """Say, in the new thread, who moved the conversation here and from where."""
    return f"<@{user}> moved {conv.ref} here from the {conv.queue} queue.\n{summary}"


def assigned_you(conv: Conversation, reason: str) -> str:
    """Tell the person a new conversation was assigned to, in a DM, and why."""
    return f"{conv.ref} in {conv.queue} is yours: {reason}."


OPTED_OUT = (
    ":no_entry: The customer opted out (texted a stop word). Nothing will be texted to them "
    "until they text START."
)
OPTED_IN = ":white_check_mark: The customer opted back in; texts can be sent again."


def urgent_after_hours(conv: Conversation) -> str:
    """Alert the queue that an urgent text came while closed."""
    return f":rotating_light: Urgent text after hours in {conv.ref}."


def on_call(alert: str) -> str:
    """Turn an alert into the DM the person on call gets."""
    return f"{alert} You are on call."


def auto_replied(reply: str) -> str:
    """Record in the thread the automatic after-hours reply Baton texted."""
    return f":crescent_moon: After hours: Baton auto-replied “{reply}”"


def not_texted(user: str, reason: str) -> str:
    """Say in the thread that a person's message was not texted, and why."""
    if user == AUTOMATIC:
        return f":warning: Baton's automatic text was not texted: {reason}."
    return f":warning: <@{user}>'s message was not texted: {reason}."


def rated(rating: int, owner: str) -> str:
    """Record in the thread the rating the customer gave, and whose resolution it rates."""
    about = f" <@{owner}>'s resolution" if owner else ""
    return f":star: The customer rated{about} {rating}/5."


def low_rating(conv: Conversation, rating: int) -> str:
    """Tell the owner, in a DM, that the customer rated their resolution low."""
    return f":warning: The customer rated your resolution of {conv.ref} {rating}/5."


def low_rating_for_queue(conv: Conversation, rating: int, owner: str) -> str:
    """Tell the queue channel of a low rating: the owner is away, or there was none."""
    if not owner:
        return f":warning: The customer rated {conv.ref} {rating}/5 (it was unclaimed)."
    return (
        f":warning: The customer rated <@{owner}>'s resolution of {conv.ref} {rating}/5, "
        f"and <@{owner}> is away."
    )


def not_delivered(reason: str) -> str:
    """Say in the thread that the carrier did not deliver a text, and why."""
    return f":warning: A text was not delivered: {reason}."


OPTED_OUT_REASON = (
    "the customer opted out (texted STOP); nothing can be texted until they text START"
)


def too_long_reason(length: int, limit: int) -> str:
    """Say why a text is too long to send."""
    return f"it is {length:,} characters; a text can be at most {limit:,}"
