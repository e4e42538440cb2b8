"""Who Baton is to Bolt, without asking Slack on every request.

Bolt's own single-workspace authorization calls auth.test and, when that
fails, answers Slack 200 and runs no listener: the event is lost. Here the
answer of auth.test is kept (see slack.people.People.bot), and when it cannot
be had the request fails with a 5xx, so Slack delivers it again later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError

from slack.people import People


class SlackUnreachable(Exception):
    """Slack could not tell Baton who it is; the request must be retried."""


def authorizer(people: People, token: str) -> Callable[..., AuthorizeResult]:
    """Return Bolt's authorize function for Baton's one workspace and bot token."""

    def authorize(enterprise_id: str | None, team_id: str | None, logger: Any) -> AuthorizeResult:
        try:
            me = people.bot()
        except (SlackApiError, OSError) as exc:
            raise SlackUnreachable(f"auth.test failed: {type(exc).__name__}") from exc
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id or me["team_id"],
            bot_user_id=me["user_id"] or None,
            bot_id=me["bot_id"] or None,
            bot_token=token,
        )

    return authorize
