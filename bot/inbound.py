"""Customer texts coming in, and conversations a person starts by texting.

A customer's text is stored, routed and queued for Slack in one commit: a new
conversation is assigned (account owner, shift, or queue), a closed one
reopens, stop and start words change the opt-out state, the response clock
starts, urgent words tag it, and after hours Baton answers once per closed
period. A repeated MessageSid changes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace

from bot import ownership, response
from bot.calendar import BusinessCalendar
from bot.change import Change, Refused
from bot.clock import Clock
from bot.commit import Commits
from bot.contacts import Contact, Contacts
from bot.csat import Survey
from bot.routing import Assignment
from bot.templates import Templates
from bot.values import (
    AUTOMATIC,
    REFRESH,
    Conversation,
    Event,
    InboundText,
    SlackJob,
    direct,
    notice,
    to_channel,
)
from bot.views import notices, refusals
from config import BatonConfig


class Inbound:
    """Receive customers' texts and start conversations people open by texting."""

    def __init__(
        self,
        commits: Commits,
        config: BatonConfig,
        calendar: BusinessCalendar,
        clock: Clock,
        *,
        assign: Callable[[str, str | None, float], Assignment],  # body, owner on file, when
        is_available: Callable[[str], bool],
        contacts: Contacts,
        templates: Templates,
        survey: Survey | None = None,
    ) -> None:
        self.commits = commits
        self.config = config
        self.calendar = calendar
        self.clock = clock
        self.assign = assign
        self.is_available = is_available
        self.contacts = contacts
        self.templates = templates
        self.survey = survey
        words = "|".join(re.escape(w) for w in config.urgent_keywords)
        self.urgent_words = re.compile(rf"\b(?:{words})\b", re.IGNORECASE)

    def is_urgent(self, body: str) -> bool:
        """Tell whether a text holds an urgent keyword as a whole word, in any case."""
        return bool(self.urgent_words.search(body or ""))

    def start(self, business_number: str, customer_number: str, user: str) -> Change:
        """Open (or continue) a conversation that a person starts by texting; they own it."""
        number, read, stored = self.commits.conversation_of(
            business_number, customer_number, also=self.contacts.key(customer_number)
        )
        name = self.contacts.made(customer_number, stored).name

        def decide(conv: Conversation | None) -> Change:
            now = self.clock.now()
            if conv is None:
                return self._started(number, business_number, customer_number, user, now, name)
            if conv.owner and conv.owner != user:
                raise Refused(refusals.owned_by_someone_else(conv))
            if conv.owner == user and conv.status == "open":
                return Change(conv, result="unchanged")
            events = [Event("claimed", user, now, after=user)] if conv.owner is None else []
            owned, reopened = ownership.owned_by(conv, user, "claim", user, now, self.calendar)
            return Change(owned, events=events + reopened, jobs=[REFRESH])

        def guarded(conv: Conversation | None) -> Change:
            try:
                return decide(conv)
            except Refused as refusal:
                return Change(conv, refused=str(refusal))

        return self.commits.transact(number, guarded, read=read)

    def _started(
        self,
        number: int,
        business_number: str,
        customer_number: str,
        user: str,
        now: float,
        name: str | None,
    ) -> Change:
        queue = self.config.default_queue
        conv = Conversation(
            number=number,
            business_number=business_number,
            customer_number=customer_number,
            customer_name=name,
            queue=queue.name,
            channel=queue.channel,
            owner=user,
            created_at=now,
            assigned_by="claim",
            route_reason=f"<@{user}> texted first",
        )
        return Change(
            conv,
            events=[
                Event("created", user, now, after=queue.name),
                Event("claimed", user, now, after=user),
            ],
            jobs=[SlackJob("card")],
            result="created",
        )

    def receive(self, text: InboundText) -> Change:
        """Store a customer's text and queue it for Slack; a repeated MessageSid changes nothing.

        Returns the change; ``result`` is "duplicate", "created" or "appended".
        """
        customer = text.customer_number
        # The customer's contact (their name) is read with the conversation: one round trip.
        number, read, stored = self.commits.conversation_of(
            text.business_number, customer, also=self.contacts.key(customer)
        )
        now = self.clock.now()
        contact = self.contacts.made(customer, stored)
        change = self.commits.transact(
            number, lambda conv: self._received(conv, number, text, now, contact), read=read
        )
        if change.result == "duplicate":
            # The commit's guard hit already woke the conversation's workers, in
            # case the first attempt died between storing the text and waking them.
            return replace(change, refused=None)
        return change

    def _received(
        self,
        conv: Conversation | None,
        number: int,
        text: InboundText,
        now: float,
        contact: Contact,
    ) -> Change:
        name = contact.name
        jobs: list[SlackJob] = []
        events: list[Event] = []
        result = "appended"
        rating = self.survey.rating_in(conv, text, now) if conv and self.survey else None
        if conv is not None and rating is not None:
            return self._rated(conv, text, rating, now)
        if conv is None:
            conv, events, jobs = self._new(number, text, now, contact)
            result = "created"
            shown = conv
        else:
            shown = conv  # the card as it is now: refreshed below if what it shows changes
            if name and conv.customer_name != name:
                conv = replace(conv, customer_name=name)
            if conv.status != "open" and text.opt_change is None:
                conv, events = self._reopened(conv, now)
        conv = replace(conv, last_inbound_at=now)
        media = json.dumps(text.media)
        message = {"direction": "in", "sid": text.sid, "body": text.body, "at": repr(now)}
        if text.media:  # a text without media stores none (a reader takes none for "[]")
            message["media"] = media
        said = {"sid": text.sid, "body": text.body, "media": media}
        if result == "created":
            # A new conversation's first text is part of its card: one post, not two.
            jobs[0] = SlackJob("card", said)
            posted = jobs[0]
        else:
            posted = SlackJob("text", said)
            jobs.append(posted)
        messages = [message]
        reply = None
        if text.opt_change is not None:
            # A stop or start word changes the opt-out state and says so; it awaits
            # no reply, so it neither reopens the conversation nor starts the clock.
            conv, opt_events, notes = self._opt_changed(conv, text.opt_change, now)
            events += opt_events
            jobs += notes
        else:
            conv = response.start_clock(conv, now)
            if self.is_urgent(text.body) and "urgent" not in conv.tags:
                conv = replace(conv, tags=(*conv.tags, "urgent"))
                events.append(Event("tagged", "customer", now, note="+urgent"))
            if not self.calendar.is_open(now):
                jobs += self._urgent_after_hours(conv)
                reply, conv = self._after_hours_reply(conv, now)
                if reply:
                    messages.append(
                        {
                            "direction": "out",
                            "sid": "",
                            "body": reply,
                            "author": AUTOMATIC,
                            "at": repr(now),
                        }
                    )
                    jobs.append(notice(notices.auto_replied(reply)))
        if result == "appended" and _card_changed(shown, conv):
            jobs.insert(jobs.index(posted), REFRESH)  # the card is current before the text shows
        return Change(
            conv,
            events=events,
            jobs=jobs,
            messages=messages,
            inbound_sid=text.sid,
            counted=("texts_in", "auto_replies") if reply else ("texts_in",),
            result=result,
            reply=reply,
        )

    def _opt_changed(
        self, conv: Conversation, change: str, now: float
    ) -> tuple[Conversation, list[Event], list[SlackJob]]:
        """Return conv opted out or back in, with the event and the thread's note if it changed."""
        if change == "out":
            conv = response.stop_clock(conv)  # nothing is awaited from someone who left
            if conv.opted_out:
                return conv, [], []
            opted = replace(conv, opted_out=True)
            return opted, [Event("opted_out", "customer", now)], [notice(notices.OPTED_OUT)]
        if not conv.opted_out:
            return conv, [], []
        opted = replace(conv, opted_out=False)
        return opted, [Event("opted_in", "customer", now)], [notice(notices.OPTED_IN)]

    def _rated(self, conv: Conversation, text: InboundText, rating: int, now: float) -> Change:
        """Store a customer's rating of a resolution: shown, thanked, and nothing reopened."""
        assert self.survey is not None
        rated = self.survey.rated(conv, rating, now)
        message = {
            "direction": "in",
            "sid": text.sid,
            "body": text.body,
            "at": repr(now),
            "rating": str(rating),
        }
        shown = SlackJob("text", {"sid": text.sid, "body": text.body, "media": "[]"})
        return Change(
            replace(rated.conversation, last_inbound_at=now),
            events=[rated.event],
            jobs=[shown, *rated.jobs],
            messages=[message],
            texts=rated.texts,
            inbound_sid=text.sid,
            counted=("texts_in",),
            result="appended",
        )

    def _new(
        self, number: int, text: InboundText, now: float, contact: Contact
    ) -> tuple[Conversation, list[Event], list[SlackJob]]:
        # The owner on file was read with the conversation's number: no round trip of its own.
        assignment = self.assign(text.body, contact.owner, now)
        name = contact.name
        queue = assignment.route.queue
        conv = Conversation(
            number=number,
            business_number=text.business_number,
            customer_number=text.customer_number,
            customer_name=name,
            queue=queue.name,
            channel=queue.channel,
            owner=assignment.owner,
            tags=() if assignment.owner else ("new",),
            created_at=now,
            assigned_by=assignment.how,
            route_reason=f"{assignment.route.reason}; {assignment.reason}",
        )
        events = [Event("created", "customer", now, after=queue.name, note=assignment.route.reason)]
        jobs = [SlackJob("card")]
        if assignment.owner:
            events.append(
                Event("assigned", "baton", now, after=assignment.owner, note=assignment.reason)
            )
            jobs.append(direct(assignment.owner, notices.assigned_you(conv, assignment.reason)))
        return conv, events, jobs

    def _reopened(self, conv: Conversation, now: float) -> tuple[Conversation, list[Event]]:
        """Reopen a closed or pending conversation, with its owner when they are available."""
        owner = conv.owner if conv.owner and self.is_available(conv.owner) else None
        events = [Event("reopened", "customer", now, before=conv.status, after="open")]
        if owner != conv.owner:
            events.append(
                Event("released", "baton", now, before=conv.owner or "", note="owner unavailable")
            )
        reopened = replace(
            conv,
            status="open",
            owner=owner,
            assigned_by=conv.assigned_by if owner else "queue",
            csat_open=False,  # no later text rates the resolution this reopens
        )
        return reopened, events

    def _urgent_after_hours(self, conv: Conversation) -> list[SlackJob]:
        """Ping the queue (and whoever is on call) about an urgent text that came while closed."""
        if "urgent" not in conv.tags:
            return []
        alert = notices.urgent_after_hours(conv)
        jobs = [to_channel(alert)]
        queue = self.config.queue(conv.queue)
        if queue is not None and queue.on_call:
            jobs.append(direct(queue.on_call, notices.on_call(alert)))
        return jobs

    def _after_hours_reply(self, conv: Conversation, now: float) -> tuple[str | None, Conversation]:
        """Return the automatic reply to a text that came while closed: once per closed period."""
        if conv.opted_out or (conv.autoreplied_until or 0) > now:
            return None, conv
        opens = self.calendar.next_open(now)
        if opens is None:
            return None, conv
        reply = self.templates.automatic(conv, "after_hours", now)
        return reply, replace(conv, autoreplied_until=opens)


# What the card shows of a conversation; a customer text that changes any of it refreshes the card.
_SHOWN = (
    "customer_name",
    "status",
    "owner",
    "opted_out",
    "tags",
    "awaiting",
    "waiting_since",
    "used",
    "replied",
)


def _card_changed(before: Conversation, after: Conversation) -> bool:
    return any(getattr(before, name) != getattr(after, name) for name in _SHOWN)
