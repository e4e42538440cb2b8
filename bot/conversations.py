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
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from itertools import chain
from typing import Any, Literal
from zoneinfo import ZoneInfo

import redis

from bot.calendar import BusinessCalendar
from bot.clock import Clock
from bot.routing import Assignment, route
from bot.store import Keys
from config import BatonConfig
from sms.numbers import InvalidNumber, display, normalise

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

# Commit one change if the conversation is still at the version it was read at
# (optimistic concurrency in one round trip). KEYS[1] is the conversation hash,
# the rest are the keys the writes touch, all in the conversation's slot except
# the phone index that an erasure (forget) removes its entry from.
# ARGV[1] is the version read ('' when there was none); ARGV[2] and ARGV[3] are
# a guard, the KEYS index of a set and a member that must not be in it ('' for
# none); then each write is its key's KEYS index, how many more arguments it has,
# the command and those arguments. Returns 1 when committed, 0 when the
# conversation changed since it was read, -1 when the guard's member is present.
_COMMIT = """
if (redis.call('HGET', KEYS[1], 'version') or '') ~= ARGV[1] then return 0 end
if ARGV[2] ~= '' and redis.call('SISMEMBER', KEYS[tonumber(ARGV[2])], ARGV[3]) == 1 then
  return -1
end
local i = 4
while i <= #ARGV do
  local count = tonumber(ARGV[i + 1])
  local command = {ARGV[i + 2], KEYS[tonumber(ARGV[i])]}
  for j = 1, count do command[j + 2] = ARGV[i + 2 + j] end
  redis.call(unpack(command))
  i = i + 3 + count
end
return 1
"""
COMMITTED, GUARD_HIT = 1, -1

