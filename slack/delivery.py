"""Slack's side of delivery: do one outbox job with the Slack Web API.

The outbox (``bot.outbox``) decides when and in what order; this decides how,
one method per job kind, and turns Slack's answers into the outbox's
Transient (try again later) and Stuck (a person must fix something). Every
post carries message metadata naming its job, so a job done again after a
crash or a lost answer finds its post instead of posting twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from functools import partial
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import views
from bot.conversations import Conversations
from bot.digest import compose
from bot.lanes import Job, Stuck, Transient, conversation_of
from bot.reports import Reports
from bot.values import FORGOTTEN, Conversation
from bot.views import digest as digest_views
from slack import pacing
from slack.uploads import Uploads

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = {
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "ratelimited",
    "team_added_to_org",
}
# A refusal holds these up (a person must fix it) instead of skipping them:
# a conversation without its card or a customer's text would be lost, and a
# week's digest is not queued again.
MUST_DELIVER = frozenset({"card", "text", "digest"})
# One refresh of the card does for several queued in a row.
COALESCED = frozenset({"refresh"})
# What is still done for a conversation whose customer was erased: its card says so.
AFTER_ERASURE = frozenset({"card", "refresh", "erased", "whisper", "retire"})
# Jobs that name the thread they go in, so need no card first.
OWN_THREAD = frozenset({"card", "refresh", "whisper"})


def classify(exc: SlackApiError | OSError) -> Transient | Stuck:
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


class SlackPerformer:
    """Do outbox jobs in Slack."""

    def __init__(
        self,
        slack: WebClient,
        conversations: Conversations,
        *,
        extras: Callable[[Conversation], views.CardExtras] = lambda _conv: views.CardExtras(),
        reports: Reports | None = None,
        name_of: Callable[[str], str] = str,
        uploads: Uploads | None = None,
    ) -> None:
        self.slack = slack
        self.conversations = conversations
        self.extras = extras
        self.reports = reports
        self.name_of = name_of
        self.uploads = uploads or Uploads(slack)
        # Jobs about one conversation, done with the conversation as it is now.
        self.conversation_jobs: dict[str, Callable[[Job, Conversation], bool]] = {
            "card": self._card,
            "refresh": self._card,
            "text": self._text,
            "notice": self._notice,
            "dm": self._dm,
            "channel": self._channel,
            "retire": self._retire,
            "react": self._react,
            "erased": self._notice,
            "refused": self._refused,
            "whisper": self._whisper,
        }
        # Jobs that carry all they need, in lanes of their own (a queue's).
        self.lane_jobs: dict[str, Callable[[Job], bool]] = {
            "shift_summary": self._shift_summary,
            "digest": self._digest,
        }

    def perform(self, job: Job) -> bool:
        """Do one job in Slack; tell whether that posted a message (for /metrics)."""
        try:
            return self._perform(job)
        except (SlackApiError, OSError) as exc:
            raise classify(exc) from exc

    def _perform(self, job: Job) -> bool:
        if job.kind in self.lane_jobs:
            with pacing.serving(job.lane, pacing.order(_job_time(job))):
                return self.lane_jobs[job.kind](job)
        do = self.conversation_jobs.get(job.kind)
        number = conversation_of(job.lane)
        if do is None or number is None:
            logger.error("unknown outbox job %r in %s; skipping it", job.kind, job.lane)
            return False
        conv = self.conversations.for_job(number, job.context)
        if conv is None:
            return False
        if conv.customer_number == FORGOTTEN and job.kind not in AFTER_ERASURE:
            return False  # erased on request: nothing more is shown about them
        place = pacing.order(
            _job_time(job), urgent="urgent" in conv.tags, new_card=job.kind == "card"
        )
        # A card refresh never holds up the texts behind it: it goes after them instead.
        deferrable = job.kind in COALESCED and job.followed
        with pacing.serving(job.lane, place, deferrable=deferrable):
            return self._perform_for(job, conv, do)

    def _perform_for(
        self, job: Job, conv: Conversation, do: Callable[[Job, Conversation], bool]
    ) -> bool:
        if conv.card_ts is None and job.kind not in OWN_THREAD:
            if conv.customer_number == FORGOTTEN:
                # Erased before its card was posted: no card to post, or to show in,
                # but a card a transfer left still loses what it showed.
                return job.kind == "retire" and self._retire(job, conv)
            # The card this job belongs in is not posted yet (a transfer queued a
            # new one behind this job): post it first, so nothing waits behind it.
            conv = self._post_card(job, conv)
        return do(job, conv)

    # One method per kind of job

    def _card(self, job: Job, conv: Conversation) -> bool:
        if conv.card_ts and (conv.owner or conv.status == "closed"):
            self._answer_claim_prompts(conv)
        if conv.customer_number == FORGOTTEN:
            if conv.card_ts:
                self._update(conv.channel, conv.card_ts, *views.erased_card(conv), [])
            return False
        if conv.card_ts:
            text, blocks = views.card(conv, self.extras(conv))
            self._update(conv.channel, conv.card_ts, text, blocks)
            return False
        if job.kind == "refresh":
            return False
        self._post_card(job, conv, with_step=True)
        return True

    def _post_card(self, job: Job, conv: Conversation, *, with_step: bool = False) -> Conversation:
        """Post conv's card in its channel, once, and return conv with it.

        A new conversation's card job carries its first text, shown in the card.
        The card is recorded at once, or, with_step (the job posts nothing after
        it), with the step that marks the job done, in its round trip.
        """
        text, blocks = views.card(conv, self.extras(conv))
        attachments = None
        if job.kind == "card" and "sid" in job.fields:
            attachments = views.opening(conv, job.fields.get("body", ""), _media(job.fields))
        elif job.kind != "card" and (first := self._first_text_not_shown(conv)):
            attachments = views.opening(conv, first.get("body", ""), _media(first))
        metadata = views.metadata("card", conv.number, job.id)
        ts = self._post_once(job, conv.channel, None, text, blocks, metadata, attachments)
        if with_step:
            job.with_step.append(
                partial(self.conversations.card_posted, conv.number, conv.channel, ts)
            )
        else:
            self.conversations.card_posted(conv.number, conv.channel, ts)
        return replace(conv, card_ts=ts)

    def _first_text_not_shown(self, conv: Conversation) -> dict[str, str] | None:
        """Return the first text of a conversation whose card job was given up on, if any.

        A job posting the card in its place shows it, unless the conversation
        moved queues: its first text is in the old card, which links here.
        """
        if any(event.kind == "transferred" for event in self.conversations.events(conv.number)):
            return None
        return next(
            (m for m in self.conversations.messages(conv.number) if m.get("direction") == "in"),
            None,
        )

    def _text(self, job: Job, conv: Conversation) -> bool:
        text = views.customer_text(conv, job.fields.get("body", ""), _media(job.fields))
        metadata = views.metadata("thread", conv.number, job.id)
        self._post_once(job, conv.channel, conv.card_ts, text, None, metadata)
        return True

    def _notice(self, job: Job, conv: Conversation) -> bool:
        metadata = views.metadata("thread", conv.number, job.id)
        self._post_once(job, conv.channel, conv.card_ts, job.fields["text"], None, metadata)
        return True

    def _refused(self, job: Job, conv: Conversation) -> bool:
        text, blocks = views.refused_text(
            job.fields["text"], conv.number, job.fields["slack_ts"], job.fields["attempt"]
        )
        metadata = views.metadata("thread", conv.number, job.id)
        self._post_once(job, conv.channel, conv.card_ts, text, blocks, metadata)
        return True

    def _whisper(self, job: Job, conv: Conversation) -> bool:
        # Ephemeral messages cannot be looked up: one repeated after a lost answer
        # is a note seen twice by its one reader.
        blocks = json.loads(job.fields["blocks"]) if job.fields.get("blocks") else None
        self.slack.chat_postEphemeral(
            channel=job.fields["channel"],
            user=job.fields["user"],
            thread_ts=job.fields["thread_ts"],
            text=job.fields["text"],
            blocks=blocks,
        )
        return False

    def _dm(self, job: Job, conv: Conversation) -> bool:
        # A DM repeated after a crash is a small harm; no lookup (it would need im:history).
        link = self._permalink(conv)
        dm = self.slack.conversations_open(users=job.fields["user"])["channel"]["id"]
        self.slack.chat_postMessage(
            channel=dm, text=views.direct_message(job.fields["text"], link), unfurl_links=False
        )
        return True

    def _channel(self, job: Job, conv: Conversation) -> bool:
        text = views.direct_message(job.fields["text"], self._permalink(conv))
        metadata = views.metadata("channel", conv.number, job.id)
        ts = self._post_once(job, conv.channel, None, text, None, metadata)
        if job.fields.get("claim_prompt"):
            self.conversations.claim_prompt_posted(conv.number, ts)
        return True

    def _answer_claim_prompts(self, conv: Conversation) -> None:
        """Update the channel's "Claim it?" posts to say who owns the conversation now.

        Done with each card refresh, so it rides the same outbox job: a crash
        between the updates only updates one again.
        """
        prompts = self.conversations.claim_prompts(conv.number)
        if not prompts:
            return
        text = views.claim_prompt_answered(conv, self._permalink(conv))
        for ts in prompts:
            self._update(conv.channel, ts, text, None)
            self.conversations.claim_prompt_answered(conv.number, ts)

    def _retire(self, job: Job, conv: Conversation) -> bool:
        if conv.customer_number == FORGOTTEN:
            self._update(job.fields["channel"], job.fields["ts"], *views.erased_card(conv), [])
            return False
        text, blocks = views.moved_card(conv, self._permalink(conv))
        self._update(job.fields["channel"], job.fields["ts"], text, blocks)
        return False

    def _react(self, job: Job, conv: Conversation) -> bool:
        try:
            self.slack.reactions_add(
                channel=conv.channel, timestamp=job.fields["ts"], name=job.fields["name"]
            )
        except SlackApiError as exc:
            if exc.response.get("error") not in ("already_reacted", "message_not_found"):
                raise
        return False

    def _shift_summary(self, job: Job) -> bool:
        metadata = {
            "event_type": "baton_shift_summary",
            "event_payload": {"lane": job.lane, "job": job.id},
        }
        self._post_once(job, job.fields["channel"], None, job.fields["text"], None, metadata)
        return True

    def _digest(self, job: Job) -> bool:
        """Post a week's digest, then upload its chart; each once, however often it is tried."""
        if self.reports is None:
            raise Stuck("no reports to compose the digest from")
        fields = job.fields
        digest = compose(
            self.reports,
            date.fromisoformat(fields["first"]),
            date.fromisoformat(fields["last"]),
            so_far=bool(fields.get("so_far")),
        )
        channel = fields["channel"]
        text, blocks = digest_views.digest_message(digest, self.name_of)
        metadata = {
            "event_type": "baton_digest",
            "event_payload": {"lane": job.lane, "job": job.id},
        }
        self._post_once(job, channel, None, text, blocks, metadata)
        filename, title = digest_views.digest_chart_file(digest, job.id)
        # A file share carries no metadata: its name is the job's own, so a retry looks for that.
        if job.again and self.uploads.shared(channel, filename, _job_time(job) - 60):
            logger.info(
                "%s job %s's chart was already in Slack; not uploading again", job.lane, job.id
            )
            return True
        self.uploads.to_channel(channel, digest_views.digest_chart(digest), filename, title)
        return True

    # The Slack calls they share

    def _permalink(self, conv: Conversation) -> str:
        answer = self.slack.chat_getPermalink(channel=conv.channel, message_ts=conv.card_ts)
        return str(answer["permalink"])

    def _update(
        self,
        channel: str,
        ts: str,
        text: str,
        blocks: list[dict[str, Any]] | None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> None:
        """Replace a message (its attachments stay unless given); one deleted meanwhile is left alone."""
        try:
            self.slack.chat_update(
                channel=channel, ts=ts, text=text, blocks=blocks, attachments=attachments
            )
        except SlackApiError as exc:
            if exc.response.get("error") != "message_not_found":
                raise

    def _post_once(
        self,
        job: Job,
        channel: str,
        thread_ts: str | None,
        text: str,
        blocks: list[dict[str, Any]] | None,
        metadata: dict[str, Any],
        attachments: list[dict[str, Any]] | None = None,
    ) -> str:
        """Post a job's message unless an earlier attempt did; return its ts."""
        if job.again:
            found = self._find_post(job, channel, thread_ts, metadata)
            if found:
                logger.info("%s job %s was already in Slack; not posting again", job.lane, job.id)
                return found
        response = self.slack.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            text=text,
            blocks=blocks,
            attachments=attachments,
            metadata=metadata,
            unfurl_links=False,
        )
        return str(response["ts"])

    def _find_post(
        self, job: Job, channel: str, thread_ts: str | None, metadata: dict[str, Any]
    ) -> str | None:
        """Return the ts of the message carrying this metadata, posted since the job.

        The kind counts as well as the payload: a text job that posted the new
        card after a transfer left its id on that card too, and the card is
        the thread's parent, which conversations.replies lists first.
        """
        oldest = f"{_job_time(job) - 60:.6f}"
        if thread_ts is None:
            response = self.slack.conversations_history(
                channel=channel, oldest=oldest, limit=200, include_all_metadata=True
            )
        else:
            response = self.slack.conversations_replies(
                channel=channel, ts=thread_ts, oldest=oldest, limit=200, include_all_metadata=True
            )
        for message in response.get("messages", []):
            if thread_ts is not None and message.get("ts") == thread_ts:
                continue
            found = message.get("metadata") or {}
            if found.get("event_type") != metadata["event_type"]:
                continue
            payload = found.get("event_payload") or {}
            if all(payload.get(name) == value for name, value in metadata["event_payload"].items()):
                return str(message["ts"])
        return None


def _media(fields: dict[str, str]) -> list[tuple[str, str]]:
    """Return the MMS media a job or a stored text carries: (url, content type) pairs."""
    return [(url, kind) for url, kind in json.loads(fields.get("media") or "[]")]


def _job_time(job: Job) -> float:
    """Return when the job was queued (its stream id is Redis's time in milliseconds)."""
    return int(job.id.split("-")[0]) / 1000
