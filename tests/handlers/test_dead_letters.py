"""No post blocks a conversation forever: one Slack refuses for good is dead-lettered, logged and shown."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from config import Settings
from tests.dialog import settle
from tests.handlers.test_ops import scrape

GENERAL = "C0123GENERAL"
NOT_IN_CHANNEL = {"ok": False, "error": "not_in_channel"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A refused card or text is retried for a second, not five minutes, before it is given up on.
    return replace(settings, dead_letter_after=1)


def test_a_card_slack_refuses_is_dead_lettered_and_the_posts_behind_it_still_go_out(
    app, client, customer, alex, baton, fake_slack, caplog
):
    caplog.set_level(logging.INFO)
    # The bot is not in #general: Slack refuses the card, and its retry a second later.
    fake_slack.fail_next("chat.postMessage", 200, body=NOT_IN_CHANNEL, times=2)
    customer.texts("my order never came")
    customer.texts("hello?")
    # Someone invited the bot meanwhile: the text behind the card posts the card first, showing
    # the first text the refused card carried, then itself.
    channel, card_ts = alex.card_of(1)
    assert channel == GENERAL
    settle(app)
    thread = fake_slack.said(GENERAL, card_ts)
    assert thread == ["*+1 555-123-4567:* my order never came", "*+1 555-123-4567:* hello?"]

    [(_id, letter)] = baton.redis.xrange(baton.keys.outboxes("slack").dead)
    assert (letter["lane"], letter["kind"], letter["reason"]) == ("c:1", "card", "not_in_channel")
    assert "body" not in letter and "text" not in letter

    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors[-1].startswith("slack refused card job ")
    assert "(not_in_channel) on attempt 2; dead-lettering it" in errors[-1]
    assert not any("my order never came" in r.getMessage() for r in caplog.records)

    health = client.get("/healthz")
    assert health.status_code == 200, "a dead letter waits for a person; delivery goes on"
    outboxes = health.get_json()["outboxes"]
    assert (outboxes["slack"]["dead_letters"], outboxes["sms"]["dead_letters"]) == (1, 0)
    metrics = scrape(client)
    assert metrics["baton_dead_letters_total{outbox=slack}"] == 1
    assert metrics["baton_dead_letters_total{outbox=sms}"] == 0
    assert metrics["baton_dead_letters_kept{outbox=slack}"] == 1
