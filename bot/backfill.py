"""Rebuild the report aggregates from the event logs: ``python -m bot reports backfill``.

Each conversation's events and texts are replayed in time order, one step per
moment (a commit writes its events and texts with one time), through the same
``Tally`` the commit uses; a stretch that went 24 hours unanswered is counted
at the moment it turned 24 hours old. The aggregates are replaced as a whole
and each conversation's report fields are set from the replay, so running it
twice gives the same numbers. Conversations erased by ``forget`` have no texts
left, so only their events count.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import groupby

import redis

from bot import aggregates, response
from bot.calendar import BusinessCalendar
from bot.clock import Clock
from bot.history import History
from bot.store import Keys, newest_number
from bot.tally import Ledger, Tally, is_human_reply
from bot.values import Conversation, Event, without

REPORT_FIELDS = (
    "stretch_at",
    "stretch_24h",
    "opened_at",
    "last_person",
    "first_response",
    "resolution",
    "reassignments",
    "unanswered_24h",
    "rating",
)

# Set the replayed report fields (ARGV[2..]) only if the conversation is still
# at the version read (ARGV[1]), with a new version so that a change read
# before is decided again rather than committed over them.
_RESTATE = """
if (redis.call('HGET', KEYS[1], 'version') or '') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('HINCRBY', KEYS[1], 'version', 1)
return 1
"""


@dataclass(frozen=True)
class Rebuilt:
    """What a backfill did."""

    conversations: int
    keys: int


def _step(
    conv: Conversation | None,
    number: int,
    events: Sequence[Event],
    messages: Sequence[dict[str, str]],
    at: float,
    calendar: BusinessCalendar,
) -> Conversation | None:
    """Return the conversation after one moment's events and texts, as the domain changed it."""
    stopped = False
    for event in events:
        if event.kind == "created" or conv is None:
            conv = conv or Conversation(
                number, "", "", queue=event.after, channel="", created_at=at
            )
            continue
        if event.kind in ("assigned", "claimed"):
            conv = replace(conv, owner=event.after, tags=without(conv.tags, "new"))
        elif event.kind == "handed_off":
            conv = replace(conv, owner=event.after or None, tags=without(conv.tags, "new"))
        elif event.kind == "released":
            conv = replace(conv, owner=None)
        elif event.kind == "status":
            conv = response.with_status(conv, event.after, at, calendar)  # type: ignore[arg-type]
        elif event.kind == "reopened":
            conv = replace(conv, status="open")
        elif event.kind == "transferred":
            conv = replace(conv, queue=event.after)
        elif event.kind == "tagged":
            words = event.note.split()
            tags = tuple(t for t in conv.tags if f"-{t}" not in words)
            tags += tuple(w[1:] for w in words if w.startswith("+") and w[1:] not in tags)
            conv = replace(conv, tags=tags)
        elif event.kind == "opted_out":
            conv = replace(conv, opted_out=True)
            stopped = stopped or event.who == "customer"
        elif event.kind == "opted_in":
            conv = replace(conv, opted_out=False)
        elif event.kind == "forgotten":
            conv = replace(response.stop_clock(conv), status="closed")
    if conv is None:
        return None
    for message in messages:
        if message.get("direction") == "in":
            conv = replace(conv, last_inbound_at=at)
            # A stop word ends the stretch instead of starting one.
            conv = response.stop_clock(conv) if stopped else response.start_clock(conv, at)
        elif is_human_reply(message):
            if conv.last_inbound_at is None or conv.last_inbound_at <= at:
                conv = response.stop_clock(conv)
            conv = replace(conv, replied=True)
    return conv


def replay(
    number: int,
    events: Sequence[Event],
    messages: Sequence[dict[str, str]],
    tally: Tally,
    calendar: BusinessCalendar,
    now: float,
) -> tuple[Conversation | None, list[Ledger]]:
    """Return a conversation's report state and every ledger its history adds, replayed."""
    timeline = [(e.at, 0, i, e) for i, e in enumerate(events)]
    timeline += [(float(m["at"]), 1, i, m) for i, m in enumerate(messages) if m.get("at")]
    timeline.sort(key=lambda item: item[:3])
    conv: Conversation | None = None
    ledgers: list[Ledger] = []

    def crossed(upto: float) -> None:
        nonlocal conv
        if conv is not None and response.unanswered_too_long(conv, upto):
            moment = response.unanswered_wake(conv)
            assert moment is not None
            conv, ledger = tally(conv, conv, (), (), moment)
            ledgers.append(ledger)

    for at, items in groupby(timeline, key=lambda item: item[0]):
        step = list(items)
        crossed(at)
        step_events = [item[3] for item in step if item[1] == 0]
        step_messages = [item[3] for item in step if item[1] == 1]
        after = _step(conv, number, step_events, step_messages, at, calendar)  # type: ignore[arg-type]
        if after is None:
            continue
        after, ledger = tally(conv, after, step_events, step_messages, at)  # type: ignore[arg-type]
        conv = after
        ledgers.append(ledger)
    crossed(now)
    return conv, ledgers


class Backfill:
    """Rebuild the aggregates from every conversation's events and texts."""

    def __init__(
        self,
        redis_client: redis.Redis,
        keys: Keys,
        tally: Tally,
        calendar: BusinessCalendar,
        clock: Clock,
    ) -> None:
        self.redis = redis_client
        self.keys = keys
        self.tally = tally
        self.calendar = calendar
        self.clock = clock
        self.history = History(redis_client, keys)
        self._restate = redis_client.register_script(_RESTATE)

    def numbers(self) -> Iterator[int]:
        """Yield every conversation number ever given."""
        yield from range(1, newest_number(self.redis, self.keys) + 1)

    def run(self) -> Rebuilt:
        """Replace the aggregates with those the event logs give; return what was done."""
        old = list(aggregates.Aggregates(self.redis, self.keys).keys_of())
        for start in range(0, len(old), 500):
            self.redis.unlink(*old[start : start + 500])
        now = self.clock.now()
        done = 0
        for number in self.numbers():
            key = self.keys.conversation(number)
            raw = self.redis.hgetall(key)
            if not raw:
                continue
            live = Conversation.from_fields(raw)
            events = self.history.events(number)
            messages = self.history.messages(number)
            replayed, ledgers = replay(number, events, messages, self.tally, self.calendar, now)
            with self.redis.pipeline(transaction=False) as pipe:
                for ledger in ledgers:
                    # The open count is taken from the conversation as it is now, below.
                    ledger.open.clear()
                    aggregates.write(ledger, self.keys, pipe.execute_command)
                if live.status != "closed":
                    field = f"{live.queue}|{live.owner or ''}"
                    pipe.hincrby(self.keys.report_open, field, 1)
                pipe.execute()
            if replayed is not None:
                fields = replayed.to_fields()
                args = [raw.get("version", "")]
                for name in REPORT_FIELDS:
                    args += [name, fields[name]]
                self._restate(keys=[key], args=args)
            done += 1
        return Rebuilt(done, sum(1 for _ in aggregates.Aggregates(self.redis, self.keys).keys_of()))
