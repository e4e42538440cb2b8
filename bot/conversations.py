"""Conversations and their ownership: the state machine, kept atomically in Redis.

Every change to a conversation (a customer text, a claim, a release, a status
change) is one optimistic transaction on that conversation's keys: the new
state, the event that records who did what and why, and the Slack work it
causes (the outbox) are written together or not at all. The delivery worker
turns the outbox into Slack posts; see ``bot.delivery``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import redis

from bot.clock import Clock
from bot.store import Keys
from config import BatonConfig

logger = logging.getLogger(__name__)

Status = Literal["open", "pending", "closed"]
STATUS_LABELS = {"open": "Open", "pending": "Pending", "closed": "Closed"}

# Get-or-create a conversation number for a phone pair, atomically, so that two
# texts racing in from a new customer share one number and leave no gap.
_ALLOCATE = """
local existing = redis.call('HGET', KEYS[2], ARGV[1])
if existing then return {tonumber(existing), 0} end
local number = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], ARGV[1], number)
return {number, 1}
"""


@dataclass(frozen=True)
class Conversation:
    """One customer number talking to one business number."""

    number: int
    business_number: str
    customer_number: str
    queue: str
    channel: str
    status: Status = "open"
    owner: str | None = None
    previous_owner: str | None = None
    opted_out: bool = False
    card_ts: str | None = None
    customer_name: str | None = None
    created_at: float = 0.0
    last_inbound_at: float | None = None
    version: int = 0

    @property
    def ref(self) -> str:
        """Return the short reference people type, like #12."""
        return f"#{self.number}"

    @property
    def claimed(self) -> bool:
        """Tell whether a person owns the conversation (rather than its queue)."""
        return self.owner is not None

    def to_fields(self) -> dict[str, str]:
        """Return the conversation as Redis hash fields."""
        return {
            "number": str(self.number),
            "business_number": self.business_number,
            "customer_number": self.customer_number,
            "queue": self.queue,
            "channel": self.channel,
            "status": self.status,
            "owner": self.owner or "",
            "previous_owner": self.previous_owner or "",
            "opted_out": "1" if self.opted_out else "",
            "card_ts": self.card_ts or "",
            "customer_name": self.customer_name or "",
            "created_at": repr(self.created_at),
            "last_inbound_at": repr(self.last_inbound_at) if self.last_inbound_at else "",
            "version": str(self.version),
        }

    @classmethod
    def from_fields(cls, raw: dict[str, str]) -> Conversation:
        """Build a conversation from its Redis hash."""
        return cls(
            number=int(raw["number"]),
            business_number=raw["business_number"],
            customer_number=raw["customer_number"],
            queue=raw["queue"],
            channel=raw["channel"],
            status=raw.get("status", "open"),  # type: ignore[arg-type]
            owner=raw.get("owner") or None,
            previous_owner=raw.get("previous_owner") or None,
            opted_out=bool(raw.get("opted_out")),
            card_ts=raw.get("card_ts") or None,
            customer_name=raw.get("customer_name") or None,
            created_at=float(raw.get("created_at") or 0),
            last_inbound_at=float(raw["last_inbound_at"]) if raw.get("last_inbound_at") else None,
            version=int(raw.get("version") or 0),
        )


@dataclass(frozen=True)
class Event:
    """A change of owner or status: who did it, when, from what to what, and why."""

    kind: str
    who: str
    at: float
    before: str = ""
    after: str = ""
    note: str = ""

    def to_fields(self) -> dict[str, str]:
        """Return the event as stream fields."""
        return {
            "kind": self.kind,
            "who": self.who,
            "at": repr(self.at),
            "before": self.before,
            "after": self.after,
            "note": self.note,
        }

    @classmethod
    def from_fields(cls, raw: dict[str, str]) -> Event:
        """Build an event from its stream fields."""
        return cls(
            kind=raw["kind"],
            who=raw["who"],
            at=float(raw["at"]),
            before=raw.get("before", ""),
            after=raw.get("after", ""),
            note=raw.get("note", ""),
        )


