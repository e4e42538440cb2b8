"""Team replies: which thread messages are texted to the customer, and texting them once."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Literal, Protocol

from bot import views
from bot.conversations import Conversation, Conversations, SlackJob, notice
from sms.failures import SmsFailed
from sms.numbers import mask
from sms.segments import MAX_BODY

logger = logging.getLogger(__name__)

HELD_SECONDS = 24 * 3600


class SentText(Protocol):
    sid: str


class TextSender(Protocol):
    """Anything that can text a customer (sms.gateway.SmsGateway)."""

    def send(self, to: str, body: str, *, from_: str | None = None) -> SentText: ...


@dataclass(frozen=True)
class ThreadMessage:
    """A person's message in a conversation's Slack thread, already in plain text."""

    channel: str
    ts: str
    user: str
    text: str
    has_files: bool = False


Outcome = Literal[
    "sent",
    "note",
    "not_owner",
    "unclaimed",
    "duplicate",
    "empty",
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
        sender: TextSender,
    ) -> None:
        self.conversations = conversations
        self.sender = sender
        self.redis = conversations.redis
        self.keys = conversations.keys
        self.config = conversations.config

    def handle(self, conv: Conversation, message: ThreadMessage) -> ReplyResult:
        """Text the message to the customer if the reply policy lets its author, else say why."""
        if message.text.lstrip().startswith(self.config.note_prefix):
            return ReplyResult("note", conv)
        if not message.text.strip():
            return ReplyResult("empty", conv)
        if self.config.reply_policy == "owner" and conv.owner != message.user:
            if conv.owner is None:
                self.hold(conv, message)
                return ReplyResult("unclaimed", conv)
            return ReplyResult("not_owner", conv)
        return self.send(conv, message)

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
            return "That message was already sent or is too old to send from here.", None
        held = json.loads(raw)
        if held["user"] != user:
            return "Only the person who wrote that message can send it.", None
        change = self.conversations.claim(number, user)
        if not change.ok and not (change.conversation and change.conversation.owner == user):
            return change.refused, None
        if not self.redis.hdel(self.keys.held(number), ts):
            return "That message was already sent.", None
        conv = self.conversations.get(number)
        assert conv is not None
        message = ThreadMessage(channel=held["channel"], ts=ts, user=user, text=held["text"])
        return None, self.send(conv, message)

    def send(self, conv: Conversation, message: ThreadMessage) -> ReplyResult:
        """Text a thread message to the customer unless it was already texted or cannot be."""
        if not self.redis.hsetnx(self.keys.texted(conv.number), message.ts, "sending"):
            return ReplyResult("duplicate", conv)
        result = self._text(conv, message.user, message.text, slack_ts=message.ts)
        if result.outcome != "sent":
            self.redis.hset(self.keys.texted(conv.number), message.ts, f"not sent: {result.reason}")
        return result

    def text_customer(self, conv: Conversation, user: str, body: str) -> ReplyResult:
        """Text the customer something written outside the thread, and show it in the thread."""
        result = self._text(conv, user, body, slack_ts="")
        if result.outcome == "sent":
            self.conversations.post_to_thread(
                conv.number, notice(views.outbound_notice(user, body))
            )
        return result

    def _text(self, conv: Conversation, user: str, body: str, *, slack_ts: str) -> ReplyResult:
        if conv.opted_out:
            reason = (
                "the customer opted out (texted STOP); nothing can be texted until they text START"
            )
            return self._refuse(conv, user, "opted_out", reason)
        if len(body) > MAX_BODY:
            reason = f"it is {len(body):,} characters; a text can be at most {MAX_BODY:,}"
            return self._refuse(conv, user, "too_long", reason)
        written_at = self.conversations.clock.now()
        try:
            sent = self.sender.send(conv.customer_number, body, from_=conv.business_number)
        except SmsFailed as failure:
            self.conversations.count("texts_failed")
            if failure.code == 21610:
                self.conversations.set_opted_out(conv.number, failure.reason)
            return self._refuse(conv, user, "failed", failure.reason)
        self.conversations.count("texts_out")
        self.conversations.record_outbound(
            conv.number,
            slack_ts=slack_ts,
            author=user,
            sid=sent.sid,
            body=body,
            from_number=conv.business_number,
            written_at=written_at,
        )
        logger.info("#%d text from %s sent to %s", conv.number, user, mask(conv.customer_number))
        return ReplyResult("sent", conv, sid=sent.sid)

    def _refuse(self, conv: Conversation, user: str, outcome: Outcome, reason: str) -> ReplyResult:
        self.conversations.post_to_thread(
            conv.number, notice(f":warning: <@{user}>'s message was not texted: {reason}.")
        )
        return ReplyResult(outcome, conv, reason=reason)

    def delivery_status(
        self, conv: Conversation, sid: str, status: str, error_code: int | None, reason: str
    ) -> None:
        """Show Twilio's verdict on a text in Slack: a reaction when delivered, the reason when not."""
        slack_ts = self.conversations.slack_message_for(conv.number, sid)
        if slack_ts is None:
            return
        if status not in ("delivered", "failed", "undelivered"):
            return
        # Twilio may repeat a callback; only the first final status shows in Slack.
        if not self.redis.hsetnx(self.keys.outbound(conv.number), f"status:{sid}", status):
            return
        if status == "delivered":
            if slack_ts:
                self.conversations.post_to_thread(
                    conv.number, SlackJob("react", {"ts": slack_ts, "name": "white_check_mark"})
                )
            return
        if error_code == 21610:
            self.conversations.set_opted_out(conv.number, reason)
        jobs = [notice(f":warning: A text was not delivered: {reason}.")]
        if slack_ts:
            jobs.insert(0, SlackJob("react", {"ts": slack_ts, "name": "x"}))
        self.conversations.post_to_thread(conv.number, *jobs)
