"""Slack text as Baton writes it: escaping, clipping, labels, moments, links."""

from __future__ import annotations

import re
from typing import Any

from bot.timewords import local_time
from bot.values import Conversation
from sms.numbers import display

Blocks = list[dict[str, Any]]


SECTION_LIMIT = 3000


def escape(text: str) -> str:
    """Escape text for Slack so a customer cannot mention @channel or forge links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int = SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


MENTION = re.compile(r"(<@[UW][A-Z0-9]+(?:\|[^<>|]*)?>)")


def escape_keep_mentions(text: str) -> str:
    """Escape text for Slack but keep the <@U…> mentions in it, so people are still named."""
    parts = MENTION.split(text)
    return "".join(p if MENTION.fullmatch(p) else escape(p) for p in parts)


def customer_label(conv: Conversation) -> str:
    """Return the customer's name and number as people read them."""
    number = display(conv.customer_number)
    return f"{escape(conv.customer_name)} ({number})" if conv.customer_name else number


def owner_label(conv: Conversation) -> str:
    """Return the owner as a Slack mention, or Unclaimed."""
    return f"<@{conv.owner}>" if conv.owner else "Unclaimed"


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def overflow_option(text: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text}, "value": value}


def slack_time(at: float, tz: str) -> str:
    """Return a moment as Slack shows it in each reader's own time zone ("today 2:35 PM").

    Where Slack cannot, it shows the fallback: the business's time with its zone named.
    """
    fallback = local_time(at, tz, "%a %b %-d %H:%M")
    return f"<!date^{int(at)}^{{date_short_pretty}} {{time}}|{fallback}>"


def quoted_text(text: str) -> str:
    """Return text quoted for Slack, line by line, escaped but for people's mentions."""
    return "\n".join(f">{escape_keep_mentions(line)}" for line in text.splitlines() or [""])


def thread_link(team_url: str, conv: Conversation) -> str:
    """Return a link to the conversation's card, or just its reference if not posted yet."""
    if not conv.card_ts or not team_url:
        return conv.ref
    base = team_url if team_url.endswith("/") else team_url + "/"
    return f"<{base}archives/{conv.channel}/p{conv.card_ts.replace('.', '')}|{conv.ref}>"
