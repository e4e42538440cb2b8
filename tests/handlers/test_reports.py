"""/sms report through the real app: a scripted week on an injected clock, its numbers by hand."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from bot.backfill import Backfill
from bot.change import Change
from bot.tally import Tally
from bot.values import Event
from tests.dialog import Customer, eventually, ny, settle

CONFIG = """
business:
  name: Acme Dental
  timezone: America/New_York
  hours: {mon-fri: "09:00-18:00"}
queues:
  - {name: sales, channel: C0123SALES, keywords: [price]}
  - {name: general, channel: C0123GENERAL, default: true}
response_targets: {first_response: 15m, next_response: 1h}
"""
AUTH_TOKEN = "twilio-test-auth-token"


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "baton.yml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def casey(client, fake_slack, baton):  # type: ignore[no-untyped-def]
    from tests.dialog import Teammate

    return Teammate(
        client, fake_slack, baton, "U0CASEY", signing_secret="slack-test-signing-secret"
    )


def text(client, number: str, body: str) -> None:  # type: ignore[no-untyped-def]
    """A customer texts the business."""
    assert Customer(client, number, auth_token=AUTH_TOKEN).texts(body).status_code == 200


def rated(baton, number: int, who: str, score: str) -> None:  # type: ignore[no-untyped-def]
    """Record a rating as CSAT will: a "rated" event through the normal commit."""
    now = baton.clock.now()
    change = baton.conversations.commits.update(
        number, lambda c: Change(c, events=[Event("rated", who, now, after=score)])
    )
    assert change.ok


def reply(app, person, number: int, words: str) -> None:  # type: ignore[no-untyped-def]
    """A teammate answers in the thread, and the text is sent (and recorded) at once."""
    person.says(number, words)
    settle(app)
    eventually(
        lambda: any(m.get("body") == words for m in person.baton.conversations.messages(number))
    )


def scripted_week(app, client, baton, clock, alex, blair, casey) -> None:  # type: ignore[no-untyped-def]
    """Monday 16 to Friday 20 November 2026, open 9 to 6 on weekdays (New York)."""
    # #1 answered fast: first response 4 min, resolved after 30 min.
    clock.current = ny(2026, 11, 16, 9, 0)
    text(client, "+15551230001", "Is my crown ready?")
    alex.card_of(1)
    clock.current = ny(2026, 11, 16, 9, 1)
    alex.runs("claim #1")
    clock.current = ny(2026, 11, 16, 9, 4)
    reply(app, alex, 1, "Yes, come by any time.")
    clock.current = ny(2026, 11, 16, 9, 30)
    alex.runs("resolve #1")

    # #2 answered slowly, across the night: 1 h Monday + 1 h Tuesday of open time;
    # then a second stretch answered in 10 min; resolved 18 h after the first text.
    clock.current = ny(2026, 11, 16, 17, 0)
    text(client, "+15551230002", "What is the price of whitening?")
    alex.card_of(2)
    clock.current = ny(2026, 11, 16, 17, 5)
    blair.runs("claim #2")
    clock.current = ny(2026, 11, 17, 10, 0)
    reply(app, blair, 2, "It is $300.")
    clock.current = ny(2026, 11, 17, 10, 30)
    text(client, "+15551230002", "Can I book for Friday?")
    settle(app)
    clock.current = ny(2026, 11, 17, 10, 40)
    reply(app, blair, 2, "Booked, Friday 3pm.")
    clock.current = ny(2026, 11, 17, 11, 0)
    blair.runs("resolve #2")

    # #3 handed off twice (Alex → Blair → Casey), answered after 30 min, rated 5.
    clock.current = ny(2026, 11, 17, 12, 0)
    text(client, "+15551230003", "My bridge feels loose")
    alex.card_of(3)
    clock.current = ny(2026, 11, 17, 12, 1)
    alex.runs("claim #3")
    clock.current = ny(2026, 11, 17, 12, 10)
    alex.runs("handoff #3 <@U0BLAIR> bridges are yours")
    clock.current = ny(2026, 11, 17, 12, 20)
    blair.runs("handoff #3 <@U0CASEY> Casey did this bridge")
    clock.current = ny(2026, 11, 17, 12, 30)
    reply(app, casey, 3, "Come in at 2pm and I'll fix it.")
    clock.current = ny(2026, 11, 17, 13, 0)
    casey.runs("resolve #3")
    clock.current = ny(2026, 11, 17, 13, 10)
    rated(baton, 3, "U0CASEY", "5")

    # #4 never answered for 25 h: the sweep counts it when it is 24 h old.
    clock.current = ny(2026, 11, 18, 9, 0)
    text(client, "+15551230004", "Anyone there?")
    alex.card_of(4)
    settle(app)
    clock.current = ny(2026, 11, 19, 10, 0)
    baton.reminders.sweep()
    settle(app)
    clock.current = ny(2026, 11, 19, 10, 5)
    alex.runs("claim #4")
    clock.current = ny(2026, 11, 19, 10, 10)  # 9 h Wednesday + 1 h 10 min Thursday open
    reply(app, alex, 4, "Sorry for the wait!")
    clock.current = ny(2026, 11, 19, 10, 30)
    alex.runs("resolve #4")

    # #5 answered in 2 min, resolved in 10, rated 2.
    clock.current = ny(2026, 11, 19, 14, 0)
    text(client, "+15551230005", "Do you take new patients?")
    alex.card_of(5)
    clock.current = ny(2026, 11, 19, 14, 1)
    blair.runs("claim #5")
    clock.current = ny(2026, 11, 19, 14, 2)
    reply(app, blair, 5, "We do!")
    clock.current = ny(2026, 11, 19, 14, 10)
    blair.runs("resolve #5")
    clock.current = ny(2026, 11, 19, 14, 20)
    rated(baton, 5, "U0BLAIR", "2")

    # #6 before opening on Friday: the automatic after-hours reply is no human reply.
    clock.current = ny(2026, 11, 20, 7, 0)
    text(client, "+15551230006", "Are you open today?")
    alex.card_of(6)
    settle(app)
    clock.current = ny(2026, 11, 20, 16, 0)


def shown(answer: dict) -> list[str]:  # type: ignore[type-arg]
    """Return a report answer's lines."""
    return "\n".join(b["text"]["text"] for b in answer["blocks"]).split("\n")


