"""Response targets: when a human reply is due for a conversation."""

from __future__ import annotations

from bot.conversations import Conversation
from config import ResponseTargets


def target_seconds(conv: Conversation, targets: ResponseTargets) -> int:
    """Return the target that applies: urgent, first response, or next response."""
    if "urgent" in conv.tags:
        return targets.urgent
    return targets.next_response if conv.replied else targets.first_response


def reply_due_at(conv: Conversation, targets: ResponseTargets) -> float | None:
    """Return when a human reply is due, or None when nothing is awaited (answered, pending, closed)."""
    if conv.status != "open" or conv.waiting_since is None:
        return None
    return conv.waiting_since + target_seconds(conv, targets)
