"""Texts to customers from the SMS outbox: each sent once through Twilio, whatever fails.

The outbox (``bot.outbox``) marks a job in flight before each attempt. A job
found in flight again (the process died, or Twilio's answer was lost) is first
looked up in Twilio's own message log, by number, body and time, and only sent
if Twilio has no such text. Twilio's 5xx, 429 and timeouts are retried with
backoff; a refusal (4xx) is shown in the thread with its reason, and with a
Retry button where retrying can help.
"""

from __future__ import annotations

import logging

from bot.conversations import Conversations
from bot.lanes import Job, Transient, conversation_of
from bot.replies import Replies
from bot.values import FORGOTTEN, Conversation
from bot.views import notices
from sms.failures import SmsFailed, SmsUnavailable
from sms.gateway import SentSms, SmsGateway
from sms.numbers import mask

logger = logging.getLogger(__name__)

# Twilio refusals that no retry can change: the text is shown as not sent, for good.
FINAL_CODES = frozenset({21211, 21610, 21612, 21614, 21617})


class SmsPerformer:
    """Do SMS outbox jobs: text the customer through Twilio, or say why not."""

    def __init__(
        self,
        gateway: SmsGateway,
        conversations: Conversations,
        replies: Replies,
    ) -> None:
        self.gateway = gateway
        self.conversations = conversations
        self.replies = replies

    def perform(self, job: Job) -> bool:
        """Text the job's message once; tell whether it was sent (for /metrics)."""
        number = conversation_of(job.lane)
        if job.kind != "text" or number is None:
            logger.error("unknown SMS job %r in %s; skipping it", job.kind, job.lane)
            return False
        conv = self.conversations.for_job(number, job.context)
        if conv is None or conv.customer_number == FORGOTTEN:
            return False  # erased on request: nothing is texted to them any more
        fields = job.fields
        fields = {**fields, "attempt": job.id}
        if conv.opted_out:
            self.replies.refused(conv, fields, notices.OPTED_OUT_REASON, retry=False)
            return False
        sent = self._find(conv, fields) if job.again else None
        if sent is None:
            try:
                sent = self.gateway.send(
                    conv.customer_number, fields["body"], from_=conv.business_number
                )
            except SmsUnavailable as exc:
                raise Transient(exc.reason) from exc
            except SmsFailed as failure:
                if failure.code == 21610:
                    self.conversations.set_opted_out(conv.number, failure.reason)
                retry = failure.code not in FINAL_CODES
                self.replies.refused(conv, fields, failure.reason, retry=retry)
                return False
        self.conversations.record_outbound(
            conv.number,
            slack_ts=fields.get("slack_ts", ""),
            author=fields["author"],
            sid=sent.sid,
            body=fields["body"],
            from_number=conv.business_number,
            written_at=float(fields["written_at"]),
        )
        logger.info(
            "#%d text from %s sent to %s", conv.number, fields["author"], mask(conv.customer_number)
        )
        self.replies.sent(conv, sent.sid, fields)
        return True

    def _find(self, conv: Conversation, fields: dict[str, str]) -> SentSms | None:
        """Return the text if Twilio already has it (an earlier attempt's answer was lost)."""
        try:
            found = self.gateway.find_sent(
                conv.customer_number,
                fields["body"],
                from_=conv.business_number,
                since=float(fields["written_at"]),
                known=self.conversations.sent_sids(conv.number),
            )
        except SmsUnavailable as exc:
            raise Transient(exc.reason) from exc
        if found is not None:
            logger.info(
                "#%d text %s was already sent; not sending it again", conv.number, found.sid
            )
        return found
