"""Delivery keeps within Slack's rate limits instead of finding them.

The stand-in answers as Slack does past its limits (429 with Retry-After,
nothing posted), twice as fast as Slack so the tests are quick, and two
apps deliver from the same Redis as two processes would, with Baton paced
twice as fast too. (At five times, a post may arrive only 0.1 s early before
the stand-in refuses it, and a busy two-core CI host delays one post that much.)
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from collections.abc import Iterator

import pytest

from app import create_app, shutdown
from bot.lanes import Deferred, Parked
from config import Settings
from slack.pacing import TIER_BURST, Pacer, serving
from standins import FakeSlack
from standins.slack import RATE_LIMITS_PER_MINUTE
from tests.conftest import AUTH_TOKEN, SIGNING_SECRET
from tests.dialog import Customer, Teammate, eventually, settle

GENERAL = "C0123GENERAL"
SCALE = 2


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, delivery_threads=0, slack_pace=SCALE)


@pytest.fixture
def limited(fake_slack: FakeSlack) -> FakeSlack:
    """Slack's limits, SCALE times faster; a post may come half an interval early."""
    per_minute = {method: rate * SCALE for method, rate in RATE_LIMITS_PER_MINUTE.items()}
    fake_slack.limit_rates(SCALE, per_minute=per_minute, slack=0.5 / SCALE)
    return fake_slack


@pytest.fixture
def second(settings: Settings, clock) -> Iterator:  # type: ignore[no-untyped-def]
    """A second app on the same Redis: another process delivering."""
    app = create_app(settings, clock=clock)
    yield app.extensions["baton"]
    shutdown(app)


def deliver(batons: list, threads: int, until, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    """Run each app's Slack workers until until() holds."""
    for baton in batons:
        baton.delivery.start(threads)
    try:
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, "delivery did not finish in time"
            time.sleep(0.05)
    finally:
        for baton in batons:
            baton.delivery.stop()


def cards(fake_slack: FakeSlack) -> list[dict]:
    return [m for m in fake_slack.messages(GENERAL) if not m.get("thread_ts")]


def test_a_storm_in_one_channel_keeps_within_its_limit_with_urgent_cards_first(
    client, baton, second, limited: FakeSlack
) -> None:
    customers = [Customer(client, f"+1555010{n:04d}", auth_token=AUTH_TOKEN) for n in range(24)]
    urgent = {9, 14, 19, 23}
    for n, customer in enumerate(customers):
        customer.texts(f"text {n}" + (" urgent" if n in urgent else ""))
    for n in range(6):
        customers[n].texts(f"again {n}")

    deliver(
        [baton, second],
        threads=3,
        until=lambda: sum(len(limited.thread(GENERAL, c["ts"])) for c in cards(limited)) == 30,
        timeout=60.0,
    )

    posts = limited.calls_to("chat.postMessage")
    assert [c.status for c in posts if c.status != 200] == []
    assert limited.calls_to("conversations.history") == []
    assert limited.calls_to("conversations.replies") == []
    order = [c["attachments"][0]["fallback"] for c in cards(limited)]
    assert len(order) == 24
    ranks = [index for index, text in enumerate(order) if "urgent" in text]
    assert len(ranks) == 4
    assert max(ranks) < 12  # queued at places 10, 15, 20 and 24, all in the first half
    for n in range(6):
        [card] = [
            c for c in cards(limited) if c["attachments"][0]["fallback"].endswith(f"text {n}")
        ]
        [again] = limited.thread(GENERAL, card["ts"])[1:]
        assert again["text"].endswith(f"again {n}")
    here = [c.at for c in posts if c.params.get("channel") == GENERAL]
    assert len(here) == 30
    assert min(b - a for a, b in itertools.pairwise(here)) > 0.5 / SCALE


def test_a_rate_limited_post_is_retried_without_looking_for_it(
    settings: Settings, customer, app, fake_slack: FakeSlack
) -> None:
    fake_slack.fail_next("chat.postMessage", 429, headers={"Retry-After": "1"})
    customer.texts("Is my crown ready?")

    settle(app)

    [card] = cards(fake_slack)
    assert card["attachments"][0]["fallback"].endswith("Is my crown ready?")
    assert [c.status for c in fake_slack.calls_to("chat.postMessage")] == [429, 200]
    assert fake_slack.calls_to("conversations.history") == []


def test_the_first_text_is_in_the_card_and_stays_there_when_the_card_changes(
    customer, app, fake_slack: FakeSlack, baton
) -> None:
    alex = Teammate(app.test_client(), fake_slack, baton, "U0ALEX", signing_secret=SIGNING_SECRET)
    customer.texts("Is my crown ready?")
    settle(app)
    [card] = cards(fake_slack)
    assert fake_slack.thread(GENERAL, card["ts"])[1:] == []  # one post, not two
    [shown] = card["attachments"]
    assert "Is my crown ready?" in shown["blocks"][0]["text"]["text"]

    alex.clicks("claim", "1")
    settle(app)

    claimed = fake_slack.message(GENERAL, card["ts"])
    assert "<@U0ALEX>" in str(claimed["blocks"])
    assert claimed["attachments"] == [shown]


def test_a_call_that_would_wait_for_its_budget_is_deferred_when_its_job_may_go_later(
    redis_server, redis_prefix: str
) -> None:
    pacer = Pacer(redis_server, redis_prefix)
    with serving("c:1", 0, deferrable=True):
        for _ in range(TIER_BURST + 1):  # a burst goes at once
            pacer.wait("chat.update", GENERAL)
        with pytest.raises(Deferred):
            pacer.wait("chat.update", GENERAL)


def test_a_parked_lane_woken_again_leaves_its_place_so_it_holds_up_no_one(
    redis_server, redis_prefix: str
) -> None:
    """Parked, then woken by a new text (or a lost wake-up made good) and posted: gone from the room."""
    # A post every two seconds: c:9 must ask while c:2 still waits for its turn.
    pacer = Pacer(redis_server, redis_prefix, scale=0.5)
    posted: list[str] = []

    def post(lane: str, place: float) -> None:
        with serving(lane, place):
            pacer.wait("chat.postMessage", GENERAL)
        posted.append(lane)

    post("c:1", 100)  # the channel's budget: the next post two seconds from now
    seated = [threading.Thread(target=post, args=(f"c:{n}", n * 100)) for n in (2, 3)]
    for thread in seated:
        thread.start()
    seats = f"{redis_prefix}:{{pace}}:room:{GENERAL}:seated"
    eventually(lambda: redis_server.zcard(seats) == 2, message="c:2 and c:3 never took their seats")
    with serving("c:9", 500), pytest.raises(Parked):
        pacer.wait("chat.postMessage", GENERAL)
    for thread in seated:
        thread.join()
    post("c:9", 500)  # woken again before any worker pulled it: it takes a seat and posts
    post("c:10", 1000)  # not parked behind c:9's old place

    assert posted == ["c:1", "c:2", "c:3", "c:9", "c:10"]
    assert pacer.next_lanes() == []
