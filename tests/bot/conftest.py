"""The domain's fixtures: the commit engine, conversations and inbound texts on a real Redis."""

from tests.bot.domain import commits, conversations, inbound_texts, keys

__all__ = ["commits", "conversations", "inbound_texts", "keys"]