@dataclass(frozen=True)
class InboundText:
    """A customer's text as Twilio delivered it (numbers already E.164)."""

    sid: str
    customer_number: str
    business_number: str
    body: str
    media: tuple[tuple[str, str], ...] = ()  # (url, content type)
    opt_change: Literal["out", "in"] | None = None


@dataclass(frozen=True)
class SlackJob:
    """One thing the delivery worker must do in Slack for a conversation."""

    kind: Literal["card", "refresh", "text", "notice", "react"]
    fields: dict[str, str] = field(default_factory=dict)

    def to_fields(self) -> dict[str, str]:
        """Return the job as outbox stream fields."""
        return {"kind": self.kind, **self.fields}


@dataclass
class Change:
    """What one transaction does to a conversation; empty when refused."""

    conversation: Conversation | None
    refused: str | None = None
    events: list[Event] = field(default_factory=list)
    jobs: list[SlackJob] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)
    extra: Callable[[Any], None] | None = None  # more writes inside the same MULTI
    result: Any = None

    @property
    def ok(self) -> bool:
        """Tell whether the change was made."""
        return self.refused is None


class Refused(Exception):
    """An ownership or status change a person asked for but may not make now."""


def notice(text: str) -> SlackJob:
    """Return a job that posts a line from Baton in the conversation's thread."""
    return SlackJob("notice", {"text": text})


REFRESH = SlackJob("refresh")