WEEK = [
    "*Report for the last 7 days (Nov 14 - Nov 20), all queues*",
    "_Changes are against Nov 7 - Nov 13._",
    "*Conversations:* 6 new (+6) · 5 resolved (+5) · 1 open now",
    "*Texts:* 7 in (+7) · 7 out (+7)",
    # first responses 120, 240, 1800, 7200, 36600 s; next 600 s
    "*First response:* median 30 min · p90 10 h 10 min",
    "*Next response:* median 10 min",
    # met: #1, #2's second, #5; missed: #2's first, #3, #4
    "*Met target:* 50% of 6 responses",
    # resolutions 600, 1800, 3600, 64800, 91800 s
    "*Resolution:* median 1 h",
    "*Reassignment:* 17% of conversations, 1 of 6, 0.3 changes per conversation",
    "*Unanswered 24 h:* 17% of unanswered stretches, 1 of 6",
    "*CSAT:* 50% rated 4-5, mean 3.5, 2 ratings (+2)",
    "*By queue*",
    # general: first 120, 240, 1800, 36600 → 1020 s; resolution 600, 1800, 3600, 91800 → 2700 s
    "• general: 5 conversations · first response median 17 min · resolution median 45 min · CSAT 50% (2)",
    "• sales: 1 conversations · first response median 2 h · resolution median 18 h · CSAT -",
    "*By person*",
    # Alex: first 240, 36600 → 18420 s; resolution 1800, 91800 → 46800 s
    "• <@U0ALEX>: 3 conversations · first response median 5 h 7 min · resolution median 13 h · CSAT -",
    # Blair: first 7200, 120 → 3660 s; resolution 64800, 600 → 32700 s
    "• <@U0BLAIR>: 3 conversations · first response median 1 h 1 min · resolution median 9 h 5 min · CSAT 0% (1)",
    "• <@U0CASEY>: 1 conversations · first response median 30 min · resolution median 1 h · CSAT 100% (1)",
    "*Patterns to watch*",
    "• Many unanswered texts mean nobody owns “inbox zero”: 17% of unanswered stretches went 24 h without a human reply (1 of 6).",
]


