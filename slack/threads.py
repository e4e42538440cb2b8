"""Which conversation a thread belongs to, when its card is in Slack but not yet in Baton's records.

A card's thread is found through the thread index, written once delivery knows the card's ts
(``Conversations.card_posted``). Until then there is a window: Slack has the card (its answer
was lost, or the delivering process died right after the post) and a person may already
reply in its thread. Without the index that reply would look like team talk and be dropped.

So a thread message whose thread is not in the index has its parent looked up in Slack: a
card Baton posted carries metadata naming its conversation, and that is recorded as the card
the delivery would have recorded (the outbox's retry then finds the card there and does not
post another). A parent that is no card of Baton's is remembered for a week, so team talk in
a queue channel costs one look-up per thread, not one per message. A failed look-up is raised:
the event is answered with an error and Slack delivers it again.
"""

from __future__ import annotations

import logging

import redis
from slack_sdk import WebClient

from bot import views
from bot.conversations import Conversations
from bot.store import Keys
from bot.values import Conversation, thread_ref

logger = logging.getLogger(__name__)

NOT_A_CARD_TTL = 7 * 24 * 3600


class CardThreads:
    """Find a thread's conversation from the index, or from its parent's metadata in Slack."""

    def __init__(
        self, redis_client: redis.Redis, keys: Keys, slack: WebClient, conversations: Conversations
    ) -> None:
        self.redis = redis_client
        self.keys = keys
        self.slack = slack
        self.conversations = conversations

    def conversation(self, channel: str, thread_ts: str, bot_id: str | None) -> Conversation | None:
        """Return the conversation whose card is thread_ts in channel, or None for any other thread.

        bot_id is Baton's own (a card is a message Baton posted); SlackApiError and OSError
        from the look-up are raised.
        """
        known = self.conversations.find_by_thread(channel, thread_ts)
        if known is not None:
            return known
        ref = thread_ref(channel, thread_ts)
        if self.redis.exists(self.keys.not_a_card(ref)):
            return None
        answer = self.slack.conversations_replies(
            channel=channel, ts=thread_ts, limit=1, include_all_metadata=True
        )
        parent = next(iter(answer.get("messages") or []), None) or {}
        number = _card_number(parent, thread_ts, bot_id)
        if number is None or self.conversations.get(number) is None:
            self.redis.set(self.keys.not_a_card(ref), "1", ex=NOT_A_CARD_TTL)
            return None
        self.conversations.card_posted(number, channel, thread_ts)
        logger.info("#%d card found in Slack before delivery recorded it", number)
        return self.conversations.find_by_thread(channel, thread_ts)


def _card_number(parent: dict, thread_ts: str, bot_id: str | None) -> int | None:
    """Return the conversation a thread's parent is the card of, if Baton posted it as one."""
    if parent.get("ts") != thread_ts or not bot_id or parent.get("bot_id") != bot_id:
        return None
    return views.conversation_in(parent.get("metadata"), "card")
