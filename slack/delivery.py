"""Durable delivery to Slack: every conversation's outbox posted in order, exactly once.

How it holds together:

* A change to a conversation appends Slack jobs to that conversation's outbox
  stream (in the same transaction as the change), then adds an entry naming
  the conversation to one work stream read by a consumer group.
* A worker thread reads a work entry, takes the conversation's lock and
  performs its outbox jobs from the conversation's cursor onwards, one at a
  time, moving the cursor after each. Only one worker drains a conversation
  at a time, so Slack sees its messages in order.
* A work entry is acknowledged only after a drain that reached the end of the
  outbox, so a worker killed mid-drain leaves its entry pending; another worker
  claims it (XAUTOCLAIM) and carries on from the cursor.
* Before each post the job is marked in flight. If a worker finds its job
  already in flight (the post may have landed before a crash or a timeout),
  it first looks for the post in Slack by the message metadata it carries,
  so a retry never posts twice.
* Slack's 429 pauses every worker of the process for Retry-After seconds;
  5xx answers and network faults are retried with capped exponential backoff.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import views
from bot.conversations import Conversation, Conversations
from bot.metrics import Counters
from bot.store import Keys

logger = logging.getLogger(__name__)

GROUP = "slack-delivery"
TRANSIENT_ERRORS = {
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "ratelimited",
    "team_added_to_org",
}

# The drain's round trips, each a script over one conversation's keys
# (KEYS: its lock, delivery hash and outbox; all in the conversation's slot).
#
# The outbox jobs after the cursor, at most ARGV[1] of them; when there are
# none, the delivered jobs are trimmed (only the cursor's entry is kept).
_PENDING = """
local cursor = redis.call('HGET', KEYS[2], 'cursor') or '0-0'
local jobs = redis.call('XRANGE', KEYS[3], '(' .. cursor, '+', 'COUNT', ARGV[1])
if #jobs == 0 and cursor ~= '0-0' then redis.call('XTRIM', KEYS[3], 'MINID', cursor) end
return jobs
"""
# Take the lock with token ARGV[2] for ARGV[3] ms and return the pending jobs,
# or return false when another worker holds it.
_TAKE = (
    """
if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', ARGV[3]) then return false end
"""
    + _PENDING
)
# Release the lock if token ARGV[2] still holds it, and return the first pending
# job, if any: one appended meanwhile whose worker found the lock taken.
_RELEASE = (
    """
if redis.call('GET', KEYS[1]) == ARGV[2] then redis.call('DEL', KEYS[1]) end
"""
    + _PENDING
)
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class Transient(Exception):
    """Slack did not answer usably this time; try again later (the post may have landed)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Stuck(Exception):
    """Slack refused the job for a reason only a person can fix (bot not in channel…)."""


class Stopping(Exception):
    """The worker is shutting down in the middle of a drain."""


def _classify(exc: Exception) -> Exception:
    """Turn an error from slack_sdk into Transient or Stuck."""
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
        if status == 429:
            retry_after = exc.response.headers.get("Retry-After") or exc.response.headers.get(
                "retry-after"
            )
            try:
                wait = float(retry_after) if retry_after else 1.0
            except ValueError:
                wait = 1.0
            return Transient("rate limited", retry_after=wait)
        if status >= 500 or error in TRANSIENT_ERRORS:
            return Transient(f"HTTP {status} {error or ''}".strip())
        return Stuck(error or f"HTTP {status}")
    return Transient(f"{type(exc).__name__}: {exc}")


