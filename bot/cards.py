"""Cards that follow a person: redrawn when something about their owner changes."""

from __future__ import annotations

from bot.conversations import REFRESH, Conversations


def refresh_cards_of(conversations: Conversations, user: str) -> None:
    """Redraw the card of every active conversation user owns (their away state shows on it)."""
    for conv in conversations.active():
        if conv.owner == user:
            conversations.post_to_thread(conv.number, REFRESH)
