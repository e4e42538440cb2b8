"""Response times through the real app: after-hours replies, and the real scheduler pinging in order."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app import create_app, shutdown
from bot import response
from bot.schedule import build_scheduler
from config import Settings
from tests.dialog import Customer, Teammate, eventually, ny

NEW_YORK = ZoneInfo("America/New_York")


def test_after_hours_text_gets_one_auto_reply_per_closed_period(
    customer, alex, baton, clock, fake_slack
):
    clock.current = ny(2026, 11, 17, 20, 0)  # Tuesday evening, closed
    first = customer.texts("Are you open tomorrow?")
    assert (
        "<Message>Thanks for texting Acme Dental. We're closed now and will reply after Wednesday 9:00 AM EST.</Message>"
        in first.get_data(as_text=True)
    )
    clock.advance(3600)
    second = customer.texts("Hello?")
    assert "<Message>" not in second.get_data(as_text=True)
    channel, card_ts = alex.card_of(1)
    eventually(
        lambda: any("auto-replied" in m["text"] for m in fake_slack.thread(channel, card_ts))
    )
    conv = baton.conversations.get(1)
    due = response.reply_due_at(
        conv, baton.config.targets_for("general"), baton.conversations.calendar
    )
    assert due == ny(2026, 11, 18, 9, 15)
    assert [m["direction"] for m in baton.conversations.messages(1)] == ["in", "out", "in"]

    clock.current = ny(2026, 11, 18, 19, 0)  # the next evening is a new closed period
    assert "<Message>" in customer.texts("Still waiting").get_data(as_text=True)


def test_urgent_text_after_hours_pings_the_queue_channel(customer, alex, baton, clock, fake_slack):
    clock.current = ny(2026, 11, 17, 23, 0)
    customer.texts("URGENT my crown fell out")
    alex.card_of(1)
    ping = eventually(
        lambda: [
            m for m in fake_slack.messages("C0123GENERAL") if "Urgent text after hours" in m["text"]
        ]
    )
    assert ping[0].get("thread_ts") is None


def test_stop_after_hours_gets_no_auto_reply(customer, clock):
    clock.current = ny(2026, 11, 17, 22, 0)
    assert "<Message>" not in customer.texts("STOP").get_data(as_text=True)


SHORT_TARGETS = """
business: {name: Acme Dental, country: US, timezone: America/New_York}
queues:
  - {name: general, channel: C0123GENERAL, default: true}
response_targets: {first_response: 3s, warn_at: 0.34, escalate_after: 2.0, sweep_interval: 1s}
"""


@pytest.fixture
def short_app(settings: Settings, tmp_path: Path):
    path = tmp_path / "short.yml"
    path.write_text(SHORT_TARGETS)
    app = create_app(Settings(**{**settings.__dict__, "config_path": path}))
    scheduler = build_scheduler(app.extensions["baton"])
    yield app, scheduler  # the test starts the scheduler once its claim is in
    if scheduler.running:
        scheduler.shutdown(wait=False)
    shutdown(app)


def test_the_real_scheduler_reminds_then_pings_then_escalates_in_order(short_app, fake_slack):
    app, scheduler = short_app
    baton = app.extensions["baton"]
    client = app.test_client()
    customer = Customer(client, "+15551234567", auth_token="twilio-test-auth-token")
    alex = Teammate(client, fake_slack, baton, "U0ALEX", signing_secret="slack-test-signing-secret")
    customer.texts("Can someone call me back?")
    alex.card_of(1)
    alex.clicks("claim", "1")
    eventually(lambda: baton.conversations.get(1).owner == "U0ALEX")
    # Started only now: the first reminder is due 1 s after the text, and a claim
    # that took longer on a loaded host would send it to the channel, not the owner.
    scheduler.start()

    def pings() -> list[tuple[str, str]]:
        found = []
        for message in fake_slack.messages():
            text = message["text"]
            if ":alarm_clock:" in text or ":rotating_light:" in text:
                where = (
                    "dm"
                    if message["channel"].startswith("D")
                    else ("thread" if message.get("thread_ts") else "channel")
                )
                found.append((where, text))
        return found

    eventually(lambda: len(pings()) >= 4, timeout=15, message="reminders did not all arrive")
    kinds = [where for where, _ in pings()]
    assert kinds == ["dm", "thread", "channel", "thread"]
    assert "is due" in pings()[0][1] and "due now" in pings()[1][1] and "overdue" in pings()[2][1]
