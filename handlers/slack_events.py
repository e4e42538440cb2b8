"""Slack's one URL: events, slash commands, buttons and forms, all handed to the Bolt app."""

from __future__ import annotations

from flask import Blueprint, Response, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler


def blueprint(bolt: App) -> Blueprint:
    """Return the /slack/events route, which Bolt verifies and dispatches."""
    routes = Blueprint("slack", __name__)
    handler = SlackRequestHandler(bolt)

    @routes.post("/slack/events")
    def events() -> Response | tuple[str, int]:
        try:
            return handler.handle(request)
        except ValueError:  # Bolt parses the body before checking the signature
            return "Bad request: the body is not valid JSON or form data\n", 400

    return routes