class SlackDelivery:
    """Deliver conversations' outboxes to Slack."""

    def __init__(
        self,
        redis_client: redis.Redis,
        keys: Keys,
        conversations: Conversations,
        slack: WebClient,
        counters: Counters,
        *,
        reclaim_after: float = 10.0,
        lock_ttl: float = 20.0,
        max_backoff: float = 30.0,
        stuck_backoff: float = 300.0,
        extras: Callable[[Conversation], views.CardExtras] = lambda _conv: views.CardExtras(),
    ) -> None:
        self.redis = redis_client
        self.keys = keys
        self.conversations = conversations
        self.slack = slack
        self.counters = counters
        self.reclaim_after = reclaim_after
        self.lock_ttl_ms = int(lock_ttl * 1000)
        self.max_backoff = max_backoff
        self.stuck_backoff = stuck_backoff
        self.extras = extras
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self._pause_until = 0.0
        self._pause_lock = threading.Lock()
        self._take = redis_client.register_script(_TAKE)
        self._release = redis_client.register_script(_RELEASE)
        self._pending = redis_client.register_script(_PENDING)
        self._renew = redis_client.register_script(_RENEW)
        self.consumer_prefix = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"

    # Running

    def ensure_group(self) -> None:
        """Create the consumer group (and the work stream) if they do not exist yet."""
        try:
            self.redis.xgroup_create(self.keys.work, GROUP, id="0", mkstream=True)
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
                name=f"slack-delivery-{index}",
                daemon=True,
            )
            thread.start()
            self.threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the workers to stop after their current job and wait for them."""
        self.stop_event.set()
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
                    entries = self._read(consumer, block_ms=250)
                for entry_id, fields in entries:
                    self.handle(entry_id, fields)
            except Stopping:
                return
            except redis.ConnectionError:
                logger.warning("redis unreachable; delivery retrying in 1s")
                self.stop_event.wait(1.0)
            except redis.ResponseError as exc:
                if "NOGROUP" in str(exc):
                    self.ensure_group()
                    continue
                logger.exception("delivery worker failed; retrying in 1s")
                self.stop_event.wait(1.0)
            except Exception:
                logger.exception("delivery worker failed; retrying in 1s")
                self.stop_event.wait(1.0)

    def _read(self, consumer: str, block_ms: int) -> list[tuple[str, dict[str, str]]]:
        answer = self.redis.xreadgroup(
            GROUP, consumer, {self.keys.work: ">"}, count=1, block=block_ms
        )
        return [entry for _stream, entries in answer or [] for entry in entries]

    def _reclaim(self, consumer: str) -> list[tuple[str, dict[str, str]]]:
        reply = self.redis.xautoclaim(
            self.keys.work, GROUP, consumer, int(self.reclaim_after * 1000), "0-0", count=20
        )
        return [(entry_id, fields) for entry_id, fields in reply[1] if fields]

    def handle(self, entry_id: str, fields: dict[str, str]) -> None:
        """Drain the conversation a work entry names; acknowledge it once drained."""
        number = int(fields["conversation"])
        if self.drain(number):
            with self.redis.pipeline(transaction=True) as pipe:
                pipe.xack(self.keys.work, GROUP, entry_id)
                pipe.xdel(self.keys.work, entry_id)
                pipe.execute()

    def run_until_idle(self, timeout: float = 10.0) -> None:
        """Deliver everything queued now, in this thread (for tools and tests)."""
        self.ensure_group()
        consumer = f"{self.consumer_prefix}-inline"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entries = self._read(consumer, block_ms=0) if self._has_new() else []
            if not entries:
                pending = self.redis.xpending_range(self.keys.work, GROUP, "-", "+", 50)
                if not pending:
                    return
                ids = [p["message_id"] for p in pending]
                entries = [
                    (entry_id, f)
                    for entry_id, f in self.redis.xclaim(self.keys.work, GROUP, consumer, 0, ids)
                    if f
                ]
                if not entries:
                    self.redis.xack(self.keys.work, GROUP, *ids)
                    continue
            for entry_id, fields in entries:
                self.handle(entry_id, fields)
        raise TimeoutError("delivery did not become idle in time")

    def _has_new(self) -> bool:
        groups = self.redis.xinfo_groups(self.keys.work)
        group = next((g for g in groups if g["name"] == GROUP), None)
        last = group["last-delivered-id"] if group else "0-0"
        return bool(self.redis.xrange(self.keys.work, min=f"({last}", count=1))

    def backlog(self) -> int:
        """Return how many work entries wait for delivery (new plus in progress)."""
        try:
            groups = self.redis.xinfo_groups(self.keys.work)
        except redis.ResponseError:
            return 0
        group = next((g for g in groups if g["name"] == GROUP), None)
        if group is None:
            return int(self.redis.xlen(self.keys.work))
        lag = group.get("lag")
        return int(group["pending"]) + int(lag if lag is not None else 0)

    # Draining one conversation

    def drain(self, number: int) -> bool:
        """Perform conversation number's outbox from its cursor; False if another worker has it."""
        while True:
            token = uuid.uuid4().hex
            jobs = self._jobs(self._take, number, token, count=20)
            if jobs is None:
                return False
            try:
                self._drain_locked(number, token, jobs)
            finally:
                # A job appended while we released the lock has a work entry of its own,
                # but its worker may have found the lock taken and left it for later:
                # look once more so it goes out now.
                more = self._jobs(self._release, number, token, count=1)
            if not more:
                return True

    def _jobs(
        self, script: Any, number: int, token: str = "", *, count: int
    ) -> list[tuple[str, dict[str, str]]] | None:
        keys = [self.keys.lock(number), self.keys.delivery(number), self.keys.outbox(number)]
        reply = script(keys=keys, args=[count, token, self.lock_ttl_ms])
        if reply is None:
            return None
        return [(job_id, dict(zip(flat[::2], flat[1::2], strict=True))) for job_id, flat in reply]

    def _drain_locked(
        self, number: int, token: str, jobs: list[tuple[str, dict[str, str]]]
    ) -> None:
        while jobs:
            for index, (job_id, job) in enumerate(jobs):
                coalesced = job["kind"] == "refresh" and any(
                    later["kind"] == "refresh" for _id, later in jobs[index + 1 :]
                )
                posted = not coalesced and self._perform_with_retry(number, job_id, job, token)
                # Cursor and counter live in different slots: pipelined, not one MULTI.
                with self.redis.pipeline(transaction=False) as pipe:
                    pipe.hset(self.keys.delivery(number), "cursor", job_id)
                    pipe.hdel(self.keys.delivery(number), "inflight")
                    if posted:
                        self.counters.add("slack_posts", pipe=pipe)
                    pipe.execute()
            # When nothing is left, this also trims the delivered jobs.
            jobs = self._jobs(self._pending, number, count=20) or []

    def _perform_with_retry(
        self, number: int, job_id: str, job: dict[str, str], token: str
    ) -> bool:
        """Perform one job, retrying until it is done; tell whether it posted a message."""
        attempt = 0
        while True:
            if self.stop_event.is_set():
                raise Stopping
            self._wait_for_pause()
            self._renew(keys=[self.keys.lock(number)], args=[token, self.lock_ttl_ms])
            try:
                return self._perform(number, job_id, job)
            except (SlackApiError, OSError) as exc:
                problem = _classify(exc)
            except (Transient, Stuck) as exc:
                problem = exc
            attempt += 1
            self.counters.add("delivery_retries")
            if isinstance(problem, Transient) and problem.retry_after is not None:
                self._pause(problem.retry_after)
                logger.warning("slack rate limited; pausing %.1fs", problem.retry_after)
                continue
            if isinstance(problem, Stuck):
                if job["kind"] not in ("card", "text"):
                    logger.error(
                        "slack refused %s for #%d (%s); skipping it", job["kind"], number, problem
                    )
                    return False
                wait = min(self.stuck_backoff, 5.0 * 2 ** min(attempt, 8))
                logger.error(
                    "slack refused %s for #%d (%s); a person must fix this. Retrying in %.0fs",
                    job["kind"],
                    number,
                    problem,
                    wait,
                )
            else:
                wait = min(self.max_backoff, 0.5 * 2 ** min(attempt, 8))
                logger.warning(
                    "slack unavailable for %s of #%d (%s); retry %d in %.1fs",
                    job["kind"],
                    number,
                    problem,
                    attempt,
                    wait,
                )
            self._sleep(wait, number, token)

    def _sleep(self, seconds: float, number: int, token: str) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.stop_event.wait(min(left, 5.0)):
                raise Stopping
            self._renew(keys=[self.keys.lock(number)], args=[token, self.lock_ttl_ms])

    def _pause(self, seconds: float) -> None:
        with self._pause_lock:
            self._pause_until = max(self._pause_until, time.monotonic() + seconds)

    def _wait_for_pause(self) -> None:
        while (left := self._pause_until - time.monotonic()) > 0:
            if self.stop_event.wait(left):
                raise Stopping

    # The Slack calls

    def _perform(self, number: int, job_id: str, job: dict[str, str]) -> bool:
        """Do one job in Slack; tell whether that posted a message (for /metrics)."""
        conv = self.conversations.get(number)
        if conv is None:  # erased on request; nothing left to show
            return False
        kind = job["kind"]
        if kind in ("card", "refresh"):
            text, blocks = views.card(conv, self.extras(conv))
            if conv.card_ts:
                try:
                    self.slack.chat_update(
                        channel=conv.channel, ts=conv.card_ts, text=text, blocks=blocks
                    )
                except SlackApiError as exc:
                    if exc.response.get("error") != "message_not_found":
                        raise
                return False
            if kind == "refresh":
                return False
            ts = self._post_once(number, job_id, conv.channel, None, text, blocks, kind="card")
            self.conversations.card_posted(number, conv.channel, ts)
            return True
        if conv.card_ts is None:
            raise Transient("the card is not posted yet")
        if kind == "text":
            media = [tuple(m) for m in json.loads(job.get("media") or "[]")]
            text = views.customer_text(conv, job.get("body", ""), media)
            self._post_once(number, job_id, conv.channel, conv.card_ts, text, None, kind="thread")
            return True
        if kind == "notice":
            self._post_once(
                number, job_id, conv.channel, conv.card_ts, job["text"], None, kind="thread"
            )
            return True
        if kind == "dm":
            # A DM repeated after a crash is a small harm; no lookup (it would need im:history).
            link = self._permalink(conv.channel, conv.card_ts)
            dm = self.slack.conversations_open(users=job["user"])["channel"]["id"]
            self.slack.chat_postMessage(
                channel=dm, text=views.direct_message(job["text"], link), unfurl_links=False
            )
            return True
        if kind == "channel":
            link = self._permalink(conv.channel, conv.card_ts)
            text = views.direct_message(job["text"], link)
            self._post_once(number, job_id, conv.channel, None, text, None, kind="channel")
            return True
        if kind == "retire":
            link = self._permalink(conv.channel, conv.card_ts)
            text, blocks = views.moved_card(conv, link)
            try:
                self.slack.chat_update(
                    channel=job["channel"], ts=job["ts"], text=text, blocks=blocks
                )
            except SlackApiError as exc:
                if exc.response.get("error") != "message_not_found":
                    raise
        elif kind == "react":
            try:
                self.slack.reactions_add(
                    channel=conv.channel, timestamp=job["ts"], name=job["name"]
                )
            except SlackApiError as exc:
                if exc.response.get("error") not in ("already_reacted", "message_not_found"):
                    raise
        else:
            logger.error("unknown outbox job %r for #%d; skipping it", kind, number)
        return False

    def _permalink(self, channel: str, ts: str) -> str:
        return str(self.slack.chat_getPermalink(channel=channel, message_ts=ts)["permalink"])

    def _post_once(
        self,
        number: int,
        job_id: str,
        channel: str,
        thread_ts: str | None,
        text: str,
        blocks: list[dict[str, Any]] | None,
        *,
        kind: str,
    ) -> str:
        delivery = self.keys.delivery(number)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(delivery, "inflight")
            pipe.hset(delivery, "inflight", job_id)
            before, _ = pipe.execute()
        if before == job_id:
            found = self._find_post(number, job_id, channel, thread_ts)
            if found:
                logger.info("#%d job %s was already in Slack; not posting again", number, job_id)
                return found
        response = self.slack.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            text=text,
            blocks=blocks,
            metadata=views.metadata(kind, number, job_id),
            unfurl_links=False,
        )
        return str(response["ts"])

    def _find_post(
        self, number: int, job_id: str, channel: str, thread_ts: str | None
    ) -> str | None:
        oldest = f"{int(job_id.split('-')[0]) / 1000 - 60:.6f}"
        if thread_ts is None:
            response = self.slack.conversations_history(
                channel=channel, oldest=oldest, limit=200, include_all_metadata=True
            )
        else:
            response = self.slack.conversations_replies(
                channel=channel, ts=thread_ts, oldest=oldest, limit=200, include_all_metadata=True
            )
        for message in response.get("messages", []):
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("job") == job_id and payload.get("conversation") == number:
                return str(message["ts"])
        return None
