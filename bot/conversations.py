"""Conversations: reading them, and changing them one committed transition at a time.

The transitions themselves are plain functions in ``bot.ownership``; this
module reads conversations and hands those functions to the commit engine
(``bot.commit``) with the time and the config they need.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import redis

from bot import ownership, search
from bot.calendar import BusinessCalendar
from bot.change import Change, Refused
from bot.clock import Clock
from bot.commit import Commits
from bot.csat import Survey
from bot.store import Keys, blocks_through, newest_number
from bot.values import (
    FORGOTTEN,
    REFRESH,
    Conversation,
    Event,
    SlackJob,
    Status,
    phone_pair,
    thread_ref,
)
from bot.views import refusals
from config import BatonConfig
from sms.numbers import InvalidNumber, normalise

HANDED_KEPT = 50  # how many recent hand-offs each person's list keeps


class Conversations:
    """Read conversations and change them, one atomic step at a time."""

    def __init__(
        self,
        redis_client: redis.Redis,
        keys: Keys,
        commits: Commits,
        config: BatonConfig,
        calendar: BusinessCalendar,
        clock: Clock,
        survey: Survey | None = None,
    ) -> None:
        self.redis = redis_client
        self.keys = keys
        self.commits = commits
        self.config = config
        self.calendar = calendar
        self.clock = clock
        self.survey = survey

    # Reading

    def get(self, number: int) -> Conversation | None:
        """Return conversation number, or None."""
        raw = self.redis.hgetall(self.keys.conversation(number))
        return Conversation.from_fields(raw) if raw else None

    def for_job(self, number: int, context: dict[str, str] | None) -> Conversation | None:
        """Return conversation number as an outbox read it with a job (its context), else now."""
        if context is None:
            return self.get(number)
        return Conversation.from_fields(context) if context else None

    def get_many(self, numbers: list[int]) -> list[Conversation | None]:
        """Return each of the conversations numbered, or None, in one round trip."""
        with self.redis.pipeline(transaction=False) as pipe:
            for number in numbers:
                pipe.hgetall(self.keys.conversation(number))
            found = pipe.execute()
        return [Conversation.from_fields(raw) if raw else None for raw in found]

    def find_by_phone(self, business_number: str, customer_number: str) -> Conversation | None:
        """Return the conversation between these two numbers, or None."""
        number = self.redis.hget(self.keys.by_phone, phone_pair(business_number, customer_number))
        return self.get(int(number)) if number else None

    def find_by_customer(self, customer_number: str) -> list[Conversation]:
        """Return every conversation with this customer number, on any business number."""
        pairs = self.redis.hscan_iter(self.keys.by_phone, match=phone_pair("*", customer_number))
        found = (self.get(int(number)) for _pair, number in pairs)
        return sorted((c for c in found if c), key=lambda c: c.number)

    def find_by_thread(self, channel: str, ts: str) -> Conversation | None:
        """Return the conversation whose card is message ts in channel, or None."""
        number = self.redis.hget(self.keys.by_thread, thread_ref(channel, ts))
        return self.get(int(number)) if number else None

    def find_ref(self, ref: str, region: str) -> Conversation:
        """Return the conversation a person named as #12, 12 or a phone number; Refused if none."""
        text = ref.strip()
        if re.fullmatch(r"#?\d{1,9}", text):
            conv = self.get(int(text.lstrip("#")))
            if conv is None:
                raise Refused(refusals.no_conversation_named(text))
            return conv
        try:
            number = normalise(text, region, strict=False)
        except InvalidNumber:
            raise Refused(refusals.not_a_reference(text)) from None
        found = self.find_by_customer(number)
        if not found:
            raise Refused(refusals.no_conversation_with(number))
        if len(found) > 1:
            raise Refused(refusals.several_conversations(number, found))
        return found[0]

    def events(self, number: int) -> list[Event]:
        """Return the conversation's ownership and status events, oldest first."""
        return self.commits.history.events(number)

    def messages(self, number: int) -> list[dict[str, str]]:
        """Return the conversation's texts in both directions, oldest first."""
        return self.commits.history.messages(number)

    def active_numbers(self) -> list[int]:
        """Return the numbers of the conversations not closed, oldest first.

        They are kept in blocks of BLOCK numbers (bot.derived); those an older Baton
        kept in one sorted set are read as well. A conversation an older Baton closed
        may still be named here until its next change: active() and open_owners()
        read it and drop it.
        """
        newest = newest_number(self.redis, self.keys)
        blocks = [self.keys.active_block(block) for block in blocks_through(newest)]
        # Not pipelined: a cluster's pipeline refuses a command of several keys.
        kept = self.redis.sunion(blocks)
        older = self.redis.zrange(self.keys.active, 0, -1)
        return sorted({int(n) for n in kept} | {int(n) for n in older})

    def active(self) -> list[Conversation]:
        """Return every conversation that is not closed, oldest first."""
        numbers = self.active_numbers()
        with self.redis.pipeline(transaction=False) as pipe:
            for number in numbers:
                pipe.hgetall(self.keys.conversation(int(number)))
            found = [Conversation.from_fields(raw) for raw in pipe.execute() if raw]
        return [c for c in found if c.status != "closed"]

    def open_owners(self) -> list[str | None]:
        """Return the owner of each conversation not closed (None when it has none).

        What a least-loaded pick counts, read as two fields of each conversation
        rather than all of it: at 2,000 open, under a third of active()'s time
        (bench/open_reads.py). Every stored conversation has a status, so one
        without is one that is gone, which active() drops too.
        """
        numbers = self.active_numbers()
        with self.redis.pipeline(transaction=False) as pipe:
            for number in numbers:
                pipe.hmget(self.keys.conversation(number), "status", "owner")
            found = pipe.execute()
        return [owner or None for status, owner in found if status not in (None, "closed")]

    def handed_to(self, user: str, limit: int = 10) -> list[Conversation]:
        """Return the conversations most recently handed to user, newest first."""
        numbers = self.redis.lrange(self.keys.handed_to(user), 0, limit - 1)
        found = (self.get(int(n)) for n in dict.fromkeys(numbers))
        return [c for c in found if c is not None and c.owner == user]

    def sent_sids(self, number: int) -> set[str]:
        """Return the sids of the texts sent to the customer that are recorded."""
        return set(self.redis.hkeys(self.keys.outbound(number)))

    def slack_message_for(self, number: int, sid: str) -> str | None:
        """Return the ts of the Slack message an outbound text came from."""
        return self.redis.hget(self.keys.outbound(number), sid)

    # Changing: each is one transition of bot.ownership, committed

    def claim(self, number: int, user: str) -> Change:
        """Make user the owner of an unclaimed conversation; exactly one racing claim wins."""
        return self.commits.update(number, lambda c: ownership.claim(c, user, self.clock.now()))

    def release(self, number: int, user: str) -> Change:
        """Give the conversation back to its queue (its owner, or an admin, may)."""
        admins = self.config.admins
        return self.commits.update(
            number, lambda c: ownership.release(c, user, self.clock.now(), admins)
        )

    def set_status(self, number: int, user: str, status: Status) -> Change:
        """Set the status to open, pending or closed, recording who did it.

        Resolving asks the customer for a rating, in the same commit, when CSAT is on.
        """

        def decide(conv: Conversation) -> Change:
            now = self.clock.now()
            change = ownership.set_status(conv, user, status, now, self.calendar)
            if status == "closed" and self.survey is not None:
                return self.survey.asked(conv, change, now)
            return change

        return self.commits.update(number, decide)

    def hand_off(self, number: int, user: str, to: str, note: str) -> Change:
        """Make `to` the owner in one step, with a note for them; a closed conversation reopens."""
        change = self.commits.update(
            number,
            lambda c: ownership.hand_off(
                c,
                user,
                to,
                note,
                self.clock.now(),
                admins=self.config.admins,
                calendar=self.calendar,
            ),
        )
        if change.ok:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.lpush(self.keys.handed_to(to), number)
                pipe.ltrim(self.keys.handed_to(to), 0, HANDED_KEPT - 1)
                pipe.execute()
        return change

    def hand_over(self, number: int, to: str | None, note: str) -> Change:
        """Move a shift-owned conversation to the incoming shift (or its queue), as Baton."""
        return self.commits.update(
            number, lambda c: ownership.hand_over(c, to, note, self.clock.now())
        )

    def loop_in(self, number: int, user: str, collaborator: str) -> Change:
        """Add a collaborator who is told and can follow the thread; ownership is unchanged."""
        return self.commits.update(
            number, lambda c: ownership.loop_in(c, user, collaborator, self.clock.now())
        )

    def transfer(self, number: int, user: str, queue_name: str, summary: str) -> Change:
        """Move the conversation to another queue: a fresh card there, the old one marked moved."""
        return self.commits.update(
            number,
            lambda c: ownership.transfer(
                c, user, queue_name, summary, self.clock.now(), self.config
            ),
        )

    def tag(self, number: int, user: str, add: list[str], remove: list[str]) -> Change:
        """Add and remove tags; tags show on the card."""
        return self.commits.update(
            number, lambda c: ownership.tag(c, user, add, remove, self.clock.now())
        )

    def reindex_all(self) -> int:
        """Put every conversation's words in the find index (those stored before it); return how many.

        Idempotent: each is one commit that adds what the conversation holds. An
        erased conversation has nothing to add and is not counted; its commit still
        takes it out of the open conversations, where a Baton older than their blocks
        that erased it left it named.
        """
        done = 0
        for number in range(1, newest_number(self.redis, self.keys) + 1):

            def reindex(conv: Conversation) -> Change:
                if conv.customer_number == FORGOTTEN:
                    return Change(conv)
                return Change(conv, reindex=True)

            change = self.commits.update(number, reindex)
            done += change.ok and change.conversation.customer_number != FORGOTTEN
        return done

    def unindex(self, number: int, terms: Iterable[str]) -> Change:
        """Take conversation number out of those index terms it no longer has (see bot.search)."""

        def stale(conv: Conversation) -> Change:
            gone = frozenset(terms) - search.field_terms(conv)
            return Change(conv, unindex=gone) if gone else Change(conv, result="unchanged")

        return self.commits.update(number, stale)

    def set_customer_name(self, number: int, name: str | None) -> Change:
        """Show the customer's name (from their contact) on the card."""
        return self.commits.update(number, lambda c: ownership.rename(c, name))

    def forget(self, number: int, user: str) -> Change:
        """Erase the customer's texts and number from the conversation, keeping an audit event."""
        return self.commits.update(
            number,
            lambda c: ownership.forget(c, user, self.clock.now(), self._cards_to_retire(number)),
        )

    def _cards_to_retire(self, number: int) -> list[SlackJob]:
        """Return the queued jobs that retire cards a transfer left, not done yet."""
        names, lane = self.keys.outboxes("slack"), f"c:{number}"
        cursor = self.redis.hget(names.state(lane), "cursor") or "0-0"
        return [
            SlackJob("retire", {"channel": job["channel"], "ts": job["ts"]})
            for _id, job in self.redis.xrange(names.outbox(lane), f"({cursor}", "+")
            if job.get("kind") == "retire"
        ]

    def set_opted_out(self, number: int, reason: str) -> Change:
        """Mark the customer opted out because the carrier said so."""
        return self.commits.update(
            number, lambda c: ownership.opted_out_by_carrier(c, reason, self.clock.now())
        )

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
    ) -> Change:
        """Record a text sent to the customer; it answers the texts that came before it was written.

        written_at is when the person wrote it (default now).
        """
        now = self.clock.now()
        message = {
            "direction": "out",
            "sid": sid,
            "body": body,
            "author": author,
            "slack_ts": slack_ts,
            "from": from_number,
            "at": repr(now),
        }
        written = now if written_at is None else written_at
        return self.commits.update(
            number, lambda c: ownership.texted(c, message, written, slack_ts)
        )

    def card_posted(self, number: int, channel: str, ts: str, pipe: Any = None) -> None:
        """Remember where the conversation's card is, so thread replies find it (in pipe, if given)."""
        self.commits.card_posted(number, channel, ts, pipe)

    def claim_prompt_posted(self, number: int, ts: str) -> None:
        """Remember a queue channel post asking someone to claim the conversation."""
        self.redis.sadd(self.keys.claim_prompts(number), ts)

    def claim_prompts(self, number: int) -> list[str]:
        """Return the claim prompts of the conversation not yet updated, oldest first."""
        return sorted(self.redis.smembers(self.keys.claim_prompts(number)))

    def claim_prompt_answered(self, number: int, ts: str) -> None:
        """Forget a claim prompt once it says who owns the conversation."""
        self.redis.srem(self.keys.claim_prompts(number), ts)

    def post_to_thread(self, number: int, *jobs: SlackJob) -> None:
        """Queue Slack work for a conversation that changes nothing else (notices, reactions)."""
        self.commits.post_to_thread(number, *jobs)

    def refresh_cards_of(self, user: str) -> None:
        """Refresh the card of every open conversation user owns (their away state shows there)."""
        for conv in self.active():
            if conv.owner == user:
                self.post_to_thread(conv.number, REFRESH)
