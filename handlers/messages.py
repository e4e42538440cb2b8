"""Slack message events: a person's thread message may become a text to the customer.

Three listener middlewares run before Slack gets its answer: in_conversation_thread
finds the conversation whose thread the message is in (or acknowledges and drops
it), decide records what becomes of the message (queued for the customer, refused
in the thread, or team discussion) in the conversation's commit, and dedupe.once
drops Slack's repeated deliveries. A store that fails on the way is a 5xx, so
Slack delivers the message again: no reply is acknowledged that was not recorded.
The author is told what became of the message by a note queued with the
decision, so it reaches them through a Slack outage.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse

from bot.markup import to_plain_text
from bot.replies import ThreadMessage
from bot.service import Baton
from handlers import dedupe

# Subtypes that are a person writing in the thread; every other subtype (edits,
# deletions, joins, bot messages…) is never texted.
TEXTABLE_SUBTYPES = {None, "thread_broadcast", "file_share"}


def in_conversation_thread(baton: Baton) -> Callable[..., BoltResponse | None]:
    """Return listener middleware that passes on a person's reply in a conversation's thread.

    It puts the conversation in the context, and whether the thread is the
    conversation's current one (a transfer leaves the old thread behind).
    Every other message is acknowledged and goes no further.
    """

    def find(
        event: dict[str, Any], context: BoltContext, next: Callable[[], None]
    ) -> BoltResponse | None:
        if event.get("subtype") not in TEXTABLE_SUBTYPES or event.get("bot_id"):
            return dedupe.acknowledged()
        thread_ts, user, channel = event.get("thread_ts"), event.get("user"), event.get("channel")
        if (
            not thread_ts
            or thread_ts == event.get("ts")
            or not (user and channel and event.get("ts"))
        ):
            return dedupe.acknowledged()
        conv = baton.threads.conversation(channel, thread_ts, context.bot_id)
        if conv is None:
            return dedupe.acknowledged()
        context["conversation"] = conv
        context["current_thread"] = (event["channel"], thread_ts) == (conv.channel, conv.card_ts)
        next()
        return None

    return find


def decide(baton: Baton) -> Callable[..., BoltResponse | None]:
    """Return listener middleware that decides, durably, what becomes of a thread message.

    Texted, or refused with a note to its author: both are queued with the
    decision, before Slack gets its answer.
    """

    def record(event: dict[str, Any], context: BoltContext, next: Callable[[], None]) -> None:
        message = ThreadMessage(
            channel=event["channel"],
            ts=event["ts"],
            user=event["user"],
            text=to_plain_text(event.get("text") or "", baton.people.name),
            has_files=bool(event.get("files")),
            thread_ts=event["thread_ts"],
        )
        baton.replies.handle(context["conversation"], message, moved=not context["current_thread"])
        next()

    return record


def register(app: App, baton: Baton) -> None:
    """Listen to every message in the channels Baton is in."""

    middleware = [in_conversation_thread(baton), decide(baton), dedupe.once(baton)]

    @app.event("message", middleware=middleware)
    def on_message() -> None:
        """Everything was decided, and queued, before Slack got its answer."""
