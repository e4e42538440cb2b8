"""Durable delivery: every lane's outbox performed in order, exactly once.

An outbox knows nothing of what it delivers to: a performer does each job
(``slack.delivery`` posts to Slack) and raises Transient or Stuck when it
could not. How it holds together:

* A lane is what must be delivered in order: a conversation (``c:12``) or a
  queue (``q:sales``). A change appends jobs to its lane's outbox stream (a
  conversation's in the same transaction as the change), then adds an entry
  naming the lane to the outbox's work stream, read by a consumer group.
* A worker thread reads a work entry, takes the lane's lock and performs its
  jobs from the lane's cursor onwards, one at a time, moving the cursor after
  each. Only one worker drains a lane at a time, so jobs are done in order.
* A work entry is acknowledged only after a drain that reached the end of the
  outbox, so a worker killed mid-drain leaves its entry pending; another worker
  claims it (XAUTOCLAIM) and carries on from the cursor.
* Before each attempt the job is marked in flight. The performer is told when
  it already was (the previous attempt may have done it before a crash or a
  timeout), so it can look for what it did before doing it again.
* Transient with retry_after (a rate limit) pauses every worker of the outbox
  in this process, and the job is not counted in flight (a refused call did
  nothing); other Transient problems are retried with capped exponential
  backoff.
* A job the performer defers (Deferred: it would wait, and the jobs behind it
  need not) is queued again at the end of its lane, and the cursor passes it.
* A performer that paces itself raises Parked when a job must wait its turn
  behind other lanes: the worker lets go of the lane (the cursor stays) and
  acknowledges its work entry; the performer's next_lanes hands such lanes
  back to workers when their turn comes.
* A Stuck job is dead-lettered: its lane, id, kind, the reason and the time
  (never its content) go to the outbox's dead-letter stream, and the cursor
  moves on so the jobs behind it go out. A kind that must be delivered is
  first retried (10 s, 20 s, 40 s…) for dead_letter_after seconds, so a person
  who fixes the cause meanwhile still gets it; once such a job was given up
  on, a later job of the same drain refused for the same reason is given up on
  at once (the lane already waited for a person).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis

from bot.clock import Clock, SystemClock
from bot.lanes import (
    MARK_SCRIPT,
    RELEASE_SCRIPT,
    RENEW_SCRIPT,
    STEP_SCRIPT,
    Deferred,
    Job,
    Parked,
    Stuck,
    Transient,
    lane_named,
)
from bot.metrics import Counters
from bot.outbox_health import Health, backlog, health
from bot.outbox_queue import OutboxQueue
from bot.store import Keys

logger = logging.getLogger(__name__)

# Seconds an idle worker waits in Redis for work (XREADGROUP BLOCK) before looking again;
# well under redis-py's socket timeout (5 s), which would cut the wait short with an error.
IDLE_WAIT = 3.0
# Dead letters kept per outbox (the oldest go first); a reason is cut to this many characters.
DEAD_LETTERS_KEPT = 10_000
REASON_CHARS = 200


class Stopping(Exception):
    """The worker is shutting down in the middle of a drain."""


class Outbox:
    """Perform the jobs of an outbox's lanes, in order per lane, with a performer."""

    def __init__(
        self,
        name: str,
        redis_client: redis.Redis,
        keys: Keys,
        perform: Callable[[Job], bool],
        counters: Counters,
        *,
        must_deliver: frozenset[str] = frozenset(),
        coalesced: frozenset[str] = frozenset(),
        done_counter: str | None = None,
        retry_counter: str | None = None,
        reclaim_after: float = 10.0,
        lock_ttl: float = 20.0,
        max_backoff: float = 30.0,
        stuck_backoff: float = 300.0,
        dead_letter_after: float = 300.0,
        clock: Clock | None = None,
        next_lanes: Callable[[], list[str]] | None = None,
        context_key: Callable[[str], str | None] | None = None,
    ) -> None:
        """Build an outbox; nothing runs until start() or run_until_idle().

        Args:
            name: names its keys, consumer group and threads ("slack", "sms", …).
            perform: does one job; True counts it in done_counter. Raises
                Transient or Stuck when the job was not done.
            must_deliver: job kinds a Stuck holds up for dead_letter_after
                seconds (retrying) before they are dead-lettered; others are
                dead-lettered at once.
            coalesced: job kinds whose next one, when already queued, makes this one redundant.
            next_lanes: lanes a worker drains after each work entry (those the
                performer parked whose turn came); None when it parks none.
            context_key: the hash, in the lane's slot, read with each job for the
                performer (Job.context): a conversation lane's conversation.
        """
        self.name = name
        self.redis = redis_client
        self.keys = keys.outboxes(name)
        self.perform = perform
        self.counters = counters
        self.must_deliver = must_deliver
        self.coalesced = coalesced
        self.done_counter = done_counter
        self.retry_counter = retry_counter
        self.reclaim_after = reclaim_after
        self.lock_ttl_ms = int(lock_ttl * 1000)
        self.max_backoff = max_backoff
        self.stuck_backoff = stuck_backoff
        self.dead_letter_after = dead_letter_after
        self.clock = clock or SystemClock()
        self.next_lanes = next_lanes
        self._cluster = isinstance(redis_client, redis.RedisCluster)
        self.context_key = context_key
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self._pause_until = 0.0
        self._pause_lock = threading.Lock()
        self._step_script = redis_client.register_script(STEP_SCRIPT)
        self._release = redis_client.register_script(RELEASE_SCRIPT)
        self._renew = redis_client.register_script(RENEW_SCRIPT)
        self._mark = redis_client.register_script(MARK_SCRIPT)
        self.consumer_prefix = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.queue = OutboxQueue(redis_client, self.keys)

    # Running

    def ensure_group(self) -> None:
        """Create the consumer group (and the work stream) if they do not exist yet."""
        try:
            self.redis.xgroup_create(self.keys.work, self.keys.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def start(self, threads: int) -> None:
        """Start worker threads that run until stop() is called."""
        self.ensure_group()
        for index in range(threads):
            thread = threading.Thread(
                target=self.run,
                args=(f"{self.consumer_prefix}-{index}",),
                name=f"{self.name}-delivery-{index}",
                daemon=True,
            )
            thread.start()
            self.threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the workers to stop after their current job and wait for them.

        A worker waiting for work is woken by an entry naming no lane (one per
        worker); whoever reads one only acknowledges it.
        """
        self.stop_event.set()
        if self.threads:
            try:
                with self.redis.pipeline(transaction=False) as pipe:
                    for _thread in self.threads:
                        pipe.xadd(self.keys.work, {"wake": self.consumer_prefix})
                    pipe.execute()
            except redis.RedisError:
                pass  # the store is gone: the workers' reads end with it
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.threads = []

    def run(self, consumer: str) -> None:
        """Work until stopped: take work entries (new, or abandoned by dead workers) and drain."""
        next_reclaim = 0.0
        while not self.stop_event.is_set():
            try:
                if time.monotonic() >= next_reclaim:
                    next_reclaim = time.monotonic() + max(1.0, self.reclaim_after / 2)
                    entries = self._reclaim(consumer)
                else:
                    # Idle, a worker waits in Redis for work rather than asking again and again.
                    wait = max(0.0, min(IDLE_WAIT, next_reclaim - time.monotonic()))
                    entries = self._read(consumer, block_ms=max(1, round(wait * 1000)))
                for entry_id, fields in entries:
                    self.handle(entry_id, fields)
                self._drain_turns()
            except Stopping:
                return
            except (redis.ConnectionError, redis.TimeoutError):
                logger.warning("redis unreachable; %s delivery retrying in 1s", self.name)
                self.stop_event.wait(1.0)
            except redis.ResponseError as exc:
                if "NOGROUP" in str(exc):
                    self.ensure_group()
                    continue
                logger.exception("%s delivery worker failed; retrying in 1s", self.name)
                self.stop_event.wait(1.0)
            except Exception:
                logger.exception("%s delivery worker failed; retrying in 1s", self.name)
                self.stop_event.wait(1.0)

    def _read(self, consumer: str, block_ms: int | None) -> list[tuple[str, dict[str, str]]]:
        # block_ms None: answer at once (BLOCK 0 would wait forever for an entry a worker took).
        answer = self.redis.xreadgroup(
            self.keys.group, consumer, {self.keys.work: ">"}, count=1, block=block_ms
        )
        return [entry for _stream, entries in answer or [] for entry in entries]

    def _reclaim(self, consumer: str) -> list[tuple[str, dict[str, str]]]:
        reply = self.redis.xautoclaim(
            self.keys.work,
            self.keys.group,
            consumer,
            int(self.reclaim_after * 1000),
            "0-0",
            count=20,
        )
        return [(entry_id, fields) for entry_id, fields in reply[1] if fields]

    def handle(self, entry_id: str, fields: dict[str, str]) -> None:
        """Drain the lane a work entry names; acknowledge the entry once drained.

        An entry naming no lane (a worker being woken to stop) is only acknowledged.
        """
        lane = lane_named(fields)
        if lane is None:
            self._acknowledge(entry_id)
        else:
            self.drain(lane, entry_id)

    def _acknowledge(self, entry_id: str) -> None:
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.xack(self.keys.work, self.keys.group, entry_id)
            pipe.xdel(self.keys.work, entry_id)
            pipe.execute()

    def _drain_turns(self) -> None:
        """Drain the parked lanes whose turn came, and those they lead to."""
        while self.next_lanes and (lanes := self.next_lanes()):
            for lane in lanes:
                self.drain(lane)

    def run_until_idle(self, timeout: float = 10.0) -> None:
        """Deliver everything queued now, in this thread (for tools and tests)."""
        self.ensure_group()
        consumer = f"{self.consumer_prefix}-inline"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entries = self._read(consumer, block_ms=None) if self._has_new() else []
            if not entries:
                pending = self.redis.xpending_range(self.keys.work, self.keys.group, "-", "+", 50)
                if not pending:
                    return
                ids = [p["message_id"] for p in pending]
                entries = [
                    (entry_id, f)
                    for entry_id, f in self.redis.xclaim(
                        self.keys.work, self.keys.group, consumer, 0, ids
                    )
                    if f
                ]
                if not entries:
                    self.redis.xack(self.keys.work, self.keys.group, *ids)
                    continue
            for entry_id, fields in entries:
                self.handle(entry_id, fields)
            self._drain_turns()
        raise TimeoutError(f"{self.name} delivery did not become idle in time")

    def _has_new(self) -> bool:
        groups = self.redis.xinfo_groups(self.keys.work)
        group = next((g for g in groups if g["name"] == self.keys.group), None)
        last = group["last-delivered-id"] if group else "0-0"
        return bool(self.redis.xrange(self.keys.work, min=f"({last}", count=1))

    def backlog(self) -> int:
        """Return how many work entries wait for delivery (new plus in progress)."""
        return backlog(self.redis, self.keys)

    def health(self) -> Health:
        """Return the backlog, how long its oldest work has waited, and the dead letters kept."""
        return health(self.redis, self.keys, self.clock)

    # Draining one lane

    def drain(self, lane: str, entry: str = "") -> bool:
        """Perform lane's outbox from its cursor, then acknowledge entry; False if another worker has it.

        Each step is one round trip: taking the lane marks its first job in
        flight (and reads the lane's conversation with it); after each job one
        script moves the cursor and marks the next, or, when none is left,
        empties the outbox and lets go of the lane in the same step, so a job
        appended meanwhile is either seen or finds the lane free. entry, the
        work entry that woke the drain (none for a lane a room handed over), is
        acknowledged once the lane is drained or parked: on a single Redis by
        that last step itself, on a cluster (the work stream is in another
        slot) in a round trip of its own. A lane another worker has keeps its
        entry pending.
        """
        token = uuid.uuid4().hex
        in_step = "" if self._cluster else entry
        step = self._step(lane, token, "take", entry=in_step)
        if step is None:
            return False
        jobs, before, context, acked = step
        try:
            acked = self._drain_locked(lane, token, jobs, before, context, in_step) or acked
        except Parked:
            # The lane waits for its turn where the performer parked it.
            self._release(keys=[self.keys.lock(lane)], args=[token])
        except BaseException:
            self._release(keys=[self.keys.lock(lane)], args=[token])
            raise
        if entry and not acked:
            self._acknowledge(entry)
        return True

    def _lane_keys(self, lane: str) -> list[str]:
        return [self.keys.lock(lane), self.keys.state(lane), self.keys.outbox(lane)]

    def _step(
        self,
        lane: str,
        token: str,
        mode: str,
        done: str = "",
        following: str = "",
        *,
        counted: str | None = None,
        entry: str = "",
        with_step: list[Callable[[Any], None]] | None = None,
    ) -> tuple[list[tuple[str, dict[str, str]]], str, dict[str, str] | None, bool] | None:
        """Run one step of a drain (see STEP_SCRIPT).

        Returns the jobs read, the one in flight before, the context, and whether
        the step acknowledged work entry entry (the lane was let go). With counted,
        that counter is added to, and with with_step the job's writes made
        (Job.with_step), in the same round trip, just before.
        """
        context_key = self.context_key(lane) if self.context_key else None
        keys = [*self._lane_keys(lane), context_key or self.keys.lock(lane)]
        if entry:
            keys.append(self.keys.work)
        args = [mode, token, self.lock_ttl_ms, 20, done, following, "1" if context_key else "0"]
        args += [self.keys.group, entry]
        writes = with_step or []
        if self._cluster and (counted is not None or writes):
            # A cluster pipeline runs no scripts: these go in round trips of their own.
            if counted is not None:
                self.counters.add(counted)
            for write in writes:
                write(self.redis)
            counted, writes = None, []
        if counted is None and not writes:
            reply = self._step_script(keys=keys, args=args)
        else:
            with self.redis.pipeline(transaction=False) as pipe:
                if counted is not None:
                    self.counters.add(counted, pipe=pipe)  # another slot: not in the script
                for write in writes:
                    write(pipe)
                pipe.evalsha(self._step_script.sha, len(keys), *keys, *args)
                *replies, reply = pipe.execute(raise_on_error=False)
            if writes and any(isinstance(answer, Exception) for answer in replies):
                # The step may have gone through without them: made again, at once.
                for write in writes:
                    write(self.redis)
            if isinstance(reply, redis.exceptions.NoScriptError):
                reply = self._step_script(keys=keys, args=args)  # loads it (a restarted Redis)
            elif isinstance(reply, Exception):
                raise reply
        if reply is None:
            return None
        raw, before, flat, acked = reply
        jobs = [(job_id, dict(zip(f[::2], f[1::2], strict=True))) for job_id, f in raw]
        context = dict(zip(flat[::2], flat[1::2], strict=True)) if context_key else None
        return jobs, before, context, bool(acked)

    def _drain_locked(
        self,
        lane: str,
        token: str,
        jobs: list[tuple[str, dict[str, str]]],
        before: str,
        context: dict[str, str] | None,
        entry: str = "",
    ) -> bool:
        """Perform the jobs read and those after them; True if the last step acknowledged entry."""
        acked = False
        given_up: set[str] = set()  # reasons this drain waited for in vain
        while jobs:
            read, jobs = jobs, []
            for index, (job_id, fields) in enumerate(read):
                kind = fields.get("kind", "")
                following = read[index + 1][0] if index + 1 < len(read) else ""
                coalesced = kind in self.coalesced and any(
                    later.get("kind") == kind for _id, later in read[index + 1 :]
                )
                mark = (before, context)
                with_step: list[Callable[[Any], None]] = []
                try:
                    done, dead = False, None
                    if not coalesced:
                        done, dead, with_step = self._perform_with_retry(
                            lane, job_id, fields, token, given_up, bool(following), mark
                        )
                except Deferred:
                    # Behind the rest: queued again, and passed below like a job done.
                    self.redis.xadd(self.keys.outbox(lane), fields)
                # Counted, the job's own writes made, then the cursor moved, in one round
                # trip; the cursor moves before a dead letter is written, so the jobs
                # behind it go out even if writing it down fails.
                counted = self.done_counter if done else None
                jobs, before, context, acked = self._step(
                    lane,
                    token,
                    "next",
                    job_id,
                    following,
                    counted=counted,
                    entry=entry,
                    with_step=with_step,
                ) or ([], "", None, False)
                if dead is not None:
                    if kind in self.must_deliver:
                        given_up.add(dead)  # the lane waited for a person to fix it
                    with self.redis.pipeline(transaction=False) as pipe:
                        self._dead_letter(pipe, lane, job_id, kind, dead)
                        pipe.execute()
        return acked

    def _dead_letter(self, pipe: Any, lane: str, job_id: str, kind: str, reason: str) -> None:
        """Write down a job given up on, in pipe: what finds it, never what it carried."""
        letter = {
            "lane": lane,
            "job": job_id,
            "kind": kind,
            "reason": reason,
            "at": repr(self.clock.now()),
        }
        pipe.xadd(self.keys.dead, letter, maxlen=DEAD_LETTERS_KEPT, approximate=True)
        self.counters.add("dead_letters", pipe=pipe, outbox=self.name)

    def _perform_with_retry(
        self,
        lane: str,
        job_id: str,
        fields: dict[str, str],
        token: str,
        given_up: set[str],
        followed: bool,
        mark: tuple[str, dict[str, str] | None],
    ) -> tuple[bool, str | None, list[Callable[[Any], None]]]:
        """Perform one job, retrying until it is done or given up on.

        mark is what marking it in flight found (the job in flight before) and
        read (the context), done by the drain's step for the first attempt.
        Returns what perform returned, the reason when the job is to be
        dead-lettered (None otherwise), and the writes the job asked to make with
        its step (Job.with_step).
        """
        attempt = 0
        stuck_since: float | None = None
        before, context = mark
        while True:
            if self.stop_event.is_set():
                if attempt == 0:
                    self.redis.hdel(self.keys.state(lane), "inflight")  # not tried: nothing done
                raise Stopping
            self._wait_for_pause(lane, token)
            if attempt:
                before = self._mark(
                    keys=[self.keys.lock(lane), self.keys.state(lane)],
                    args=[token, self.lock_ttl_ms, job_id],
                )
                context = None  # the performer reads what it needs itself
            job = Job(
                lane, job_id, fields, again=before == job_id, followed=followed, context=context
            )
            try:
                return self.perform(job), None, job.with_step
            except (Parked, Deferred):
                self.redis.hdel(self.keys.state(lane), "inflight")
                raise
            except (Transient, Stuck) as exc:
                problem = exc
            attempt += 1
            if isinstance(problem, Stuck):
                reason = str(problem)[:REASON_CHARS]
                if stuck_since is None:
                    stuck_since = time.monotonic()
                left = self.dead_letter_after - (time.monotonic() - stuck_since)
                if job.kind not in self.must_deliver or left <= 0 or reason in given_up:
                    logger.error(
                        "%s refused %s job %s of %s (%s) on attempt %d; dead-lettering it"
                        " so the jobs behind it go out",
                        self.name,
                        job.kind,
                        job_id,
                        lane,
                        reason,
                        attempt,
                    )
                    return False, reason, []
                wait = min(self.stuck_backoff, 5.0 * 2 ** min(attempt, 8), left)
                logger.error(
                    "%s refused %s for %s (%s); a person must fix this. Retrying in %.0fs,"
                    " dead-lettering it in %.0fs",
                    self.name,
                    job.kind,
                    lane,
                    reason,
                    wait,
                    left,
                )
            elif problem.retry_after is not None:
                wait = 0.0  # the pause is the wait, shared by every worker of the outbox
                self.redis.hdel(self.keys.state(lane), "inflight")  # refused: nothing was done
                self._pause(problem.retry_after)
                logger.warning("%s rate limited; pausing %.1fs", self.name, problem.retry_after)
            else:
                wait = min(self.max_backoff, 0.5 * 2 ** min(attempt, 8))
                logger.warning(
                    "%s unavailable for %s of %s (%s); retry %d in %.1fs",
                    self.name,
                    job.kind,
                    lane,
                    problem,
                    attempt,
                    wait,
                )
            if self.retry_counter:
                self.counters.add(self.retry_counter)
            self._sleep(wait, lane, token)

    def _sleep(self, seconds: float, lane: str, token: str) -> None:
        """Wait seconds (unless stopped), keeping the lane's lock all along."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.stop_event.wait(min(left, self.lock_ttl_ms / 3000)):
                raise Stopping
            self._renew(keys=[self.keys.lock(lane)], args=[token, self.lock_ttl_ms])

    def _pause(self, seconds: float) -> None:
        with self._pause_lock:
            self._pause_until = max(self._pause_until, time.monotonic() + seconds)

    def _wait_for_pause(self, lane: str, token: str) -> None:
        # A pause may outlast the lane's lock: the worker keeps the lane all along.
        while (left := self._pause_until - time.monotonic()) > 0:
            self._sleep(left, lane, token)
