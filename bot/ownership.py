"""Who may do what to a conversation: the one home of Baton's ownership rules."""

from __future__ import annotations

from collections.abc import Collection

from bot.conversations import Conversation


def may_manage(conv: Conversation, user: str, admins: Collection[str], action: str) -> str | None:
    """Return why user may not `action` someone else's conversation, or None when they may.

    The owner and admins may; anyone may act on an unclaimed conversation.
    """
    if conv.owner and conv.owner != user and user not in admins:
        return f"Only <@{conv.owner}> (the owner) or an admin can {action} {conv.ref}."
    return None


def may_text(conv: Conversation, user: str, reply_policy: str) -> bool:
    """Tell whether user's words go to the customer under the reply policy."""
    return reply_policy == "anyone" or conv.owner == user
