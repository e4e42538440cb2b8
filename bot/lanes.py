"""Lanes: what an outbox delivers in order, the jobs in them, and what a performer may raise.

A lane is a conversation (``c:12``) or a queue (``q:sales``); its keys carry the
lane as hash tag, so a lane's jobs, cursor and lock share one slot. The scripts
here are the drain's round trips over those keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# The drain's round trips, each a script over one lane's keys (all in the lane's slot).
#
# One step of a drain, one round trip (KEYS: the lane's lock, state hash and
# outbox, and the hash a job is done with: the lane's conversation, or the lock
# again when there is none, and, when the outbox's work stream may be named with
# them (not on a cluster: another slot), that stream; ARGV: "take" or "next", the
# token, the lock's ms, how many jobs to read, the job just done, the job to do
# next if known, "1" to return the hash, and the consumer group and the work
# entry that woke the drain, "" for none).
# take: take the lock, or return false when another worker holds it.
# next: move the cursor past the job done and renew the lock.
# Then the job to do next (the one given, else the first pending; none left:
# delete the outbox and the cursor, so a delivered job keeps no customer's words
# and an idle lane no memory in Redis, let go of the lock, and acknowledge and
# delete the work entry) is marked in flight. Returns the jobs read (none when the
# next was given), the job in flight before ("" if none), the hash's fields (empty
# if not asked for or gone), and 1 if the work entry was acknowledged, else 0.
STEP_SCRIPT = """
if ARGV[1] == 'take' then
  if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', ARGV[3]) then return false end
else
  redis.call('HSET', KEYS[2], 'cursor', ARGV[5])
  redis.call('HDEL', KEYS[2], 'inflight')
  if redis.call('GET', KEYS[1]) == ARGV[2] then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
end
local jobs = {}
local next_job = ARGV[6]
if next_job == '' then
  local cursor = redis.call('HGET', KEYS[2], 'cursor') or '0-0'
  jobs = redis.call('XRANGE', KEYS[3], '(' .. cursor, '+', 'COUNT', ARGV[4])
  if #jobs == 0 then
    if cursor ~= '0-0' then
      -- All done: the lane keeps no keys (its next job's id is after 0-0 whatever the clock).
      redis.call('DEL', KEYS[3])
      redis.call('HDEL', KEYS[2], 'cursor')
    end
    if redis.call('GET', KEYS[1]) == ARGV[2] then redis.call('DEL', KEYS[1]) end
    if KEYS[5] and ARGV[9] ~= '' then
      redis.call('XACK', KEYS[5], ARGV[8], ARGV[9])
      redis.call('XDEL', KEYS[5], ARGV[9])
      return {jobs, '', {}, 1}
    end
    return {jobs, '', {}, 0}
  end
  next_job = jobs[1][1]
end
local before = redis.call('HGET', KEYS[2], 'inflight') or ''
redis.call('HSET', KEYS[2], 'inflight', next_job)
local context = {}
if ARGV[7] == '1' then context = redis.call('HGETALL', KEYS[4]) end
return {jobs, before, context, 0}
"""
# Let go of the lane (KEYS[1]: its lock) if token ARGV[1] still holds it.
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""
# Queue a job once (KEYS: the lane's once-key for the job's name, and its outbox):
# claim the name for ARGV[1] seconds and append the job (ARGV[2..], field and
# value in turn) in one step, or do nothing when the name was claimed already.
ONCE_SCRIPT = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
return 1
"""
# The lane's first job not done yet, if no worker holds the lane (KEYS: its
# lock, state hash and outbox).
IDLE_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local cursor = redis.call('HGET', KEYS[2], 'cursor') or '0-0'
local jobs = redis.call('XRANGE', KEYS[3], '(' .. cursor, '+', 'COUNT', 1)
if #jobs == 0 then return false end
return jobs[1][1]
"""
RENEW_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
# Before an attempt (KEYS: the lane's lock and state hash): renew the lock if
# token ARGV[1] still holds it, mark job ARGV[3] in flight and return the job
# that was in flight before, if any.
MARK_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
local before = redis.call('HGET', KEYS[2], 'inflight')
redis.call('HSET', KEYS[2], 'inflight', ARGV[3])
return before
"""


class Transient(Exception):
    """The job could not be done this time; try again later (it may have been done).

    With retry_after (a rate limit) it certainly was not: the next attempt is
    not treated as a repeat, so nothing is looked up before it.
    """

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Parked(Exception):
    """The job cannot start now: its lane waits its turn elsewhere and will be drained again.

    Nothing of the job was done. The worker lets go of the lane without moving
    its cursor, and whatever parked it hands the lane to a worker later.
    """


class Deferred(Exception):
    """The job would wait, and it may as well go after the jobs behind it (a card refresh).

    Nothing of it was done; the outbox moves it to the end of its lane.
    """


class Stuck(Exception):
    """The job was refused for a reason only a person can fix (bot not in channel…)."""


def conversation_lane(number: int) -> str:
    """Return the lane of conversation number."""
    return f"c:{number}"


def queue_lane(name: str) -> str:
    """Return the lane of the queue called name."""
    return f"q:{name}"


def lane_named(fields: dict[str, str]) -> str | None:
    """Return the lane a work entry names, if any (conversations name theirs by number)."""
    number = fields.get("conversation", "")
    return fields.get("lane") or (conversation_lane(int(number)) if number.isdigit() else None)


def conversation_of(lane: str) -> int | None:
    """Return the number of the conversation whose lane this is, or None."""
    kind, _, rest = lane.partition(":")
    return int(rest) if kind == "c" and rest.isdigit() else None


@dataclass(frozen=True)
class Job:
    """One job of a lane's outbox, as the performer gets it."""

    lane: str
    id: str
    fields: dict[str, str]
    # In flight already: an earlier attempt may have done it; look before doing it again.
    again: bool = False
    # Other jobs wait behind it in the lane (a job that may go later can say Deferred).
    followed: bool = False
    # The fields of the hash the outbox reads with the job (the lane's conversation,
    # read as the job was marked in flight); None when it read none.
    context: dict[str, str] | None = field(default=None, compare=False)
    # Writes to make with the step that marks the job done, when the performer
    # returns: the outbox gives each the pipeline of that step's round trip (they
    # go just before it), or, on a cluster, the client for a round trip of its
    # own just before it. Each must be safe to make twice: should one fail while
    # the step went through, the outbox makes them again at once.
    with_step: list[Callable[[Any], None]] = field(default_factory=list, compare=False)

    @property
    def kind(self) -> str:
        """Return what the job is (card, text, …): the performer's choice of method."""
        return self.fields.get("kind", "")
