"""A customer across all their conversations: renaming and erasing them."""

from __future__ import annotations

from bot.contacts import Contacts
from bot.conversations import Conversation, Conversations


class Customers:
    """Change what Baton keeps about a customer number, on every conversation it has."""

    def __init__(self, contacts: Contacts, conversations: Conversations) -> None:
        self.contacts = contacts
        self.conversations = conversations

    def rename(self, phone: str, name: str | None) -> None:
        """Set the customer's name (None clears it) and show it on each of their cards."""
        self.contacts.update(phone, name=name or "")
        for conv in self.conversations.find_by_customer(phone):
            self.conversations.set_customer_name(conv.number, name or None)

    def erase(self, phone: str, user: str) -> list[Conversation]:
        """Erase the customer's texts on every conversation, and their contact; return those conversations."""
        found = self.conversations.find_by_customer(phone)
        for conv in found:
            self.conversations.forget(conv.number, user)
        self.contacts.forget(phone)
        return found