class Conversations:
    """Read conversations and change them, one atomic step at a time."""

    def __init__(
        self,
        redis_client: redis.Redis,
        keys: Keys,
        config: BatonConfig,
        clock: Clock,
        *,
        is_available: Callable[[str], bool] | None = None,
    ) -> None:
        self.redis = redis_client
        self.keys = keys
        self.config = config
        self.clock = clock
        self.is_available = is_available or (lambda _user: True)
        self._allocate = redis_client.register_script(_ALLOCATE)

    # Reading

    def get(self, number: int) -> Conversation | None:
        """Return conversation number, or None."""
        raw = self.redis.hgetall(self.keys.conversation(number))
        return Conversation.from_fields(raw) if raw else None

    def find_by_phone(self, business_number: str, customer_number: str) -> Conversation | None:
        """Return the conversation between these two numbers, or None."""
        number = self.redis.hget(self.keys.by_phone, f"{business_number}|{customer_number}")
        return self.get(int(number)) if number else None

    def find_by_customer(self, customer_number: str) -> list[Conversation]:
        """Return every conversation with this customer number, on any business number."""
        pairs = self.redis.hscan_iter(self.keys.by_phone, match=f"*|{customer_number}")
        found = (self.get(int(number)) for _pair, number in pairs)
        return sorted((c for c in found if c), key=lambda c: c.number)

    def find_by_thread(self, channel: str, ts: str) -> Conversation | None:
        """Return the conversation whose card is message ts in channel, or None."""
        number = self.redis.hget(self.keys.by_thread, f"{channel}:{ts}")
        return self.get(int(number)) if number else None

    def events(self, number: int) -> list[Event]:
        """Return the conversation's ownership and status events, oldest first."""
        return [Event.from_fields(f) for _id, f in self.redis.xrange(self.keys.events(number))]

    def messages(self, number: int) -> list[dict[str, str]]:
        """Return the conversation's texts in both directions, oldest first."""
        return [f for _id, f in self.redis.xrange(self.keys.messages(number))]

    # The one transaction every change goes through

    def _transact(self, number: int, decide: Callable[[Conversation | None], Change]) -> Change:
        key = self.keys.conversation(number)
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.hgetall(key)
                    change = decide(Conversation.from_fields(raw) if raw else None)
                    if not change.ok or change.conversation is None:
                        pipe.unwatch()
                        return change
                    conv = replace(change.conversation, version=change.conversation.version + 1)
                    change.conversation = conv
                    pipe.multi()
                    pipe.hset(key, mapping=conv.to_fields())
                    for event in change.events:
                        pipe.xadd(self.keys.events(number), event.to_fields())
                    for message in change.messages:
                        pipe.xadd(self.keys.messages(number), message)
                    for job in change.jobs:
                        pipe.xadd(self.keys.outbox(number), job.to_fields())
                    if change.extra:
                        change.extra(pipe)
                    pipe.execute()
                    break
                except redis.WatchError:
                    continue
        if change.jobs:
            self.wake_delivery(number)
        return change

    def wake_delivery(self, number: int) -> None:
        """Tell the delivery workers that conversation number has Slack work."""
        self.redis.xadd(self.keys.work, {"conversation": str(number)})

    def post_to_thread(self, number: int, *jobs: SlackJob) -> None:
        """Queue Slack work for a conversation that changes nothing else (notices, reactions)."""
        with self.redis.pipeline(transaction=True) as pipe:
            for job in jobs:
                pipe.xadd(self.keys.outbox(number), job.to_fields())
            pipe.execute()
        self.wake_delivery(number)

    # Customer texts

    def receive(self, text: InboundText) -> Change:
        """Store a customer's text and queue it for Slack; a repeated MessageSid changes nothing.

        Returns the change; ``result`` is "duplicate", "created" or "appended".
        """
        pair = f"{text.business_number}|{text.customer_number}"
        number, _fresh = self._allocate(keys=[self.keys.sequence, self.keys.by_phone], args=[pair])
        number = int(number)
        sids = self.keys.inbound_sids(number)
        now = self.clock.now()

        def decide(conv: Conversation | None) -> Change:
            if self.redis.sismember(sids, text.sid):
                # A Twilio retry: the conversation may still lack delivery work if
                # the first attempt died between storing and waking a worker.
                return Change(conv, refused="duplicate", result="duplicate")
            jobs: list[SlackJob] = []
            events: list[Event] = []
            result = "appended"
            if conv is None:
                queue = self.config.default_queue
                conv = Conversation(
                    number=number,
                    business_number=text.business_number,
                    customer_number=text.customer_number,
                    queue=queue.name,
                    channel=queue.channel,
                    created_at=now,
                )
                events.append(Event("created", "customer", now, after=queue.name))
                jobs.append(SlackJob("card"))
                result = "created"
            elif conv.status != "open":
                owner = conv.owner if conv.owner and self.is_available(conv.owner) else None
                events.append(Event("reopened", "customer", now, before=conv.status, after="open"))
                if owner != conv.owner:
                    events.append(
                        Event(
                            "released",
                            "baton",
                            now,
                            before=conv.owner or "",
                            note="owner unavailable",
                        )
                    )
                conv = replace(conv, status="open", owner=owner)
                jobs.append(REFRESH)
            conv = replace(conv, last_inbound_at=now)
            message = {
                "direction": "in",
                "sid": text.sid,
                "body": text.body,
                "media": json.dumps(text.media),
                "at": repr(now),
            }
            jobs.append(
                SlackJob("text", {"sid": text.sid, "body": text.body, "media": message["media"]})
            )
            if text.opt_change == "out" and not conv.opted_out:
                conv = replace(conv, opted_out=True)
                events.append(Event("opted_out", "customer", now))
                jobs += [notice(OPTED_OUT_NOTICE), REFRESH]
            elif text.opt_change == "in" and conv.opted_out:
                conv = replace(conv, opted_out=False)
                events.append(Event("opted_in", "customer", now))
                jobs += [notice(OPTED_IN_NOTICE), REFRESH]
            return Change(
                conv,
                events=events,
                jobs=jobs,
                messages=[message],
                extra=lambda pipe: pipe.sadd(sids, text.sid),
                result=result,
            )

        change = self._transact(number, decide)
        if change.result == "duplicate":
            self.wake_delivery(number)
            change.refused = None
        if change.result == "created":
            self.redis.zadd(self.keys.conversations, {str(number): now})
        return change

    # Ownership and status

    def _require(self, conv: Conversation | None, number: int) -> Conversation:
        if conv is None:
            raise Refused(f"There is no conversation #{number}.")
        return conv

    def _change(self, number: int, decide: Callable[[Conversation], Change]) -> Change:
        def guarded(conv: Conversation | None) -> Change:
            try:
                return decide(self._require(conv, number))
            except Refused as refusal:
                return Change(conv, refused=str(refusal))

        return self._transact(number, guarded)

    def claim(self, number: int, user: str) -> Change:
        """Make user the owner of an unclaimed conversation; exactly one racing claim wins."""

        def decide(conv: Conversation) -> Change:
            if conv.owner == user:
                raise Refused(f"You already own {conv.ref}.")
            if conv.owner:
                raise Refused(f"<@{conv.owner}> already claimed {conv.ref}.")
            now = self.clock.now()
            return Change(
                replace(conv, owner=user),
                events=[Event("claimed", user, now, after=user)],
                jobs=[notice(f"<@{user}> claimed {conv.ref}."), REFRESH],
            )

        return self._change(number, decide)

    def release(self, number: int, user: str) -> Change:
        """Give the conversation back to its queue (its owner, or an admin, may)."""

        def decide(conv: Conversation) -> Change:
            if not conv.owner:
                raise Refused(f"{conv.ref} is not claimed, so there is nothing to release.")
            if conv.owner != user and user not in self.config.admins:
                raise Refused(
                    f"Only <@{conv.owner}> (the owner) or an admin can release {conv.ref}."
                )
            now = self.clock.now()
            by = "" if conv.owner == user else f" (owner was <@{conv.owner}>)"
            return Change(
                replace(conv, owner=None, previous_owner=conv.owner),
                events=[Event("released", user, now, before=conv.owner)],
                jobs=[
                    notice(f"<@{user}> released {conv.ref} back to the {conv.queue} queue{by}."),
                    REFRESH,
                ],
            )

        return self._change(number, decide)

    def set_status(self, number: int, user: str, status: Status) -> Change:
        """Set the status to open, pending or closed, recording who did it."""

        def decide(conv: Conversation) -> Change:
            if conv.status == status:
                raise Refused(f"{conv.ref} is already {STATUS_LABELS[status]}.")
            now = self.clock.now()
            words = {"open": "reopened", "pending": "set to Pending", "closed": "resolved"}
            return Change(
                replace(conv, status=status),
                events=[Event("status", user, now, before=conv.status, after=status)],
                jobs=[notice(f"<@{user}> {words[status]} {conv.ref}."), REFRESH],
            )

        return self._change(number, decide)

    # Delivery bookkeeping

    def card_posted(self, number: int, channel: str, ts: str) -> None:
        """Remember where the conversation's card is, so thread replies find it."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(self.keys.conversation(number), "card_ts", ts)
            pipe.hset(self.keys.by_thread, f"{channel}:{ts}", number)
            pipe.execute()

    def record_outbound(
        self, number: int, *, slack_ts: str, author: str, sid: str, body: str, from_number: str
    ) -> None:
        """Record a text sent to the customer and which Slack message it came from."""
        now = self.clock.now()
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                self.keys.messages(number),
                {
                    "direction": "out",
                    "sid": sid,
                    "body": body,
                    "author": author,
                    "slack_ts": slack_ts,
                    "from": from_number,
                    "at": repr(now),
                },
            )
            pipe.hset(self.keys.outbound(number), sid, slack_ts)
            pipe.hset(self.keys.texted(number), slack_ts, sid)
            pipe.execute()

    def slack_message_for(self, number: int, sid: str) -> str | None:
        """Return the ts of the Slack message an outbound text came from."""
        return self.redis.hget(self.keys.outbound(number), sid)

    def set_opted_out(self, number: int, reason: str) -> Change:
        """Mark the customer opted out because Twilio said so (error 21610)."""

        def decide(conv: Conversation) -> Change:
            if conv.opted_out:
                raise Refused("already opted out")
            return Change(
                replace(conv, opted_out=True),
                events=[Event("opted_out", "twilio", self.clock.now(), note=reason)],
                jobs=[REFRESH],
            )

        return self._change(number, decide)

    def all_numbers(self) -> Iterable[int]:
        """Yield every conversation number, oldest first."""
        for member in self.redis.zrange(self.keys.conversations, 0, -1):
            yield int(member)


OPTED_OUT_NOTICE = (
    ":no_entry: The customer opted out (texted a stop word). Nothing will be texted to them "
    "until they text START."
)
OPTED_IN_NOTICE = ":white_check_mark: The customer opted back in; texts can be sent again."
