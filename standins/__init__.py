"""Local stand-ins for Slack (Web API, Socket Mode) and the Twilio REST API, driven by the real clients."""

from __future__ import annotations

from standins.server import Call
from standins.slack import FakeSlack
from standins.socket_mode import FakeSocketMode
from standins.twilio import FakeTwilio

__all__ = ["Call", "FakeSlack", "FakeSocketMode", "FakeTwilio"]
