"""Local HTTP stand-ins for the Slack Web API and Twilio REST API, driven by the real clients."""

from __future__ import annotations

from standins.server import Call
from standins.slack import FakeSlack
from standins.twilio import FakeTwilio

__all__ = ["Call", "FakeSlack", "FakeTwilio"]
