"""Conversation lists: /sms mine, /sms queue, /sms overdue and the App Home tab."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.values import STATUS_LABELS, Conversation
from bot.views.mrkdwn import SECTION_LIMIT, Blocks, customer_label, escape, owner_label, thread_link

LIST_LIMIT = 15


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


def conversation_list(
    title: str, convs: list[Listed], team_url: str, empty: str, *, total: int | None = None
) -> Blocks:
    """Return a titled list of conversations as two blocks, whole lines only, within Slack's limits.

    total counts conversations beyond those given (a search's other matches).
    """
    lines: list[str] = []
    budget = SECTION_LIMIT - 40  # room for the "…and N more" line
    for item in convs[:LIST_LIMIT]:
        line = f"• {_line(item, team_url)}"
        if sum(len(x) + 1 for x in lines) + len(line) > budget:
            break
        lines.append(line)
    hidden = max(len(convs), total or 0) - len(lines)
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


def queue_lists(name: str, unclaimed: list[Listed], overdue: list[Listed], team_url: str) -> Blocks:
    """Return a queue's unclaimed and overdue conversations."""
    return [
        *conversation_list(f"Unclaimed in {name}", unclaimed, team_url, "Nothing unclaimed."),
        *conversation_list(f"Overdue in {name}", overdue, team_url, "Nothing overdue."),
        {"type": "divider"},
    ]
