"""Team replies: which thread messages are texted to the customer, and texting them once.

A thread message is decided on as it arrives, before Slack gets its answer:
texted (a job in the conversation's SMS outbox, committed with the decision),
refused with a note in the thread (opted out, too long), or kept in Slack as
team discussion. The SMS outbox (``sms.delivery``) then sends it exactly once.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Literal

import redis

from bot.change import Change, Refused
from bot.clock import Clock
from bot.conversations import Conversations
from bot.metrics import Counters
from bot.ownership import may_text
from bot.store import Keys
from bot.values import FORGOTTEN, Conversation, SlackJob, notice, whisper
from bot.views import answers, notices, refusals
from config import BatonConfig
from sms.segments import MAX_BODY

logger = logging.getLogger(__name__)

HELD_SECONDS = 24 * 3600
# A status callback can come before the text it is about is recorded (the SMS
# provider answers the send, then calls back, while Baton is still committing):
# it is kept this long and shown once the text's record lands.
EARLY_STATUS_SECONDS = 600
FINAL_STATUSES = ("delivered", "failed", "undelivered")


@dataclass(frozen=True)
class ThreadMessage:
    """A person's message in a conversation's Slack thread, already in plain text."""

    channel: str
    ts: str
    user: str
    text: str
    has_files: bool = False
    thread_ts: str = ""  # the thread it was written in, where its author is answered


Outcome = Literal[
    "sent",
    "queued",
    "erased",
    "note",
    "not_owner",
    "unclaimed",
    "duplicate",
    "empty",
    "moved",
    "opted_out",
    "too_long",
    "failed",
]


@dataclass(frozen=True)
class ReplyResult:
    """What became of a thread message, so the handler can tell its author."""

    outcome: Outcome
    conversation: Conversation
    sid: str | None = None
    reason: str | None = None


class Replies:
    """Decide whether a thread message goes to the customer, and send it at most once."""

    def __init__(
        self,
        conversations: Conversations,
        *,
        redis_client: redis.Redis,
        keys: Keys,
        config: BatonConfig,
        clock: Clock,
        counters: Counters,
    ) -> None:
        self.conversations = conversations
        self.redis = redis_client
        self.keys = keys
        self.config = config
        self.clock = clock
        self.counters = counters
        self.commits = conversations.commits

    def handle(
        self, conv: Conversation, message: ThreadMessage, *, moved: bool = False
    ) -> ReplyResult:
        """Text the message to the customer if the reply policy lets its author, else say why.

        Decided before Slack gets its answer: a text is queued, and a refusal is
        a note to its author queued with the decision, so neither is lost if
        Slack or Baton fails after the answer. moved: the message is in a
        thread the conversation left (a transfer).
        """
        if message.text.lstrip().startswith(self.config.note_prefix):
            return ReplyResult("note", conv)
        if conv.customer_number == FORGOTTEN:
            return self._tell(conv, message, "erased", notices.ERASED_THREAD)
        if moved:
            return self._tell(conv, message, "moved", answers.moved_away(conv))
        if not message.text.strip():
            if message.has_files:
                return self._tell(conv, message, "empty", answers.FILE_ONLY_NOT_SENT)
            return ReplyResult("empty", conv)
        if not may_text(conv, message.user, self.config.reply_policy):
            if conv.owner is None:
                self.hold(conv, message)
                held = notices.held_value(conv.number, message.channel, message.ts)
                return self._tell(conv, message, "unclaimed", *notices.unclaimed_note(conv, held))
            return self._tell(conv, message, "not_owner", notices.not_owner_note(conv))
        return self._queue(conv, message, decided=message.ts, tell=True)

    def _tell(
        self,
        conv: Conversation,
        message: ThreadMessage,
        outcome: Outcome,
        text: str,
        blocks: list[dict] | None = None,
    ) -> ReplyResult:
        """Record that a thread message is not texted, with a note to its author; once."""
        job = _note_to_author(message, text, blocks)
        change = self.commits.update(
            conv.number, lambda now: Change(now, jobs=[job], decided_ts=message.ts)
        )
        if change.result == "duplicate":
            return ReplyResult("duplicate", conv)
        return ReplyResult(outcome, change.conversation or conv)

    def hold(self, conv: Conversation, message: ThreadMessage) -> None:
        """Keep an unsent message for a day, for its author's Claim & send."""
        held = json.dumps({"user": message.user, "text": message.text, "channel": message.channel})
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.held(conv.number), message.ts, held)
            pipe.expire(self.keys.held(conv.number), HELD_SECONDS)
            pipe.execute()

    def claim_and_send(
        self, number: int, ts: str, user: str
    ) -> tuple[str | None, ReplyResult | None]:
        """Claim the conversation for user and text the message they wrote; once only.

        Returns (refusal, result): a refusal sentence when the claim was refused.
        """
        raw = self.redis.hget(self.keys.held(number), ts)
        if raw is None:
            return refusals.HELD_GONE, None
        held = json.loads(raw)
        if held["user"] != user:
            return refusals.NOT_YOUR_MESSAGE, None
        change = self.conversations.claim(number, user)
        if not change.ok and not (change.conversation and change.conversation.owner == user):
            return change.refused, None
        if not self.redis.hdel(self.keys.held(number), ts):
            return refusals.ALREADY_SENT, None
        conv = self.conversations.get(number)
        assert conv is not None
        message = ThreadMessage(channel=held["channel"], ts=ts, user=user, text=held["text"])
        # The message's own ts was spent on the refusal that offered this button.
        return None, self._queue(conv, message, decided=f"{ts}/claimed")

    def send(self, conv: Conversation, message: ThreadMessage, *, retry: str = "") -> ReplyResult:
        """Queue a thread message for the customer, or refuse it in the thread; once per message.

        The decision is committed with the conversation (the message's ts is
        recorded with it), so a repeated Slack event decides nothing twice.
        retry names an earlier refused attempt a person asked to try again.
        """
        return self._queue(
            conv, message, decided=f"{message.ts}/retry/{retry}" if retry else message.ts
        )

    def _queue(
        self,
        conv: Conversation,
        message: ThreadMessage,
        *,
        decided: str | None,
        as_owner: bool = True,
        tell: bool = False,
    ) -> ReplyResult:
        """Commit the decision on one message; tell: answer its author in the thread."""
        outcome: list[Outcome] = []
        reason: list[str] = []

        def refuse(now: Conversation, why: Outcome, text: str) -> Change:
            if not tell:
                raise Refused(why)
            outcome[:] = [why]
            return Change(now, jobs=[_note_to_author(message, text)], decided_ts=decided)

        def decide(now: Conversation) -> Change:
            if now.customer_number == FORGOTTEN:
                return refuse(now, "erased", notices.ERASED_THREAD)
            if as_owner and not may_text(now, message.user, self.config.reply_policy):
                # Ownership changed since the message came.
                return refuse(now, "not_owner", notices.not_owner_note(now))
            problem = None
            if now.opted_out:
                outcome[:], problem = ["opted_out"], notices.OPTED_OUT_REASON
            elif len(message.text) > MAX_BODY:
                problem = notices.too_long_reason(len(message.text), MAX_BODY)
                outcome[:] = ["too_long"]
            if problem:
                reason[:] = [problem]
                note = notice(notices.not_texted(message.user, problem))
                return Change(now, jobs=[note], decided_ts=decided)
            outcome[:] = ["queued"]
            jobs = (
                [_note_to_author(message, notices.FILE_NOT_SENT)]
                if tell and message.has_files
                else []
            )
            text = {
                "kind": "text",
                "slack_ts": message.ts,
                "author": message.user,
                "body": message.text,
                "written_at": repr(self.clock.now()),
            }
            return Change(now, texts=[text], jobs=jobs, decided_ts=decided)

        change = self.commits.update(conv.number, decide)
        if change.result == "duplicate":
            return ReplyResult("duplicate", conv)
        if not change.ok:
            refused: Outcome = "erased" if change.refused == "erased" else "not_owner"
            return ReplyResult(
                refused, change.conversation or conv, reason=refusals.not_retried(refused)
            )
        return ReplyResult(outcome[0], change.conversation or conv, reason=(reason or [None])[0])

    def retry(self, number: int, ts: str, attempt: str, user: str) -> str | None:
        """Try again a text Twilio refused, once per refusal; return why not, or None."""
        raw = self.redis.hget(self.keys.held(number), f"retry:{ts}")
        if raw is None:
            return refusals.HELD_GONE
        held = json.loads(raw)
        if held["user"] != user:
            return refusals.NOT_YOUR_MESSAGE
        conv = self.conversations.get(number)
        if conv is None or not self.redis.hdel(self.keys.held(number), f"retry:{ts}"):
            return refusals.ALREADY_SENT
        message = ThreadMessage(channel=held["channel"], ts=ts, user=user, text=held["text"])
        result = self.send(conv, message, retry=attempt)
        if result.outcome not in ("queued", "duplicate"):
            return refusals.not_retried(result.outcome)
        return None

    def refused(
        self, conv: Conversation, fields: dict[str, str], reason: str, *, retry: bool
    ) -> None:
        """Show in the thread that Twilio refused a text, with Retry when retrying can help."""
        self.counters.add("texts_failed")
        author, ts = fields["author"], fields.get("slack_ts", "")
        if not (retry and ts):
            self.conversations.post_to_thread(
                conv.number, notice(notices.not_texted(author, reason))
            )
            return
        held = json.dumps({"user": author, "text": fields["body"], "channel": conv.channel})
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.held(conv.number), f"retry:{ts}", held)
            pipe.expire(self.keys.held(conv.number), HELD_SECONDS)
            pipe.execute()
        job = SlackJob(
            "refused",
            {
                "text": notices.not_texted(author, reason),
                "slack_ts": ts,
                "attempt": fields["attempt"],
            },
        )
        self.conversations.post_to_thread(conv.number, job)

    def sent(self, conv: Conversation, sid: str, fields: dict[str, str]) -> None:
        """Show a text the SMS outbox sent: in the thread if written outside it, and its early status."""
        if not fields.get("slack_ts"):
            note = notice(notices.outbound_notice(fields["author"], fields["body"]))
            self.conversations.post_to_thread(conv.number, note)
        self._show_early_status(conv, sid)

    def text_customer(self, conv: Conversation, user: str, body: str) -> ReplyResult:
        """Queue a text written outside the thread (a command, a template, a hand-off).

        The SMS outbox sends it once and the thread shows it then; a text that
        cannot go (opted out, too long) is refused here, and in the thread.
        """
        message = ThreadMessage(channel=conv.channel, ts="", user=user, text=body)
        # Whoever may send it was checked by the caller: a hand-off's message is
        # the previous owner's last word.
        return self._queue(conv, message, decided=None, as_owner=False)

    def delivery_status(
        self, conv: Conversation, sid: str, status: str, error_code: int | None, reason: str
    ) -> None:
        """Show the carrier's verdict on a text in Slack: a reaction when delivered, the reason when not.

        A verdict on a text whose record has not landed yet is kept and shown when it lands.
        """
        if status not in FINAL_STATUSES:
            return
        slack_ts = self.conversations.slack_message_for(conv.number, sid)
        if slack_ts is None:
            early = self.keys.early_statuses(conv.number)
            verdict = json.dumps({"status": status, "code": error_code, "reason": reason})
            with self.redis.pipeline(transaction=True) as pipe:
                pipe.hsetnx(early, sid, verdict)
                pipe.expire(early, EARLY_STATUS_SECONDS)
                pipe.execute()
            # The record may have landed while this was kept: look once more.
            slack_ts = self.conversations.slack_message_for(conv.number, sid)
            if slack_ts is None:
                return
        self._show_status(conv, sid, slack_ts, status, error_code, reason)

    def _show_early_status(self, conv: Conversation, sid: str) -> None:
        raw = self.redis.hget(self.keys.early_statuses(conv.number), sid)
        slack_ts = self.conversations.slack_message_for(conv.number, sid)
        if raw is None or slack_ts is None:
            return
        verdict = json.loads(raw)
        self._show_status(
            conv, sid, slack_ts, verdict["status"], verdict["code"], verdict["reason"]
        )

    def _show_status(
        self,
        conv: Conversation,
        sid: str,
        slack_ts: str,
        status: str,
        error_code: int | None,
        reason: str,
    ) -> None:
        # Twilio may repeat a callback, and an early one is looked at twice: only
        # the first final status shows in Slack.
        if not self.redis.hsetnx(self.keys.statuses(conv.number), sid, status):
            return
        if status == "delivered":
            if slack_ts:
                self.conversations.post_to_thread(
                    conv.number, SlackJob("react", {"ts": slack_ts, "name": "white_check_mark"})
                )
            return
        if error_code == 21610:
            self.conversations.set_opted_out(conv.number, reason)
        jobs = [notice(notices.not_delivered(reason))]
        if slack_ts:
            jobs.insert(0, SlackJob("react", {"ts": slack_ts, "name": "x"}))
        self.conversations.post_to_thread(conv.number, *jobs)


def _note_to_author(
    message: ThreadMessage, text: str, blocks: list[dict] | None = None
) -> SlackJob:
    """Return the job telling a thread message's author, in its thread, what became of it."""
    return whisper(
        message.user,
        message.channel,
        message.thread_ts,
        text,
        json.dumps(blocks) if blocks else "",
    )
