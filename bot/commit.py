"""The commit engine: every change to a conversation is one optimistic transaction.

A change is decided from the conversation as read (``decide`` returns a
``Change``), then committed by one Lua script that checks the version read
and writes the new state, its events, its texts and the Slack work it causes
(the outbox) together or not at all. A conversation that changed meanwhile is
read and decided again.

The script writes only in the conversation's hash slot (``{c:N}``), so that
it runs on any node of a Redis Cluster. What the change does in other slots
(the find index, the report aggregates of ``bot.tally``, the directory's
phone index, open conversations, reminder schedule and counters: ``bot.derived``
and ``bot.aggregates`` say what they are) the script appends,
as one *derived* entry, to a list in the conversation's slot: durable with
the change itself. Right after the commit each entry is applied to its target
slots, each slot by one script that first checks, in that slot, whether this
conversation's version was already applied there, so a retry or a second
process never counts twice; then the entry is removed. An entry a crash left
behind is applied by the conversation's next commit, or by the clock's sweep
(``Commits.settle_left``). Only the delivery work streams' wake-ups are hints
sent afterwards that the outboxes' own recovery puts right if a crash loses them.

On a single server (not a cluster) no key is on another node, so the commit
script itself applies the derived entries, each slot's writes checked against
that slot's record as above, and adds the wake-ups: one round trip, and nothing
left to do after it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import redis
from redis.cluster import RedisCluster

from bot import aggregates, history
from bot.change import Change, Refused
from bot.clock import Clock
from bot.derived import Derived, Schedule
from bot.history import History
from bot.lanes import conversation_lane as lane_of
from bot.metrics import Counters
from bot.store import Keys
from bot.tally import Tally
from bot.values import Conversation, SlackJob, phone_pair, thread_ref
from bot.views import refusals
from bot.writes import RUN_WRITES, Recorder, Writes

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
# (optimistic concurrency in one round trip). Every key is in the conversation's
# slot: KEYS[1] is the conversation hash, KEYS[2] its list of derived entries,
# the rest are the keys the writes touch. ARGV[1] is the version read ('' when
# there was none); ARGV[2] and ARGV[3] are a guard, the KEYS indexes of records
# of ids seen (bot.writes), joined by commas, and an id that must be in none of
# them ('' for no guard); ARGV[4] is the change's derived
# entry ('' for none); ARGV[5] is '' on a cluster, else the name of a slot's
# record of versions applied, less its hash tag (below); the writes follow.
# Returns 0 when the conversation changed since it was read; else 1 when
# committed, -1 when the guard's member is present (a retry of a change made),
# followed by the derived entries not yet applied (this change's and any a crash
# left, which a retry thus applies). On a single server, where no key is in
# another node, the derived entries are applied here too and none are returned:
# those a crash left (or an older Baton), each slot's writes once as _APPLY does;
# then this change's own, which no one else can hold a copy of, so no slot needs
# a record of it.
_COMMIT = (
    RUN_WRITES
    + """
if (redis.call('HGET', KEYS[1], 'version') or '') ~= ARGV[1] then return 0 end
if ARGV[2] ~= '' and seen_in_any(ARGV[2], ARGV[3]) then
  return {-1, redis.call('LRANGE', KEYS[2], 0, -1)}
end
run(6)
if ARGV[5] == '' then
  if ARGV[4] ~= '' then redis.call('RPUSH', KEYS[2], ARGV[4]) end
  return {1, redis.call('LRANGE', KEYS[2], 0, -1)}
end
local function apply(text, once)
  local entry = cjson.decode(text)
  local number, version = tostring(entry['n']), tonumber(entry['v'])
  for tag, commands in pairs(entry['w']) do
    local applied = ARGV[5] .. '{' .. tag .. '}'
    if not once or tonumber(redis.call('HGET', applied, number) or '0') < version then
      if once then redis.call('HSET', applied, number, tostring(version)) end
      for _, command in ipairs(commands) do redis.call(unpack(command)) end
    end
  end
end
for _, text in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do apply(text, true) end
redis.call('DEL', KEYS[2])
-- Made and applied in this one step, so nobody else holds a copy: nothing to record.
if ARGV[4] ~= '' then apply(ARGV[4], false) end
return {1, {}}
"""
)

# Apply one derived entry's writes in one other slot, once: KEYS[1] is that
# slot's record of the last version applied of each conversation, ARGV[1] the
# conversation's number, ARGV[2] the entry's version; the writes follow. Entries
# of one conversation are applied in version order, so an older one is done.
_APPLY = (
    RUN_WRITES
    + """
