"""Slack people as Baton names them: display names for texts, cached in Redis."""

from __future__ import annotations

import logging

import redis
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.store import Keys

logger = logging.getLogger(__name__)

NAME_TTL = 24 * 3600
MEMBERS_TTL = 300


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

    def profile(self, user_id: str) -> dict | None:
        """Return the Slack user, or None when there is no such user."""
        try:
            return self.slack.users_info(user=user_id)["user"]
        except SlackApiError as exc:
            if exc.response.get("error") == "user_not_found":
                return None
            raise

    def why_not_owner(self, user_id: str) -> str | None:
        """Return why this user cannot own conversations (a bot, deactivated), or None."""
        user = self.profile(user_id)
        if user is None:
            return f"<@{user_id}> is not a member of this workspace."
        if user.get("is_bot") or user_id == "USLACKBOT":
            return f"<@{user_id}> is a bot; conversations are owned by people."
        if user.get("deleted"):
            return f"<@{user_id}> is deactivated."
        return None

    def bot(self) -> dict[str, str]:
        """Return who Baton is in Slack (team_id, bot user_id, bot_id, url), from auth.test.

        Kept in Redis for a day, so a Slack outage after the first answer does
        not stop Baton from knowing itself; raises when it cannot be known.
        """
        key = self.keys.team_url
        cached = self.redis.hgetall(key) if self.redis.type(key) == "hash" else {}
        if cached.get("team_id"):
            return cached
        answer = self.slack.auth_test()
        identity = {
            "team_id": str(answer.get("team_id") or ""),
            "user_id": str(answer.get("user_id") or ""),
            "bot_id": str(answer.get("bot_id") or ""),
            "url": str(answer.get("url") or ""),
        }
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping=identity)
            pipe.expire(key, NAME_TTL)
            pipe.execute()
        return identity

    def team_url(self) -> str:
        """Return the workspace's URL (https://acme.slack.com/), for links to threads."""
        try:
            return self.bot()["url"]
        except (SlackApiError, OSError):
            logger.warning("could not read the workspace URL; lists show references without links")
            return ""

    def in_channel(self, user_id: str, channel: str) -> bool:
        """Tell whether user is a member of channel (members cached for a few minutes)."""
        key = self.keys.channel_members(channel)
        if not self.redis.exists(key):
            members: list[str] = []
            try:
                for page in self.slack.conversations_members(channel=channel, limit=1000):
                    members += page["members"]
            except (SlackApiError, OSError):
                logger.warning("could not list members of %s", channel)
                return False
            with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                pipe.sadd(key, "", *members)
                pipe.expire(key, MEMBERS_TTL)
                pipe.execute()
        return bool(self.redis.sismember(key, user_id))
