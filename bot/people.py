"""Slack people as Baton names them: display names for texts, cached in Redis."""

from __future__ import annotations

import logging

import redis
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.store import Keys

logger = logging.getLogger(__name__)

NAME_TTL = 24 * 3600


class People:
    """Look up Slack users' names, once a day at most per person."""

    def __init__(self, redis_client: redis.Redis, keys: Keys, slack: WebClient) -> None:
        self.redis = redis_client
        self.keys = keys
        self.slack = slack

    def name(self, user_id: str) -> str:
        """Return the name a customer should see for a Slack user."""
        cached = self.redis.get(self.keys.user_name(user_id))
        if cached:
            return cached
        try:
            user = self.slack.users_info(user=user_id)["user"]
        except (SlackApiError, OSError):
            logger.warning("could not look up Slack user %s; texting a neutral name", user_id)
            return "a teammate"
        profile = user.get("profile") or {}
        name = profile.get("display_name") or profile.get("real_name") or user.get("real_name")
        name = name or user.get("name") or "a teammate"
        self.redis.set(self.keys.user_name(user_id), name, ex=NAME_TTL)
        return name