# Record a posted card's ts (ARGV[2]) on the conversation, with a new version so
# that a change read before is decided again, not committed over it. Only if the
# conversation still has no card and is still in the card's channel (ARGV[1]):
# a transfer meanwhile has queued a card of its own for its new channel.
_CARD_POSTED = """
if redis.call('HGET', KEYS[1], 'channel') ~= ARGV[1] then return 0 end
if (redis.call('HGET', KEYS[1], 'card_ts') or '') ~= '' then return 0 end
redis.call('HSET', KEYS[1], 'card_ts', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'version', 1)
return 1
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
    tags: tuple[str, ...] = ()
    collaborators: tuple[str, ...] = ()
    created_at: float = 0.0
    last_inbound_at: float | None = None
    # The response clock. A stretch is the customer's texts since the last human
    # reply: `awaiting` while it lasts, timed from `waiting_since` (None while
    # paused by Pending) plus the open time `used` before the pause.
    awaiting: bool = False
    waiting_since: float | None = None
    used: float = 0.0
    replied: bool = False
    stretch: int = 0
    reminded: int = 0  # the highest reminder level sent in this stretch
    autoreplied_until: float | None = None
    assigned_by: str = ""  # how the owner got it: account, shift, claim, handoff, …
    route_reason: str = ""  # why it is in its queue and with its owner, as the card says
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
        return {f.name: _encode(f.type, getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_fields(cls, raw: dict[str, str]) -> Conversation:
        """Build a conversation from its Redis hash (fields it lacks take their defaults)."""
        return cls(**{f.name: _decode(f.type, raw[f.name]) for f in fields(cls) if f.name in raw})


# Hash fields are strings: each field type has one encoding, and "" means None/False/().
def _encode(kind: str, value: Any) -> str:
    if value is None or value is False:
        return ""
    if kind == "bool":
        return "1"
    if kind.startswith("tuple"):
        return ",".join(value)
    if kind.startswith("float"):
        return repr(float(value))
    return str(value)


def _decode(kind: str, text: str) -> Any:
    if kind == "bool":
        return bool(text)
    if kind.startswith("tuple"):
        return tuple(part for part in text.split(",") if part)
    if kind.endswith("| None"):
        if not text:
            return None
        kind = kind.removesuffix(" | None")
    if kind == "int":
        return int(text or 0)
    if kind == "float":
        return float(text or 0)
    return text


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

    kind: Literal["card", "refresh", "text", "notice", "react", "retire", "dm", "channel"]
    fields: dict[str, str] = field(default_factory=dict)

    def to_fields(self) -> dict[str, str]:
        """Return the job as outbox stream fields."""
        return {"kind": self.kind, **self.fields}


class Writes:
    """The writes of one change, as the commit script applies them: all or none."""

    def __init__(self, conversation_key: str) -> None:
        self.keys = [conversation_key]
        self.args: list[str] = []

    def _index(self, key: str) -> str:
        if key not in self.keys:
            self.keys.append(key)
        return str(self.keys.index(key) + 1)

    def call(self, command: str, key: str, *args: Any) -> None:
        """Add one Redis write command on key."""
        self.args += [self._index(key), str(len(args)), command, *map(str, args)]

    def hset(self, key: str, mapping: dict[str, str]) -> None:
        """Set hash fields."""
        self.call("HSET", key, *chain.from_iterable(mapping.items()))

    def xadd(self, key: str, entry: dict[str, str]) -> None:
        """Append an entry to a stream."""
        self.call("XADD", key, "*", *chain.from_iterable(entry.items()))

    def guard(self, key: str, member: str) -> list[str]:
        """Return the commit arguments that refuse the change when member is in set key."""
        return [self._index(key), member]


@dataclass
class Change:
    """What one transaction does to a conversation; empty when refused."""

    conversation: Conversation | None
    refused: str | None = None
    events: list[Event] = field(default_factory=list)
    jobs: list[SlackJob] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)
    extra: Callable[[Writes], None] | None = None  # more writes committed with the change
    unless_member: tuple[str, str] | None = None  # (set key, member): refused if already in it
    counted: tuple[str, ...] = ()  # counters for /metrics to add once committed
    result: Any = None
    reply: str | None = None  # an automatic text answer to the customer (TwiML)

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
        # Counts events for /metrics (bot.metrics.Counters.add once wired).
        self.count: Callable[..., None] = lambda _name, _amount=1: None
        self.assigner: Callable[[str, str, float], Assignment] = lambda body, _phone, _at: (
            Assignment(
                route(body, config), None, "queue", f"unclaimed in {route(body, config).queue.name}"
            )
        )
        # Called with each changed conversation after its transaction (the reminder schedule).
        self.observers: list[Callable[[Conversation, Any], None]] = []
        business = config.business
        self.calendar = BusinessCalendar(business.timezone, business.hours, business.holidays)
        words = "|".join(re.escape(w) for w in config.urgent_keywords)
        self.urgent_words = re.compile(rf"\b(?:{words})\b", re.IGNORECASE)
        self._allocate = redis_client.register_script(_ALLOCATE)
        self._commit = redis_client.register_script(_COMMIT)
        self._card_posted = redis_client.register_script(_CARD_POSTED)

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

    def find_ref(self, ref: str, region: str) -> Conversation:
        """Return the conversation a person named as #12, 12 or a phone number; Refused if none."""
        text = ref.strip()
        if re.fullmatch(r"#?\d{1,9}", text):
            conv = self.get(int(text.lstrip("#")))
            if conv is None:
                raise Refused(
                    f"There is no conversation {text if text.startswith('#') else '#' + text}."
                )
            return conv
        try:
            number = normalise(text, region, strict=False)
        except InvalidNumber:
            raise Refused(
                f"{text!r} is not a conversation reference: use #12, 12 or the customer's number."
            ) from None
        found = self.find_by_customer(number)
        if not found:
            raise Refused(f"There is no conversation with {display(number)}.")
        if len(found) > 1:
            refs = ", ".join(c.ref for c in found)
            raise Refused(f"{display(number)} has several conversations ({refs}); name one by #N.")
        return found[0]

    def start(self, business_number: str, customer_number: str, user: str) -> Change:
        """Open (or continue) a conversation that a person starts by texting; they own it."""
        pair = f"{business_number}|{customer_number}"
        number, _fresh = self._allocate(keys=[self.keys.sequence, self.keys.by_phone], args=[pair])
        number = int(number)

        def decide(conv: Conversation | None) -> Change:
            now = self.clock.now()
            if conv is None:
                queue = self.config.default_queue
                conv = Conversation(
                    number=number,
                    business_number=business_number,
                    customer_number=customer_number,
                    queue=queue.name,
                    channel=queue.channel,
                    owner=user,
                    created_at=now,
                    assigned_by="claim",
                    route_reason=f"<@{user}> texted first",
                )
                return Change(
                    conv,
                    events=[
                        Event("created", user, now, after=queue.name),
                        Event("claimed", user, now, after=user),
                    ],
                    jobs=[SlackJob("card")],
                    result="created",
                )
            if conv.owner and conv.owner != user:
                raise Refused(
                    f"<@{conv.owner}> owns {conv.ref}; ask them to hand it off before you text."
                )
            if conv.owner == user and conv.status == "open":
                return Change(conv, result="unchanged")
            events = [Event("claimed", user, now, after=user)] if conv.owner is None else []
            owned, reopened = self._owned_by(conv, user, "claim", user, now)
            return Change(owned, events=events + reopened, jobs=[REFRESH])

        def guarded(conv: Conversation | None) -> Change:
            try:
                return decide(conv)
            except Refused as refusal:
                return Change(conv, refused=str(refusal))

        return self._transact(number, guarded)

    # The one transaction every change goes through

    def _transact(self, number: int, decide: Callable[[Conversation | None], Change]) -> Change:
        key = self.keys.conversation(number)
        while True:
            raw = self.redis.hgetall(key)
            before = Conversation.from_fields(raw) if raw else None
            change = decide(before)
            if not change.ok or change.conversation is None or change.result == "unchanged":
                return change
            conv = replace(change.conversation, version=change.conversation.version + 1)
            writes = Writes(key)
            writes.hset(key, conv.to_fields())
            for event in change.events:
                writes.xadd(self.keys.events(number), event.to_fields())
            for message in change.messages:
                writes.xadd(self.keys.messages(number), message)
            for job in change.jobs:
                writes.xadd(self.keys.outbox(number), job.to_fields())
            if change.extra:
                change.extra(writes)
            guard = writes.guard(*change.unless_member) if change.unless_member else ["", ""]
            outcome = self._commit(
                keys=writes.keys, args=[raw.get("version", ""), *guard, *writes.args]
            )
            if outcome == GUARD_HIT:
                return Change(before, refused="duplicate", result="duplicate")
            if outcome == COMMITTED:
                change.conversation = conv
                break
            # Changed since it was read: read it again and decide again.
        # What follows a change lives in other slots (indexes, the reminder
        # schedule, the work stream, counters): one pipelined round trip, after the commit.
        with self.redis.pipeline(transaction=False) as after:
            self._index(conv, after)
            for observer in self.observers:
                observer(conv, after)
            if change.jobs:
                after.xadd(self.keys.work, {"conversation": str(number)})
            if change.result == "created":
                after.zadd(self.keys.conversations, {str(number): conv.created_at})
            for name in change.counted:
                after.hincrby(self.keys.metrics, name, 1)
            after.execute()
        return change

    def _index(self, conv: Conversation, pipe: Any) -> None:
        # Lists read these hints and then each conversation itself, so an index
        # that lags a crash shows nothing wrong; it is put right by the next change.
        if conv.status == "closed":
            pipe.zrem(self.keys.active, conv.number)
        else:
            pipe.zadd(self.keys.active, {str(conv.number): conv.created_at})

    def active(self) -> list[Conversation]:
        """Return every conversation that is not closed, oldest first."""
        numbers = self.redis.zrange(self.keys.active, 0, -1)
        with self.redis.pipeline(transaction=False) as pipe:
            for number in numbers:
                pipe.hgetall(self.keys.conversation(int(number)))
            found = [Conversation.from_fields(raw) for raw in pipe.execute() if raw]
        return [c for c in found if c.status != "closed"]

    def handed_to(self, user: str, limit: int = 10) -> list[Conversation]:
        """Return the conversations most recently handed to user, newest first."""
        numbers = self.redis.lrange(self.keys.handed_to(user), 0, limit - 1)
        found = (self.get(int(n)) for n in dict.fromkeys(numbers))
        return [c for c in found if c is not None and c.owner == user]

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
            jobs: list[SlackJob] = []
            events: list[Event] = []
            result = "appended"
            if conv is None:
                assignment = self.assigner(text.body, text.customer_number, now)
                queue = assignment.route.queue
                conv = Conversation(
                    number=number,
                    business_number=text.business_number,
                    customer_number=text.customer_number,
                    queue=queue.name,
                    channel=queue.channel,
                    owner=assignment.owner,
                    tags=() if assignment.owner else ("new",),
                    created_at=now,
                    assigned_by=assignment.how,
                    route_reason=f"{assignment.route.reason}; {assignment.reason}",
                )
                events.append(
                    Event(
                        "created", "customer", now, after=queue.name, note=assignment.route.reason
                    )
                )
                if assignment.owner:
                    events.append(
                        Event(
                            "assigned", "baton", now, after=assignment.owner, note=assignment.reason
                        )
                    )
                jobs.append(SlackJob("card"))
                if assignment.owner:
                    jobs.append(
                        SlackJob(
                            "dm",
                            {
                                "user": assignment.owner,
                                "text": f"{conv.ref} is yours: {assignment.reason}.",
                            },
                        )
                    )
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
                conv = replace(
                    conv,
                    status="open",
                    owner=owner,
                    assigned_by=conv.assigned_by if owner else "queue",
                )
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
            messages = [message]
            reply = None
            if text.opt_change == "out":
                # A stop word awaits no reply: it ends the stretch instead.
                conv = replace(conv, awaiting=False, waiting_since=None, used=0.0)
                if not conv.opted_out:
                    conv = replace(conv, opted_out=True)
                    events.append(Event("opted_out", "customer", now))
                    jobs += [notice(OPTED_OUT_NOTICE), REFRESH]
            else:
                if text.opt_change == "in" and conv.opted_out:
                    conv = replace(conv, opted_out=False)
                    events.append(Event("opted_in", "customer", now))
                    jobs += [notice(OPTED_IN_NOTICE), REFRESH]
                conv = self._start_clock(conv, now)
                if self.is_urgent(text.body) and "urgent" not in conv.tags:
                    conv = replace(conv, tags=(*conv.tags, "urgent"))
                    events.append(Event("tagged", "customer", now, note="+urgent"))
                    jobs.append(REFRESH)
                if not self.calendar.is_open(now):
                    reply, conv = self._after_hours(conv, now, jobs, messages)
            change = Change(
                conv,
                events=events,
                jobs=jobs,
                messages=messages,
                # A Twilio retry of a stored MessageSid is refused by the commit.
                unless_member=(sids, text.sid),
                extra=lambda writes: writes.call("SADD", sids, text.sid),
                counted=("texts_in", "auto_replies") if reply else ("texts_in",),
                result=result,
            )
            change.reply = reply
            return change

        change = self._transact(number, decide)
        if change.result == "duplicate":
            # The conversation may still lack delivery work if the first attempt
            # died between storing the text and waking a worker.
            self.wake_delivery(number)
            change.refused = None
        return change

    def _start_clock(self, conv: Conversation, now: float) -> Conversation:
        if not conv.awaiting:
            return replace(
                conv,
                awaiting=True,
                waiting_since=now,
                used=0.0,
                stretch=conv.stretch + 1,
                reminded=0,
            )
        if conv.waiting_since is None and conv.status == "open":
            return replace(conv, waiting_since=now)  # resumes a clock paused by Pending
        return conv

    def _with_status(self, conv: Conversation, status: Status, now: float) -> Conversation:
        """Return conv with a new status, pausing, resuming or ending its response clock."""
        if status == "pending" and conv.awaiting and conv.waiting_since is not None:
            used = conv.used + self.calendar.open_seconds(conv.waiting_since, now)
            return replace(conv, status=status, waiting_since=None, used=used)
        if status == "open" and conv.awaiting and conv.waiting_since is None:
            return replace(conv, status=status, waiting_since=now)
        if status == "closed":
            return replace(conv, status=status, awaiting=False, waiting_since=None, used=0.0)
        return replace(conv, status=status)

    def _owned_by(
        self, conv: Conversation, owner: str, how: str, user: str, now: float
    ) -> tuple[Conversation, list[Event]]:
        """Return conv owned by owner and open (no longer new), and the reopening event if any."""
        events = []
        if conv.status != "open":
            events.append(Event("status", user, now, before=conv.status, after="open"))
        owned = replace(
            self._with_status(conv, "open", now),
            owner=owner,
            tags=without(conv.tags, "new"),
            assigned_by=how,
        )
        return owned, events

    def is_urgent(self, body: str) -> bool:
        """Tell whether a text holds an urgent keyword as a whole word, in any case."""
        return bool(self.urgent_words.search(body or ""))

    def _after_hours(
        self, conv: Conversation, now: float, jobs: list[SlackJob], messages: list[dict[str, str]]
    ) -> tuple[str | None, Conversation]:
        """Answer a text that came while closed: once per closed period, and ping if urgent."""
        if "urgent" in conv.tags:
            alert = f":rotating_light: Urgent text after hours in {conv.ref}."
            jobs.append(SlackJob("channel", {"text": alert}))
            queue = self.config.queue(conv.queue)
            if queue is not None and queue.on_call:
                jobs.append(
                    SlackJob("dm", {"user": queue.on_call, "text": f"{alert} You are on call."})
                )
        if conv.opted_out or (conv.autoreplied_until or 0) > now:
            return None, conv
        opens = self.calendar.next_open(now)
        if opens is None:
            return None, conv
        opens_at = datetime.fromtimestamp(opens, ZoneInfo(self.calendar.timezone))
        reply = self.config.templates["after_hours"].format_map(
            _Placeholders(
                business=self.config.business.name, opens_at=opens_at.strftime("%A %-I:%M %p")
            )
        )
        messages.append(
            {"direction": "out", "sid": "", "body": reply, "author": "baton", "at": repr(now)}
        )
        jobs.append(notice(f":crescent_moon: After hours: Baton auto-replied “{reply}”"))
        return reply, replace(conv, autoreplied_until=opens)

    # Ownership and status

    def _require(self, conv: Conversation | None, number: int) -> Conversation:
        if conv is None:
            raise Refused(f"There is no conversation #{number}.")
        return conv

    def update(self, number: int, decide: Callable[[Conversation], Change]) -> Change:
        """Change conversation number atomically; decide raises Refused to change nothing."""

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
                replace(conv, owner=user, tags=without(conv.tags, "new"), assigned_by="claim"),
                events=[Event("claimed", user, now, after=user)],
                jobs=[notice(f"<@{user}> claimed {conv.ref}."), REFRESH],
            )

        return self.update(number, decide)

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
                replace(conv, owner=None, previous_owner=conv.owner, assigned_by="queue"),
                events=[Event("released", user, now, before=conv.owner)],
                jobs=[
                    notice(f"<@{user}> released {conv.ref} back to the {conv.queue} queue{by}."),
                    REFRESH,
                ],
            )

        return self.update(number, decide)

    def set_status(self, number: int, user: str, status: Status) -> Change:
        """Set the status to open, pending or closed, recording who did it."""

        def decide(conv: Conversation) -> Change:
            if conv.status == status:
                raise Refused(f"{conv.ref} is already {STATUS_LABELS[status]}.")
            now = self.clock.now()
            words = {"open": "reopened", "pending": "set to Pending", "closed": "resolved"}
            return Change(
                self._with_status(conv, status, now),
                events=[Event("status", user, now, before=conv.status, after=status)],
                jobs=[notice(f"<@{user}> {words[status]} {conv.ref}."), REFRESH],
            )

        return self.update(number, decide)

    def _may_manage(self, conv: Conversation, user: str, action: str) -> None:
        if conv.owner and conv.owner != user and user not in self.config.admins:
            raise Refused(f"Only <@{conv.owner}> (the owner) or an admin can {action} {conv.ref}.")

    def hand_off(self, number: int, user: str, to: str, note: str) -> Change:
        """Make `to` the owner in one step, with a note for them; a closed conversation reopens."""

        def decide(conv: Conversation) -> Change:
            self._may_manage(conv, user, "hand off")
            if conv.owner == to:
                raise Refused(f"<@{to}> already owns {conv.ref}.")
            if not note.strip():
                raise Refused("A handoff needs a note for the new owner.")
            now = self.clock.now()
            events = [Event("handed_off", user, now, before=conv.owner or "", after=to, note=note)]
            owned, reopened = self._owned_by(conv, to, "handoff", user, now)
            return Change(
                owned,
                events=events + reopened,
                jobs=[
                    notice(f":handshake: <@{user}> handed {conv.ref} to <@{to}>:\n{quoted(note)}"),
                    REFRESH,
                    SlackJob(
                        "dm", {"user": to, "text": f"<@{user}> handed you {conv.ref}: {note}"}
                    ),
                ],
            )

        change = self.update(number, decide)
        if change.ok:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.lpush(self.keys.handed_to(to), number)
                pipe.ltrim(self.keys.handed_to(to), 0, 49)
                pipe.execute()
        return change

    def hand_over(self, number: int, to: str | None, note: str) -> Change:
        """Move a shift-owned conversation to the incoming shift (or its queue), as Baton."""

        def decide(conv: Conversation) -> Change:
            if conv.assigned_by != "shift" or conv.owner == to:
                raise Refused(f"{conv.ref} is not the shift's to hand over.")
            now = self.clock.now()
            jobs = [REFRESH]
            if to:
                jobs.insert(
                    0,
                    notice(f":arrows_counterclockwise: Shift change: {conv.ref} moves to <@{to}>."),
                )
                jobs.append(
                    SlackJob("dm", {"user": to, "text": f"Shift change: {conv.ref} is yours now."})
                )
            else:
                jobs.insert(
                    0,
                    notice(
                        f":arrows_counterclockwise: Shift change: no one is on shift, so {conv.ref} goes back to the {conv.queue} queue."
                    ),
                )
            return Change(
                replace(conv, owner=to, assigned_by="shift" if to else "queue"),
                events=[
                    Event(
                        "handed_off",
                        "baton",
                        now,
                        before=conv.owner or "",
                        after=to or "",
                        note=note,
                    )
                ],
                jobs=jobs,
            )

        return self.update(number, decide)

    def set_customer_name(self, number: int, user: str, name: str | None) -> Change:
        """Show the customer's name (from their contact) on the card."""

        def decide(conv: Conversation) -> Change:
            if conv.customer_name == name:
                raise Refused("unchanged")
            return Change(replace(conv, customer_name=name), jobs=[REFRESH])

        return self.update(number, decide)

    def forget(self, number: int, user: str) -> Change:
        """Erase the customer's texts and number from the conversation, keeping an audit event."""
        keys = self.keys

        def decide(conv: Conversation) -> Change:
            if conv.customer_number == FORGOTTEN:
                raise Refused(f"{conv.ref} was already erased.")
            now = self.clock.now()

            def erase(writes: Writes) -> None:
                for key in (
                    keys.messages(number),
                    keys.outbound(number),
                    keys.texted(number),
                    keys.held(number),
                    keys.inbound_sids(number),
                ):
                    writes.call("DEL", key)
                writes.call("HDEL", keys.by_phone, f"{conv.business_number}|{conv.customer_number}")

            return Change(
                replace(
                    conv,
                    customer_number=FORGOTTEN,
                    customer_name=None,
                    status="closed",
                    awaiting=False,
                    waiting_since=None,
                ),
                events=[Event("forgotten", user, now, note="customer data erased on request")],
                jobs=[
                    notice(f":wastebasket: <@{user}> erased this customer's data from Baton."),
                    REFRESH,
                ],
                extra=erase,
            )

        return self.update(number, decide)

    def loop_in(self, number: int, user: str, collaborator: str) -> Change:
        """Add a collaborator who is told and can follow the thread; ownership is unchanged."""

        def decide(conv: Conversation) -> Change:
            if collaborator == conv.owner:
                raise Refused(f"<@{collaborator}> owns {conv.ref} already.")
            if collaborator in conv.collaborators:
                raise Refused(f"<@{collaborator}> is already looped in on {conv.ref}.")
            now = self.clock.now()
            return Change(
                replace(conv, collaborators=(*conv.collaborators, collaborator)),
                events=[Event("looped_in", user, now, after=collaborator)],
                jobs=[
                    notice(f"<@{user}> looped in <@{collaborator}> on {conv.ref}."),
                    REFRESH,
                    SlackJob(
                        "dm",
                        {"user": collaborator, "text": f"<@{user}> looped you in on {conv.ref}."},
                    ),
                ],
            )

        return self.update(number, decide)

    def transfer(self, number: int, user: str, queue_name: str, summary: str) -> Change:
        """Move the conversation to another queue: a fresh card there, the old one marked moved."""

        def decide(conv: Conversation) -> Change:
            self._may_manage(conv, user, "transfer")
            queue = self.config.queue(queue_name)
            if queue is None:
                names = ", ".join(q.name for q in self.config.queues)
                raise Refused(f"There is no queue {queue_name!r}. Queues: {names}.")
            if queue.name == conv.queue:
                raise Refused(f"{conv.ref} is already in the {queue.name} queue.")
            now = self.clock.now()
            jobs = [SlackJob("card")]
            if conv.card_ts:
                jobs.append(SlackJob("retire", {"channel": conv.channel, "ts": conv.card_ts}))
            jobs.append(
                notice(f"<@{user}> moved {conv.ref} here from the {conv.queue} queue.\n{summary}")
            )
            return Change(
                replace(conv, queue=queue.name, channel=queue.channel, card_ts=None),
                events=[Event("transferred", user, now, before=conv.queue, after=queue.name)],
                jobs=jobs,
            )

        return self.update(number, decide)

    def tag(self, number: int, user: str, add: list[str], remove: list[str]) -> Change:
        """Add and remove tags; tags show on the card."""

        def decide(conv: Conversation) -> Change:
            tags = tuple(t for t in conv.tags if t not in remove)
            tags += tuple(t for t in dict.fromkeys(add) if t not in tags)
            if tags == conv.tags:
                raise Refused(f"{conv.ref} already has those tags.")
            changes = " ".join([*(f"+{t}" for t in add), *(f"-{t}" for t in remove)])
            return Change(
                replace(conv, tags=tags),
                events=[Event("tagged", user, self.clock.now(), note=changes)],
                jobs=[REFRESH],
            )

        return self.update(number, decide)

    # Delivery bookkeeping

    def card_posted(self, number: int, channel: str, ts: str) -> None:
        """Remember where the conversation's card is, so thread replies find it."""
        # The thread index first (another slot): a crash before the card's own
        # record leaves the post in flight, and the retry finds it and comes back here.
        self.redis.hset(self.keys.by_thread, f"{channel}:{ts}", number)
        self._card_posted(keys=[self.keys.conversation(number)], args=[channel, ts])

    def record_outbound(
        self,
        number: int,
        *,
        slack_ts: str,
        author: str,
        sid: str,
        body: str,
        from_number: str,
        written_at: float | None = None,
    ) -> None:
        """Record a text sent to the customer; it answers the texts that came before it was written.

        written_at is when the person wrote it (default now): a customer text
        that arrived after that is still unanswered and keeps the clock running.
        """
        now = self.clock.now()
        written = now if written_at is None else written_at
        message = {
            "direction": "out",
            "sid": sid,
            "body": body,
            "author": author,
            "slack_ts": slack_ts,
            "from": from_number,
            "at": repr(now),
        }

        def writes(more: Writes) -> None:
            more.call("HSET", self.keys.outbound(number), sid, slack_ts)
            if slack_ts:
                more.call("HSET", self.keys.texted(number), slack_ts, sid)

        def decide(conv: Conversation) -> Change:
            answered = conv.last_inbound_at is None or conv.last_inbound_at <= written
            if answered:
                # A human reply answers the customer: the response clock stops.
                conv = replace(conv, awaiting=False, waiting_since=None, used=0.0)
            return Change(
                replace(conv, replied=True), messages=[message], jobs=[REFRESH], extra=writes
            )

        self.update(number, decide)

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

        return self.update(number, decide)

    def all_numbers(self) -> Iterable[int]:
        """Yield every conversation number, oldest first."""
        for member in self.redis.zrange(self.keys.conversations, 0, -1):
            yield int(member)


FORGOTTEN = "forgotten"


def quoted(text: str) -> str:
    """Return text as a Slack block quote, line by line, exactly as typed."""
    return "\n".join(f">{line}" for line in text.splitlines() or [""])


def without(tags: tuple[str, ...], tag: str) -> tuple[str, ...]:
    """Return tags less tag."""
    return tuple(t for t in tags if t != tag)


class _Placeholders(dict):
    """Fill known placeholders and leave any other {word} as typed."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


OPTED_OUT_NOTICE = (
    ":no_entry: The customer opted out (texted a stop word). Nothing will be texted to them "
    "until they text START."
)
OPTED_IN_NOTICE = ":white_check_mark: The customer opted back in; texts can be sent again."