def test_report_shows_the_scripted_weeks_numbers_and_the_csv_matches(
    app, client, baton, clock, alex, blair, casey, fake_slack
):
    scripted_week(app, client, baton, clock, alex, blair, casey)

    assert shown(alex.runs("report")) == WEEK
    assert shown(alex.runs("report 7d")) == WEEK

    today = shown(alex.runs("report today"))  # Friday against Thursday
    assert today[:4] == [
        "*Report for today (Nov 20), all queues*",
        "_Changes are against Nov 19._",
        "*Conversations:* 1 new (±0) · 0 resolved (-2) · 1 open now",
        "*Texts:* 1 in (±0) · 1 out (-1)",
    ]
    assert "• none apply" in today

    sales = shown(alex.runs("report 2026-11-16..2026-11-20 sales"))
    assert sales[:3] == [
        "*Report for Nov 16 - Nov 20 (Nov 16 - Nov 20), the sales queue*",
        "_Changes are against Nov 11 - Nov 15._",
        "*Conversations:* 1 new (+1) · 1 resolved (+1) · 0 open now",
    ]
    assert "*First response:* median 2 h · p90 2 h" in sales

    blairs = shown(alex.runs("report week <@U0BLAIR|blair>"))
    assert blairs[0] == "*Report for this week (Nov 16 - Nov 20), <@U0BLAIR>*"
    assert "*CSAT:* 0% rated 4-5, mean 2.0, 1 ratings (+1)" in blairs
    assert "*Reassignment:* 33% of conversations, 1 of 3, 0.3 changes per conversation" in blairs

    answer = alex.runs("report csv")
    assert answer["text"] == (
        "The CSV of the last 7 days (Nov 14 - Nov 20, 6 conversations) is in your DMs with Baton."
    )
    files = eventually(lambda: list(fake_slack.files.values()))
    assert files[0]["channel_id"] == "DU0ALEX"
    rows = list(csv.reader(io.StringIO(files[0]["data"].decode())))
    assert rows == [
        [
            "ref",
            "queue",
            "owner",
            "customer",
            "created",
            "first response s",
            "resolution s",
            "reassignments",
            "unanswered 24h",
            "rating",
            "tags",
            "status",
        ],
        ["#1", "general", "Alex", "+1******0001", "2026-11-16 09:00", "240", "1800", "0", "0", "", "", "closed"],
        ["#2", "sales", "Blair", "+1******0002", "2026-11-16 17:00", "7200", "64800", "0", "0", "", "", "closed"],
        ["#3", "general", "Casey", "+1******0003", "2026-11-17 12:00", "1800", "3600", "2", "0", "5", "", "closed"],
        ["#4", "general", "Alex", "+1******0004", "2026-11-18 09:00", "36600", "91800", "0", "1", "", "", "closed"],
        ["#5", "general", "Blair", "+1******0005", "2026-11-19 14:00", "120", "600", "0", "0", "2", "", "closed"],
        ["#6", "general", "", "+1******0006", "2026-11-20 07:00", "", "", "0", "0", "", "new", "open"],
    ]  # fmt: skip


def test_backfill_rebuilds_the_same_numbers_twice_and_metrics_show_them(
    app, client, baton, clock, alex, blair, casey
):
    scripted_week(app, client, baton, clock, alex, blair, casey)
    live = shown(alex.runs("report"))
    fields = {n: baton.conversations.get(n).to_fields() for n in range(1, 7)}

    calendar = baton.conversations.calendar
    backfill = Backfill(baton.redis, baton.keys, Tally(baton.config, calendar), calendar, clock)
    for _ in range(2):
        backfill.run()
        assert shown(alex.runs("report")) == live
        for n, before in fields.items():
            after = baton.conversations.get(n).to_fields()
            assert {k: v for k, v in after.items() if k != "version"} == {
                k: v for k, v in before.items() if k != "version"
            }

    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'baton_first_response_seconds_bucket{le="300.0",queue="general"} 2.0' in metrics
    assert 'baton_first_response_seconds_bucket{le="1800.0",queue="general"} 3.0' in metrics
    assert 'baton_first_response_seconds_count{queue="general"} 4.0' in metrics
    assert 'baton_first_response_seconds_sum{queue="general"} 38760.0' in metrics
    assert 'baton_resolution_seconds_count{queue="sales"} 1.0' in metrics
    assert 'baton_ratings_total{score="5"} 1.0' in metrics
    assert 'baton_ratings_total{score="3"} 0.0' in metrics


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("report yesterday", "I can't read `yesterday` in a report."),
        ("report 7d 30d", "Give one period at most."),
        ("report sales general", "Give one queue or person at most."),
        ("report 2026-11-20..2026-11-01", "ends before it starts"),
        ("report 2024-01-01..2026-11-01", "A report covers at most 366 days"),
        ("report 2026-13-01..2026-13-05", "I can't read `2026-13-01..2026-13-05`"),
    ],
)
def test_report_explains_what_it_cannot_read(alex, typed, said):
    assert said in alex.runs(typed)["text"]


def test_home_tab_shows_my_last_seven_days_above_my_lists(
    app, client, baton, clock, alex, fake_slack
):
    clock.current = ny(2026, 11, 16, 9, 0)
    text(client, "+15551230001", "Is my crown ready?")
    alex.card_of(1)
    alex.runs("claim #1")
    clock.current = ny(2026, 11, 16, 9, 4)
    reply(app, alex, 1, "Yes.")
    alex.runs("resolve #1")
    alex.opens_home()
    home = eventually(lambda: fake_slack.home_views.get("U0ALEX"))
    texts = [b["text"]["text"] for b in home["blocks"] if b["type"] == "section"]
    assert texts[0] == (
        "*Your last 7 days:* 1 conversations · 1 resolved · first response median 4 min · "
        "met target 100% · resolution median 4 min · CSAT no ratings"
    )
