"""Lanes: what an outbox delivers in order, the jobs in them, and what a performer may raise.

A lane is a conversation (``c:12``) or a queue (``q:sales``); its keys carry the
lane as hash tag, so a lane's jobs, cursor and lock share one slot. The scripts
here are the drain's round trips over those keys.
"""

from __future__ import annotations

from dataclasses import dataclass

# The drain's round trips, each a script over one lane's keys
# (KEYS: its lock, state hash and outbox; all in the lane's slot).
#
# The outbox jobs after the cursor, at most ARGV[1] of them; when there are
# none, every job is done and the outbox is emptied: a delivered job keeps no
# customer's words in Redis (a queue's lane is not erased with a customer).
PENDING_SCRIPT = """
local cursor = redis.call('HGET', KEYS[2], 'cursor') or '0-0'
local jobs = redis.call('XRANGE', KEYS[3], '(' .. cursor, '+', 'COUNT', ARGV[1])
if #jobs == 0 and cursor ~= '0-0' then redis.call('XTRIM', KEYS[3], 'MAXLEN', 0) end
return jobs
"""
# Take the lock with token ARGV[2] for ARGV[3] ms and return the pending jobs,
# or return false when another worker holds it.
TAKE_SCRIPT = (
    """
if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', ARGV[3]) then return false end
"""
    + PENDING_SCRIPT
)
# Release the lock if token ARGV[2] still holds it, and return the first pending
# job, if any: one appended meanwhile whose worker found the lock taken.
RELEASE_SCRIPT = (
    """
if redis.call('GET', KEYS[1]) == ARGV[2] then redis.call('DEL', KEYS[1]) end
"""
    + PENDING_SCRIPT
)
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

    @property
    def kind(self) -> str:
        """Return what the job is (card, text, …): the performer's choice of method."""
        return self.fields.get("kind", "")
