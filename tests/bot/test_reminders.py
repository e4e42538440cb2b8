"""The response-time sweep with an injected clock and a real Redis: each reminder exactly once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from app import create_app
from bot import response
from config import Settings
from tests.dialog import eventually, settle

GENERAL = "C0123GENERAL"
ALWAYS_OPEN = """
business: {name: Acme Dental, country: US, timezone: America/New_York}
queues:
  - {name: general, channel: C0123GENERAL, default: true}
  - name: vip
    channel: C0123SALES
    response_targets: {first_response: 2m}
response_targets: {first_response: 10m, next_response: 20m, urgent: 4m, warn_at: 0.5, escalate_after: 2.0}
"""


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "baton.yml"
    path.write_text(ALWAYS_OPEN)
    return path


def reminders_seen(fake_slack) -> list[str]:
    """Return, in posting order, where each reminder went: dm, thread or channel."""
    seen = []
    for message in fake_slack.messages():
        text = message["text"]
        if ":alarm_clock:" not in text and ":rotating_light:" not in text:
            continue
        if message["channel"].startswith("D"):
            seen.append("dm")
        elif message.get("thread_ts") and message["thread_ts"] != message["ts"]:
            seen.append("thread")
        else:
            seen.append("channel")
    return seen


def start_claimed(customer, alex, baton) -> None:
    customer.texts("Is my crown ready?")
    alex.card_of(1)
    alex.clicks("claim", "1")
    eventually(lambda: baton.conversations.get(1).owner == "U0ALEX")


def test_owner_is_reminded_then_mentioned_then_the_queue_is_told(
    customer, alex, baton, clock, fake_slack
):
    start_claimed(customer, alex, baton)
    assert baton.reminders.sweep().reminders == 0
    clock.advance(5 * 60)  # warn_at 0.5 of 10 min
    assert baton.reminders.sweep().reminders == 1
    dm = eventually(lambda: fake_slack.messages("DU0ALEX"))[0]["text"]
    assert "A reply to #1" in dm and "is due in 5 minutes" in dm and "Open the conversation" in dm
    clock.advance(5 * 60)
    assert baton.reminders.sweep().reminders == 1
    clock.advance(10 * 60)
    assert baton.reminders.sweep().reminders == 1
    eventually(lambda: len(reminders_seen(fake_slack)) == 4)
    assert reminders_seen(fake_slack) == ["dm", "thread", "channel", "thread"]
    texts = [m["text"] for m in fake_slack.messages() if ":rotating_light:" in m["text"]]
    assert "is overdue by 10 minutes. Owner: <@U0ALEX>" in texts[0]
    clock.advance(3600)
    assert baton.reminders.sweep().reminders == 0


def test_unclaimed_conversations_ping_the_queue_channel(
    app, customer, baton, clock, fake_slack, alex
):
    customer.texts("hello?")
    alex.card_of(1)
    clock.advance(10 * 60)
    assert baton.reminders.sweep().reminders == 2  # reminder and due, caught up at once
    eventually(lambda: len(reminders_seen(fake_slack)) == 2)
    settle(app)
    assert reminders_seen(fake_slack) == ["channel", "channel"]
    assert fake_slack.messages("DU0ALEX") == []


def test_a_clock_down_for_ten_minutes_catches_up_once(customer, alex, baton, clock, fake_slack):
    start_claimed(customer, alex, baton)
    clock.advance(25 * 60)
    assert baton.reminders.sweep().reminders == 3
    assert baton.reminders.sweep().reminders == 0
    eventually(lambda: len(reminders_seen(fake_slack)) == 4)
    assert reminders_seen(fake_slack) == ["dm", "thread", "channel", "thread"]


def test_a_human_reply_stops_the_clock_and_the_next_text_starts_next_response(
    customer, alex, baton, clock, fake_twilio
):
    start_claimed(customer, alex, baton)
    clock.advance(4 * 60)
    alex.says(1, "Yes, it is ready!")
    fake_twilio.wait_for("messages.create")
    eventually(lambda: not baton.conversations.get(1).awaiting)
    clock.advance(3600)
    assert baton.reminders.sweep().reminders == 0
    customer.texts("Great, can I come at 4?")
    conv = baton.conversations.get(1)
    targets = baton.config.targets_for("general")
    assert response.target_seconds(conv, targets) == 20 * 60
    assert (
        response.reply_due_at(conv, targets, baton.conversations.calendar) == clock.now() + 20 * 60
    )


def test_pending_pauses_the_clock_and_a_customer_text_resumes_it(customer, alex, baton, clock):
    start_claimed(customer, alex, baton)
    clock.advance(3 * 60)
    alex.runs("pending #1")
    clock.advance(5 * 3600)
    assert baton.reminders.sweep().reminders == 0
    customer.texts("Any news?")
    conv = baton.conversations.get(1)
    due = response.reply_due_at(
        conv, baton.config.targets_for("general"), baton.conversations.calendar
    )
    assert conv.status == "open" and due == clock.now() + 7 * 60  # 3 of 10 minutes were used


def test_urgent_keyword_tags_urgent_and_tightens_the_target(customer, alex, baton, clock):
    customer.texts("This is URGENT, my tooth broke")
    alex.card_of(1)
    conv = baton.conversations.get(1)
    assert "urgent" in conv.tags
    assert (
        response.reply_due_at(
            conv, baton.config.targets_for("general"), baton.conversations.calendar
        )
        == clock.now() + 4 * 60
    )
    assert not baton.inbound.is_urgent("not urgently needed")  # whole words only
    assert baton.inbound.is_urgent("Urgent!")


def test_per_queue_targets_apply(baton):
    assert baton.config.targets_for("vip").first_response == 120
    assert baton.config.targets_for("general").first_response == 600


def test_two_sweeps_at_once_send_each_reminder_exactly_once(
    app, customer, alex, baton, clock, fake_slack, settings
):
    start_claimed(customer, alex, baton)
    other = create_app(Settings(**{**settings.__dict__, "delivery_threads": 0}), clock=clock)
    try:
        clock.advance(25 * 60)
        results = []
        barrier = threading.Barrier(4)

        def sweep(reminders) -> None:
            barrier.wait()
            results.append(reminders.sweep().reminders)

        sweepers = [baton.reminders, other.extensions["baton"].reminders] * 2
        threads = [threading.Thread(target=sweep, args=(r,)) for r in sweepers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(results) == 3
        eventually(lambda: len(reminders_seen(fake_slack)) == 4)
        settle(app)
        assert reminders_seen(fake_slack) == ["dm", "thread", "channel", "thread"]
    finally:
        other.extensions["baton"].delivery.stop()


def test_a_sweep_that_died_after_claiming_is_picked_up_after_its_lease(
    customer, alex, baton, clock, redis_server
):
    start_claimed(customer, alex, baton)
    clock.advance(5 * 60)
    # A sweep claims the due conversation and dies before handling it.
    claimed = baton.reminders._claim(
        keys=[baton.keys.wake], args=[clock.now(), clock.now() + 30, 500]
    )
    assert claimed == ["1"]
    assert baton.reminders.sweep().woken == 0
    clock.advance(31)
    assert baton.reminders.sweep().reminders == 1


def test_cards_show_when_a_reply_is_due_and_refresh(customer, alex, baton, clock, fake_slack):
    customer.texts("hi")
    channel, card_ts = alex.card_of(1)
    from tests.handlers.test_bridge import card_blocks_text

    eventually(
        lambda: "Reply due in 10 minutes" in card_blocks_text(fake_slack.message(channel, card_ts))
    )
    clock.advance(4 * 60)
    baton.reminders.sweep()
    eventually(
        lambda: "Reply due in 6 minutes" in card_blocks_text(fake_slack.message(channel, card_ts))
    )
    clock.advance(8 * 60)
    baton.reminders.sweep()
    eventually(
        lambda: (
            "Reply overdue by 2 minutes" in card_blocks_text(fake_slack.message(channel, card_ts))
        )
    )


def test_overdue_lists_worst_first(client, alex, baton, clock, fake_slack):
    from tests.dialog import Customer

    first = Customer(client, "+15551230001", auth_token="twilio-test-auth-token")
    second = Customer(client, "+15551230002", auth_token="twilio-test-auth-token")
    first.texts("first")
    clock.advance(60)
    second.texts("second")
    alex.card_of(2)
    assert "Nothing is at risk" in str(alex.runs("overdue")["blocks"])
    clock.advance(12 * 60)
    text = alex.runs("overdue")["blocks"][1]["text"]["text"]
    assert text.index("#1") < text.index("#2")
    assert "overdue by 3 minutes" in text and "overdue by 2 minutes" in text


def test_two_sweeps_over_many_batches_wake_each_conversation_once(settings, clock):
    """More conversations due than one claimed batch holds, two clocks sweeping at once."""
    from app import shutdown
    from bot.reminders import BATCH
    from bot.values import InboundText
    from tests.dialog import new_sid

    quiet = Settings(**{**settings.__dict__, "delivery_threads": 0})
    apps = [create_app(quiet, clock=clock) for _ in range(2)]
    batons = [app.extensions["baton"] for app in apps]
    baton = batons[0]
    count = BATCH + 50
    try:
        for index in range(count):
            text = InboundText(new_sid(), f"+1646{index:07d}", settings.twilio_phone_number, "hi")
            assert baton.inbound.receive(text).result == "created"

        def outbox_sizes() -> list[int]:
            return [baton.redis.xlen(baton.keys.outbox(n)) for n in range(1, count + 1)]

        queued = outbox_sizes()

        def sweep_together() -> list:
            reports: list = []
            barrier = threading.Barrier(2)

            def sweep(reminders) -> None:
                barrier.wait()
                reports.append(reminders.sweep())

            threads = [threading.Thread(target=sweep, args=(b.reminders,)) for b in batons]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return reports

        # A minute on, every card's due time needs a refresh, and nothing more.
        clock.advance(61)
        reports = sweep_together()
        assert sum(r.woken for r in reports) == count
        assert sum(r.reminders for r in reports) == 0
        grown = [after - before for after, before in zip(outbox_sizes(), queued, strict=True)]
        assert grown == [1] * count
        assert baton.redis.zrangebyscore(baton.keys.wake, "-inf", clock.now()) == []
        # Half-way to the 10-minute first response: each is reminded once.
        clock.advance(5 * 60)
        reports = sweep_together()
        assert sum(r.woken for r in reports) == count
        assert sum(r.reminders for r in reports) == count
        assert all(
            baton.conversations.get(n).reminded == response.WARN for n in range(1, count + 1)
        )
        assert sum(b.reminders.sweep().woken for b in batons) == 0
    finally:
        for app in apps:
            shutdown(app)
