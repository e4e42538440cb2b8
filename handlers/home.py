"""The App Home tab: my last 7 days' numbers, my conversations, unclaimed in my queues, recently handed to me."""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot import views
from bot.reports import Scope, parse_period
from bot.service import Baton
from bot.views import reports as report_views


def publish_home(baton: Baton, event: dict[str, Any], client: WebClient) -> None:
    """Publish the lists of the person who opened Baton's Home tab."""
    user = event.get("user")
    if event.get("tab", "home") != "home" or not user:
        return
    mine, unclaimed, handed = baton.overview.for_user(user)
    week = parse_period("7d", baton.reports.today(baton.clock.now()))
    numbers = report_views.my_week(baton.reports.figures(week, Scope(person=user)))
    blocks = views.my_lists(mine, unclaimed, handed, baton.people.team_url())
    client.views_publish(user_id=user, view=views.home([*numbers, *blocks]))


def register(app: App, baton: Baton) -> None:
    """Publish a person's lists each time they open Baton's Home tab."""

    @app.event("app_home_opened")
    def on_home_opened(event: dict[str, Any], client: WebClient) -> None:
        publish_home(baton, event, client)
