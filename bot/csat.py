"""Customer satisfaction in the thread: ask for a 1-5 rating on Resolve, and read the answer.

The question is added to the resolving change (queued in the SMS outbox in the
same commit) and the rating to the change that stores the customer's reply,
both decided from the conversation as read, so racing texts and clicks decide
once. A reply that is not a rating is an ordinary text and reopens as always.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.change import Change
from bot.templates import Templates
from bot.values import (
    AUTOMATIC,
    FORGOTTEN,
    REFRESH,
    Conversation,
    Event,
    InboundText,
    SlackJob,
    direct,
    notice,
    to_channel,
)
from bot.views import notices
from config import BatonConfig

LOW = 2  # a rating this low or lower tells the owner
SPAM = "spam"  # a conversation resolved with this tag is never asked

_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_STAR = "⭐★🌟"
# A number 1-5, as a digit or a word, then at most a unit: stars, /5, out of 5.
_NUMBERED = re.compile(
    rf"(?P<n>[1-5]|one|two|three|four|five)"
    rf"(?:\s*(?:stars?|[{_STAR}]|/\s*5|(?:out\s+)?of\s+(?:5|five)))?"
)
_STARS = re.compile(rf"(?:[{_STAR}]\s*){{1,5}}")
# A number with a sign before it.
_SIGNED = re.compile(r"\s*[-+\u2212]\s*\d")
# What may stand around a rating without making it a sentence.
_TRIM = " \t\r\n!.,?~*\"'()[]:;-"


def parse_rating(text: str) -> int | None:
    """Return the 1-5 rating a customer's text gives, or None when it is not only a rating.

    Generous with its form ("5", "5!", "4 stars", "4/5", "five", "⭐⭐⭐⭐"),
    strict with its content: a sentence with a number in it is not a rating.
    """
    plain = unicodedata.normalize("NFKC", text or "").casefold()
    if _SIGNED.match(plain):
        return None  # "-1" is a number below one, not a one with a dash around it
    # Emoji presentation and keycaps (5️⃣) carry no meaning of their own here.
    plain = plain.replace("\ufe0f", "").replace("\u20e3", "").strip(_TRIM)
    if numbered := _NUMBERED.fullmatch(plain):
        word = numbered.group("n")
        return _WORDS.get(word) or int(word)
    if _STARS.fullmatch(plain):
        return sum(plain.count(star) for star in _STAR)
    return None


@dataclass(frozen=True)
class Rated:
    """What a customer's rating changes: the conversation, its event, Slack work and texts."""

    conversation: Conversation
    event: Event
    jobs: tuple[SlackJob, ...]
    texts: tuple[dict[str, str], ...]


class Survey:
    """Ask customers to rate a resolved conversation, and take their rating from a reply."""

    def __init__(
        self, config: BatonConfig, templates: Templates, *, is_away: Callable[[str], bool]
    ) -> None:
        self.config = config
        self.templates = templates
        self.is_away = is_away

    def should_ask(self, conv: Conversation, now: float) -> bool:
        """Tell whether resolving conv now asks its customer for a rating."""
        csat = self.config.csat
        return (
            csat.enabled
            and not conv.opted_out
            and conv.customer_number != FORGOTTEN
            and SPAM not in conv.tags
            # Someone the team texted who never wrote back has nothing to rate.
            and conv.last_inbound_at is not None
            and (conv.csat_asked_at is None or now - conv.csat_asked_at >= csat.cooldown)
        )

    def asked(self, before: Conversation, change: Change, now: float) -> Change:
        """Return a resolving change with the rating question queued, when the customer is asked."""
        if not change.ok or change.conversation is None or not self.should_ask(before, now):
            return change
        question = self.templates.automatic(before, "csat.ask", now, self.config.csat.ask)
        conv = replace(
            change.conversation,
            csat_asked_at=now,
            csat_owner=before.owner or "",
            csat_open=True,
            rating=0,
        )
        return replace(
            change, conversation=conv, texts=(*change.texts, _automatic_text(question, now))
        )

    def rating_in(self, conv: Conversation, text: InboundText, now: float) -> int | None:
        """Return the rating a customer's text gives to the question still open, or None."""
        if not (
            conv.csat_open
            and conv.status == "closed"
            and conv.csat_asked_at is not None
            and now - conv.csat_asked_at <= self.config.csat.within
            and text.opt_change is None
            and not text.media
        ):
            return None
        return parse_rating(text.body)

    def rated(self, conv: Conversation, rating: int, now: float) -> Rated:
        """Record a rating on conv: the card and thread show it, the owner hears of a low one."""
        owner = conv.csat_owner
        rated = replace(conv, csat_open=False, rating=rating)
        jobs = [notice(notices.rated(rating, owner)), REFRESH]
        if rating <= LOW:
            if owner:
                jobs.append(direct(owner, notices.low_rating(conv, rating)))
            if not owner or self.is_away(owner):
                jobs.append(to_channel(notices.low_rating_for_queue(conv, rating, owner)))
        texts = []
        thanks = self.config.csat.thanks
        if thanks and not conv.opted_out:
            texts.append(
                _automatic_text(self.templates.automatic(conv, "csat.thanks", now, thanks), now)
            )
        event = Event("rated", owner, now, after=str(rating))
        return Rated(rated, event, tuple(jobs), tuple(texts))


def _automatic_text(body: str, now: float) -> dict[str, str]:
    """Return an SMS outbox job for a text Baton sends by itself, shown in the thread once sent."""
    return {
        "kind": "text",
        "slack_ts": "",
        "author": AUTOMATIC,
        "body": body,
        "written_at": repr(now),
    }
