"""Retention: the clock erases the texts of conversations closed longer than `retention`."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest

from bot import schedule
from tests.dialog import Customer, eventually, settle
from tests.handlers.test_find import refs

CONFIG = """
business:
  name: Acme Dental
  timezone: America/New_York
queues:
  - {name: general, channel: C0123GENERAL, default: true}
retention: 30d
"""
DAY = 86400
PHOTO = ("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "image/jpeg")


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "baton.yml"
    path.write_text(CONFIG)
    return path


def closed_conversation(app, customer, alex, number: int, body: str, **media) -> None:
    customer.texts(body, **media)
    alex.card_of(number)
    alex.runs(f"claim #{number}")
    alex.says(number, "Come in at 3pm today")
    settle(app)
    eventually(lambda: len(alex.baton.conversations.messages(number)) == 2)
    alex.runs(f"handoff #{number} <@U0BLAIR> she mentioned her root canal")
    assert alex.baton.conversations.get(number).owner == "U0BLAIR"
    alex.runs(f"resolve #{number}")
    assert alex.baton.conversations.get(number).status == "closed"
    settle(app)


def test_the_clock_erases_texts_of_conversations_closed_longer_than_retention(
    app, client, customer, alex, blair, baton, clock, caplog
):
    closed_conversation(app, customer, alex, 1, "my crown hurts", media=[PHOTO])
    clock.advance(10 * DAY)
    other = Customer(client, "+15557654321", auth_token="twilio-test-auth-token")
    other.texts("is my crown ready")
    alex.card_of(2)
    blair.runs("resolve #2")
    Customer(client, "+15550009999", auth_token="twilio-test-auth-token").texts("crown again")
    alex.card_of(3)
    settle(app)  # #3's text is posted after its card: count it before, not during the check
    counters_before = baton.counters.read()
    events_before = [(e.kind, e.who, e.at) for e in baton.conversations.events(1)]
    assert "root canal" in json.dumps(baton.redis.lrange(baton.keys.events(1), 0, -1))
    assert json.loads(baton.conversations.messages(1)[0]["media"]) == [list(PHOTO)]

    clock.advance(21 * DAY)  # #1 closed 31 days ago, #2 21 days ago, #3 still open
    with caplog.at_level(logging.INFO, logger="bot.schedule"):
        schedule.retain(baton)

    texts = baton.conversations.messages(1)
    assert [(m["direction"], m["body"], m.get("media", "")) for m in texts] == [
        ("in", "", ""),
        ("out", "", ""),
    ]
    assert all(m["at"] for m in texts)
    events = baton.conversations.events(1)
    assert [(e.kind, e.who, e.at) for e in events[:-1]] == events_before
    assert all(e.note == "" for e in events[:-1])
    assert (events[-1].kind, events[-1].who) == ("expired", "baton")
    assert "root canal" not in json.dumps(baton.redis.lrange(baton.keys.events(1), 0, -1))
    # Only #1 was old enough; the others keep their words.
    assert baton.conversations.messages(2)[0]["body"] == "is my crown ready"
    assert baton.conversations.messages(3)[0]["body"] == "crown again"
    assert refs(alex.runs("find crown")) == ["#3", "#2"]
    assert refs(alex.runs("find +15551234567")) == ["#1"]  # the conversation is still there
    assert baton.counters.read() == counters_before  # the reporting aggregates stay
    logged = [r.getMessage() for r in caplog.records if r.name == "bot.schedule"]
    assert logged == [
        "retention: erased 2 texts and 1 media links of 1 conversations closed over 30 days"
    ]

    # Idempotent: a second run finds nothing left to erase and says nothing.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bot.schedule"):
        schedule.retain(baton)
    assert [e.kind for e in baton.conversations.events(1)].count("expired") == 1
    assert not [r for r in caplog.records if r.name == "bot.schedule"]

    # A customer writing again reopens the conversation; the new text is kept.
    customer.texts("hello again about my crown")
    eventually(lambda: baton.conversations.get(1).status == "open")
    assert refs(alex.runs("find crown")) == ["#1", "#3", "#2"]


def test_without_retention_the_clock_has_no_retention_job(baton, settings):
    import dataclasses

    assert "retention" in [j.id for j in schedule.build_scheduler(baton).get_jobs()]
    kept = dataclasses.replace(baton, config=dataclasses.replace(baton.config, retention=None))
    assert "retention" not in [j.id for j in schedule.build_scheduler(kept).get_jobs()]


def test_two_clocks_erase_a_conversation_once(app, customer, alex, baton, clock):
    closed_conversation(app, customer, alex, 1, "my crown hurts")
    clock.advance(31 * DAY)

    runs = [threading.Thread(target=schedule.retain, args=[baton]) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()

    assert [e.kind for e in baton.conversations.events(1)].count("expired") == 1
    assert baton.conversations.messages(1)[0]["body"] == ""
    assert baton.redis.zcard(baton.keys.texts_kept) == 0
