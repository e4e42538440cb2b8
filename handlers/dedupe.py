"""Slack's repeated deliveries of a thread message: acknowledged, and dropped after the first."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltContext, BoltResponse

from bot.service import Baton

logger = logging.getLogger(__name__)

EVENT_TTL = 24 * 3600


def acknowledged() -> BoltResponse:
    """Return Slack's answer for an event a listener middleware drops: 200, so Slack does not retry.

    A listener middleware that neither calls next() nor returns a response
    leaves the event unhandled, and Bolt answers that with a 404.
    """
    return BoltResponse(status=200, body="")


def once(baton: Baton) -> Callable[..., BoltResponse | None]:
    """Return listener middleware that lets each message Baton would text through once.

    It runs after messages.in_conversation_thread and claims keys only for a
    message in a conversation's current thread: one in the old thread of a
    moved conversation is answered on every delivery, as it always was.
    """

    def dedupe(
        body: dict[str, Any], event: dict[str, Any], context: BoltContext, next: Callable[[], None]
    ) -> BoltResponse | None:
        if context["current_thread"]:
            # Slack retries an event it thinks we missed; the event_id (and the
            # message's client_msg_id) make the retry a no-op.
            keys = [
                baton.keys.slack_event(body.get("event_id") or f"{event['channel']}:{event['ts']}")
            ]
            if event.get("client_msg_id"):
                keys.append(baton.keys.slack_event(f"msg:{event['client_msg_id']}"))
            for key in keys:
                if not baton.redis.set(key, "1", nx=True, ex=EVENT_TTL):
                    logger.info(
                        "ignored repeated Slack event for #%d", context["conversation"].number
                    )
                    return acknowledged()
        next()
        return None

    return dedupe
