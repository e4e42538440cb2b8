"""Customers as the team knows them: a name, notes and an account owner per phone number."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from bot.store import Keys
from config import BatonConfig


@dataclass(frozen=True)
class Contact:
    """What the team keeps about one customer number."""

    phone: str
    name: str | None = None
    notes: str | None = None
    owner: str | None = None

    @property
    def first_name(self) -> str | None:
        """Return the first word of the name, for templates."""
        return self.name.split()[0] if self.name else None


class Contacts:
    """Contacts in Redis, with the config's accounts as defaults."""

    def __init__(self, redis_client: redis.Redis, keys: Keys, config: BatonConfig) -> None:
        self.redis = redis_client
        self.keys = keys
        self.accounts = {a.phone: a for a in config.accounts}

    def get(self, phone: str) -> Contact:
        """Return the contact for phone (empty if nobody wrote anything down)."""
        return self.made(phone, self.redis.hgetall(self.key(phone)))

    def key(self, phone: str) -> str:
        """Return the hash phone's contact is stored in, for reading it with something else."""
        return self.keys.contact(phone)

    def made(self, phone: str, stored: dict[str, str]) -> Contact:
        """Return the contact for phone from its hash as read."""
        account = self.accounts.get(phone)
        return Contact(
            phone=phone,
            name=stored.get("name") or (account.name if account else None),
            notes=stored.get("notes") or None,
            owner=stored.get("owner") or (account.owner if account else None),
        )

    def update(self, phone: str, **fields: str) -> Contact:
        """Set some of name, notes, owner ("" clears one)."""
        self.redis.hset(self.keys.contact(phone), mapping=fields)
        return self.get(phone)

    def forget(self, phone: str) -> None:
        """Erase everything kept about phone."""
        self.redis.delete(self.keys.contact(phone))
