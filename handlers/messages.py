"""Slack message events: a person's thread message may become a text to the customer."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot import views
from bot.markup import to_plain_text
from bot.replies import ThreadMessage
from bot.service import Baton

logger = logging.getLogger(__name__)

# Subtypes that are a person writing in the thread; every other subtype (edits,
# deletions, joins, bot messages…) is never texted.
TEXTABLE_SUBTYPES = {None, "thread_broadcast", "file_share"}
EVENT_TTL = 24 * 3600


def register(app: App, baton: Baton) -> None:
    """Listen to every message in the channels Baton is in."""

    @app.event("message")
    def on_message(event: dict[str, Any], body: dict[str, Any], client: WebClient) -> None:
        if event.get("subtype") not in TEXTABLE_SUBTYPES or event.get("bot_id"):
            return
        thread_ts, user = event.get("thread_ts"), event.get("user")
        if not thread_ts or thread_ts == event.get("ts") or not user:
            return
        conv = baton.conversations.find_by_thread(event["channel"], thread_ts)
        if conv is None:
            return
        if (event["channel"], thread_ts) != (conv.channel, conv.card_ts):
            client.chat_postEphemeral(
                channel=event["channel"],
                user=user,
                thread_ts=thread_ts,
                text=f"Not texted: {conv.ref} moved to the {conv.queue} queue; reply in its new thread.",
            )
            return
        # Slack retries an event it thinks we missed; the event_id (and the
        # message's client_msg_id) make the retry a no-op.
        keys = [baton.keys.slack_event(body.get("event_id") or f"{event['channel']}:{event['ts']}")]
        if event.get("client_msg_id"):
            keys.append(baton.keys.slack_event(f"msg:{event['client_msg_id']}"))
        for key in keys:
            if not baton.redis.set(key, "1", nx=True, ex=EVENT_TTL):
                logger.info("ignored repeated Slack event for #%d", conv.number)
                return
        message = ThreadMessage(
            channel=event["channel"],
            ts=event["ts"],
            user=user,
            text=to_plain_text(event.get("text") or "", baton.people.name),
            has_files=bool(event.get("files")),
        )
        result = baton.replies.handle(conv, message)
        tell = _teller(client, message, thread_ts)
        if result.outcome == "not_owner":
            tell(views.not_owner_note(result.conversation))
        elif result.outcome == "unclaimed":
            text, blocks = views.unclaimed_note(
                result.conversation, views.held_value(conv.number, message.channel, message.ts)
            )
            tell(text, blocks)
        elif result.outcome == "sent" and message.has_files:
            tell(views.FILE_NOT_SENT)
        elif result.outcome == "empty" and message.has_files:
            tell("The attached file was not texted: Baton sends text only.")


def _teller(client: WebClient, message: ThreadMessage, thread_ts: str) -> Any:
    def tell(text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        client.chat_postEphemeral(
            channel=message.channel,
            user=message.user,
            thread_ts=thread_ts,
            text=text,
            blocks=blocks,
        )

    return tell