local done = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if done >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
run(3)
return 1
"""
)
GUARD_HIT = -1
# Phone pairs whose numbers a process keeps, so a customer's next text skips the directory.
PAIRS_KEPT = 10_000

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


# Keep an erased conversation's events as who did what and when, without their
# notes (a hand-off note may quote the customer), in place and in order. The
# erasure's own note stays.
_SCRUB_EVENTS = (
    history.LOG_AS_LIST
    + """
log_as_list(KEYS[1])
local entries = redis.call('LRANGE', KEYS[1], 0, -1)
for i, entry in ipairs(entries) do
  local object = cjson.decode(entry)
  if object['kind'] ~= 'forgotten' and object['note'] ~= nil then
    object['note'] = nil
    redis.call('LSET', KEYS[1], i - 1, cjson.encode(object))
  end
end
return #entries
"""
)


class Commits:
    """Commit conversation changes, and queue the Slack work that needs no state change."""

    def __init__(
        self,
        redis_client: redis.Redis,
        keys: Keys,
        *,
        schedule: Schedule,
        counters: Counters,
        clock: Clock,
        tally: Tally,
    ) -> None:
        self.redis = redis_client
        self.tally = tally  # what each change adds to the report aggregates
        self.keys = keys
        self.clock = clock
        self.derived = Derived(keys, clock, schedule, counters)
        self.texting = keys.outboxes("sms")
        self.history = History(redis_client, keys)
        # A single server takes a change's writes on every slot in its commit (_COMMIT).
        self.single = not isinstance(redis_client, RedisCluster)
        self._numbers: dict[str, int] = {}  # phone pair -> number, oldest first
        self._numbering = threading.Lock()
        self._commit = redis_client.register_script(_COMMIT)
        self._card_posted = redis_client.register_script(_CARD_POSTED)
        self._scrub_events = redis_client.register_script(_SCRUB_EVENTS)

    def conversation_of(
        self, business_number: str, customer_number: str, *, also: str | None = None
    ) -> tuple[int, dict[str, str], dict[str, str]]:
        """Return the number of a phone pair's conversation, numbering a new pair, and its hash.

        The hash is {} for a pair just numbered. A pair this process numbered
        before is not asked of the directory again: the conversation read proves
        it, since an erased one no longer names its customer (its pair is then
        numbered afresh, as the directory no longer has it either). also names
        a hash in any slot to read in the same round trip, returned third.
        """
        pair = phone_pair(business_number, customer_number)
        number = self._numbers.get(pair)
        if number is not None:
            raw, other = self._read_with(
                also, lambda pipe: pipe.hgetall(self.keys.conversation(number))
            )
            if raw.get("business_number") == business_number and (
                raw.get("customer_number") == customer_number
            ):
                return number, raw, other
            with self._numbering:
                self._numbers.pop(pair, None)
        # EVAL, not a registered script: a pipeline would ask first whether it is loaded.
        allocated, other = self._read_with(
            also,
            lambda pipe: pipe.execute_command(
                "EVAL", _ALLOCATE, 2, self.keys.sequence, self.keys.by_phone, pair
            ),
        )
        number, fresh = int(allocated[0]), allocated[1]
        with self._numbering:
            if len(self._numbers) >= PAIRS_KEPT:
                self._numbers.pop(next(iter(self._numbers)))  # the oldest
            self._numbers[pair] = number
        raw = {} if fresh else self.redis.hgetall(self.keys.conversation(number))
        return number, raw, other

    def _read_with(
        self, also: str | None, first: Callable[[Any], Any]
    ) -> tuple[Any, dict[str, str]]:
        """Send first's command and, if also names a hash, read it too: one round trip."""
        with self.redis.pipeline(transaction=False) as pipe:
            first(pipe)
            if also is not None:
                pipe.hgetall(also)
            found = pipe.execute()
        return found[0], found[1] if also is not None else {}

    def update(self, number: int, decide: Callable[[Conversation], Change]) -> Change:
        """Change conversation number atomically; decide raises Refused to change nothing."""

        def guarded(conv: Conversation | None) -> Change:
            if conv is None:
                return Change(None, refused=refusals.no_conversation(number))
            try:
                return decide(conv)
            except Refused as refusal:
                return Change(conv, refused=str(refusal))

        return self.transact(number, guarded)

    def transact(
        self,
        number: int,
        decide: Callable[[Conversation | None], Change],
        *,
        read: dict[str, str] | None = None,
    ) -> Change:
        """Decide and commit one change to conversation number, deciding again if it raced.

        read is the conversation's hash as just read (conversation_of), to decide on first.
        """
        key = self.keys.conversation(number)
        while True:
            raw = self.redis.hgetall(key) if read is None else read
            read = None
            before = Conversation.from_fields(raw) if raw else None
            change = decide(before)
            if not change.ok or change.conversation is None or change.result == "unchanged":
                return change
            if change.inbound_sid and before is not None and before.in_sid == change.inbound_sid:
                # A retry of the latest text, whose sid is on the conversation as just read.
                left = self.redis.lrange(self.keys.derived(number), 0, -1)
                return self._duplicate(number, before, left)
            conv = replace(change.conversation, version=change.conversation.version + 1)
            if change.inbound_sid:
                conv = replace(conv, in_sid=change.inbound_sid)
            conv, ledger = self.tally(
                before, conv, change.events, change.messages, self._moment(change)
            )
            # The texts stored so far, when the change takes their words out of the
            # index or puts them in: read after the conversation, so the version
            # check below also proves that no text came in between.
            stored = (
                self.history.messages(number)
                if change.erase or change.expire or change.reindex
                else []
            )
            writes = self._writes(number, conv, change, before)
            self.derived.indexes(writes, number, conv, change, before, stored)
            aggregates.write(ledger, self.keys, writes.call)
            self.derived.directory(conv, change, Recorder(writes))
            if self.single:
                # The wake-ups too: nothing is left to send once the script has run.
                if change.jobs:
                    writes.here("XADD", self.keys.work, "*", "conversation", number)
                if change.texts:
                    writes.here("XADD", self.texting.work, "*", "lane", lane_of(number))
            guard = ["", ""]
            if change.inbound_sid:
                guard = writes.guard(
                    [self.keys.inbound_sids(number), self.keys.inbound_sids_before(number)],
                    change.inbound_sid,
                )
            elif change.decided_ts:
                guard = writes.guard(
                    [self.keys.decided(number), self.keys.decided_before(number)],
                    change.decided_ts,
                )
            outcome = self._commit(
                keys=writes.keys,
                args=[
                    raw.get("version", ""),
                    *guard,
                    writes.derived(number, conv.version),
                    self.keys.applied("").removesuffix("{}") if self.single else "",
                    *writes.args,
                ],
            )
            if outcome == 0:
                continue  # Changed since it was read: read it again and decide again.
            if outcome[0] == GUARD_HIT:
                return self._duplicate(number, before, outcome[1])
            break
        change = replace(change, conversation=conv)
        if change.erase:
            self._scrub_events(keys=[self.keys.events(number)])
        if not self.single:
            self._settle(number, outcome[1], lambda pipe: self._wake(conv, change, pipe))
        return change

    def _duplicate(self, number: int, before: Conversation | None, left: list[str]) -> Change:
        """Refuse a retry of something already committed, settling what its first try left.

        The first attempt may have died after its commit and before waking the workers
        (a store that went away), leaving a queued text or post that nothing would pick up.
        """
        self._settle(number, left, lambda pipe: self._wake_both(number, pipe))
        return Change(before, refused="duplicate", result="duplicate")

    def _settle(self, number: int, entries: list[str], also: Callable[[Any], None]) -> None:
        """Apply a conversation's derived entries to their slots, oldest first, then drop them.

        also adds other writes to the same pipelined round trip.
        """
        with self.redis.pipeline(transaction=False) as pipe:
            for entry in entries:
                self._apply(json.loads(entry), pipe)
            also(pipe)
            pipe.execute()
        if entries:
            # Only once every slot has them: a crash before leaves them for the next try.
            with self.redis.pipeline(transaction=False) as pipe:
                for entry in entries:
                    pipe.lrem(self.keys.derived(number), 1, entry)
                pipe.execute()

    def _apply(self, entry: dict[str, Any], pipe: Any) -> None:
        for tag, commands in entry["w"].items():
            writes = Writes(self.keys.applied(tag))
            for command, key, *args in commands:
                writes.call(command, key, *args)
            # EVAL, not a registered script: a cluster's pipeline takes no EVALSHA.
            pipe.execute_command(
                "EVAL", _APPLY, len(writes.keys), *writes.keys, entry["n"], entry["v"], *writes.args
            )

    def _wake_both(self, number: int, pipe: Any) -> None:
        self.wake_delivery(number, pipe)
        self.wake_texting(number, pipe)

    def settle_left(self) -> int:
        """Apply the derived entries a crash left behind; return how many conversations had some."""
        settled = 0
        for key in self.redis.scan_iter(match=self.keys.derived_pattern, count=1000, _type="list"):
            entries = self.redis.lrange(key, 0, -1)
            if entries:
                self._settle(int(json.loads(entries[0])["n"]), entries, lambda _pipe: None)
                settled += 1
        return settled

    def _moment(self, change: Change) -> float:
        """Return when a change happened: its events' and texts' time, else now."""
        times = [e.at for e in change.events]
        times += [float(m["at"]) for m in change.messages if m.get("at")]
        return max(times) if times else self.clock.now()

    def _writes(
        self, number: int, conv: Conversation, change: Change, before: Conversation | None
    ) -> Writes:
        keys = self.keys
        writes = Writes(keys.conversation(number), keys.derived(number))
        if change.expire:
            # First, so that the change's own event keeps its note.
            messages, events = keys.messages(number), keys.events(number)
            writes.blank(messages, ("body", "media"))
            writes.blank(events, ("note",))
        if change.erase and before is not None:
            # First, so that the erasure's own notice is queued after the Slack
            # and SMS work it drops (texts not yet posted or sent).
            for content in (
                keys.messages(number),
                keys.outbound(number),
                keys.texted(number),
                keys.held(number),
                keys.inbound_sids(number),
                keys.inbound_sids_before(number),
                keys.statuses(number),
                keys.early_statuses(number),
                keys.outbox(number),
                self.texting.outbox(lane_of(number)),
            ):
                writes.call("DEL", content)
            writes.call("HDEL", keys.by_phone, before.pair)
        stored, gone = conv.to_stored(before)
        writes.hset(keys.conversation(number), stored)
        if gone:
            writes.call("HDEL", keys.conversation(number), *gone)
        for event in change.events:
            writes.append(keys.events(number), event.to_fields())
        for message in change.messages:
            writes.append(keys.messages(number), message)
        for job in change.jobs:
            writes.xadd(keys.outbox(number), job.to_fields())
        if change.inbound_sid and before is not None and before.in_sid:
            # The text before this one leaves the conversation for the record of sids.
            writes.seen(keys.inbound_sids(number), before.in_sid)
        if change.decided_ts:
            writes.seen(keys.decided(number), change.decided_ts)
        for text in change.texts:
            writes.xadd(self.texting.outbox(lane_of(number)), text)
        if change.outbound:
            sid, slack_ts = change.outbound
            writes.call("HSET", keys.outbound(number), sid, slack_ts)
            if slack_ts:
                writes.call("HSET", keys.texted(number), slack_ts, sid)
        return writes

    def _wake(self, conv: Conversation, change: Change, pipe: Any) -> None:
        if change.jobs:
            self.wake_delivery(conv.number, pipe)
        if change.texts:
            self.wake_texting(conv.number, pipe)

    def card_posted(self, number: int, channel: str, ts: str, pipe: Any = None) -> None:
        """Remember where the conversation's card is, so thread replies find it.

        With pipe, a pipeline of a single Redis, both writes are queued in it for
        its owner to send; with none, or a client (a cluster's, whose pipelines run
        no scripts), they are made here.
        """
        # The thread index first (another slot): a crash before the card's own
        # record leaves the post in flight, and the retry finds it and comes back here.
        # One round trip on a single Redis (the record's script by its text: a pipeline
        # loads none); a cluster pipeline runs no scripts.
        ref, key = thread_ref(channel, ts), self.keys.conversation(number)
        if isinstance(pipe, redis.client.Pipeline):
            pipe.hset(self.keys.by_thread, ref, number)
            pipe.eval(_CARD_POSTED, 1, key, channel, ts)
        elif isinstance(self.redis, RedisCluster):
            self.redis.hset(self.keys.by_thread, ref, number)
            self._card_posted(keys=[key], args=[channel, ts])
        else:
            with self.redis.pipeline(transaction=False) as own:
                self.card_posted(number, channel, ts, own)
                own.execute()

    def wake_delivery(self, number: int, pipe: Any = None) -> None:
        """Tell the delivery workers that conversation number has Slack work."""
        (pipe or self.redis).xadd(self.keys.work, {"conversation": str(number)})

    def wake_texting(self, number: int, pipe: Any = None) -> None:
        """Tell the SMS workers that conversation number has texts to send."""
        (pipe or self.redis).xadd(self.texting.work, {"lane": lane_of(number)})

    def post_to_threads(
        self, posts: dict[int, SlackJob], also: Callable[[Any], None] = lambda _pipe: None
    ) -> None:
        """Queue one Slack job each for conversations that change nothing else, in two round trips.

        also adds other writes to the first round trip.
        """
        with self.redis.pipeline(transaction=False) as pipe:
            for number, job in posts.items():
                pipe.xadd(self.keys.outbox(number), job.to_fields())
            also(pipe)
            pipe.execute()
        # Only then the wake-ups: on a cluster the outboxes may be on other nodes,
        # and a worker woken before its job is queued would find nothing to do.
        with self.redis.pipeline(transaction=False) as pipe:
            for number in posts:
                self.wake_delivery(number, pipe)
            pipe.execute()

    def post_to_thread(self, number: int, *jobs: SlackJob) -> None:
        """Queue Slack work for a conversation that changes nothing else (notices, reactions)."""
        with self.redis.pipeline(transaction=True) as pipe:
            for job in jobs:
                pipe.xadd(self.keys.outbox(number), job.to_fields())
            pipe.execute()
        self.wake_delivery(number)
