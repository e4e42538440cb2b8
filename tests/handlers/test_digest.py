"""The weekly digest through the real app and the clock's own job: once per week, late rather than never."""

from __future__ import annotations

import dataclasses
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from app import create_app, shutdown
from bot import schedule
from bot.views.digest import BARS, LINE
from config import Settings
from tests.dialog import Customer, Teammate, TestClock, eventually, ny, settle

MANAGERS = "C0123MANAGERS"
CONFIG = """
business: {name: Acme Dental, timezone: America/New_York}
queues:
  - {name: general, channel: C0123GENERAL, default: true}
admins: [U0ALEX]
reports: {channel: C0123MANAGERS, digest: "mon 09:00"}
"""
AUTH_TOKEN = "twilio-test-auth-token"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "baton.yml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def second_clock(settings: Settings) -> Iterator[tuple]:  # type: ignore[type-arg]
    """Another clock process: its own Baton on the same Redis, with its own clock.

    It delivers nothing: a text it sent would be recorded at its own test clock's
    time, which only the scheduler's ticks keep in step with the first one's.
    """
    clock = TestClock()
    app = create_app(dataclasses.replace(settings, delivery_threads=0), clock=clock)
    yield app.extensions["baton"], clock
    shutdown(app)


def reply(app, person, number: int, words: str) -> None:  # type: ignore[no-untyped-def]
    """A teammate answers in the thread, and the text is sent (and recorded) at once."""
    person.says(number, words)
    settle(app)
    eventually(
        lambda: any(m.get("body") == words for m in person.baton.conversations.messages(number))
    )


def scripted_week(app, client, clock, alex, blair) -> None:  # type: ignore[no-untyped-def]
    """Monday 9 to Sunday 15 November 2026 (New York, open all week)."""
    # #1: answered in 5 min, resolved after 30.
    clock.current = ny(2026, 11, 9, 10, 0)
    Customer(client, "+15551230001", auth_token=AUTH_TOKEN).texts("Is my crown ready?")
    alex.card_of(1)
    clock.current = ny(2026, 11, 9, 10, 1)
    alex.runs("claim #1")
    clock.current = ny(2026, 11, 9, 10, 5)
    reply(app, alex, 1, "Yes, come by any time.")
    clock.current = ny(2026, 11, 9, 10, 30)
    alex.runs("resolve #1")
    # #2: answered in 22 min, still open.
    clock.current = ny(2026, 11, 11, 14, 0)
    Customer(client, "+15551230002", auth_token=AUTH_TOKEN).texts("Can I move my appointment?")
    alex.card_of(2)
    clock.current = ny(2026, 11, 11, 14, 2)
    blair.runs("claim #2")
    clock.current = ny(2026, 11, 11, 14, 22)
    reply(app, blair, 2, "Sure, which day suits you?")


def digests(fake_slack) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    """Return the digest messages posted in the managers' channel."""
    return [m for m in fake_slack.messages(MANAGERS) if m.get("blocks")]


def charts(fake_slack) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    """Return the files shared in the managers' channel."""
    return [f for f in fake_slack.files.values() if f["channel_id"] == MANAGERS]


def lines(message: dict) -> list[str]:  # type: ignore[type-arg]
    return "\n".join(b["text"]["text"] for b in message["blocks"]).split("\n")


def tick_together(*batons) -> None:  # type: ignore[no-untyped-def]
    """Run the clock's digest job in each process at the same moment, a few times over."""
    start = threading.Barrier(len(batons))

    def run(baton) -> None:  # type: ignore[no-untyped-def]
        start.wait()
        for _ in range(5):
            schedule.digest(baton)

    threads = [threading.Thread(target=run, args=(b,)) for b in batons]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_the_digest_posts_once_with_two_clocks_running(
    app, client, baton, clock, alex, blair, fake_slack, second_clock
):
    other, other_clock = second_clock
    assert "weekly-digest" in [j.id for j in schedule.build_scheduler(baton).get_jobs()]
    scripted_week(app, client, clock, alex, blair)

    # Sunday night, and Monday a minute before nine: last week's digest is not due yet.
    for moment in (ny(2026, 11, 15, 23, 0), ny(2026, 11, 16, 8, 59)):
        clock.current = other_clock.current = moment
        tick_together(baton, other)
    settle(app)
    assert digests(fake_slack) == [] and charts(fake_slack) == []

    clock.current = other_clock.current = ny(2026, 11, 16, 9, 0)
    tick_together(baton, other)
    clock.current = other_clock.current = ny(2026, 11, 16, 9, 1)
    tick_together(baton, other)
    settle(app)
    [digest] = eventually(lambda: digests(fake_slack))
    shown = lines(digest)
    assert shown[:5] == [
        "*Weekly digest: Nov 9 - Nov 15*",
        "_Changes are against Nov 2 - Nov 8._",
        "*Conversations:* 2 new (+2) · 1 resolved (+1) · 1 open now",
        "*Texts:* 2 in (+2) · 2 out (+2)",
        # first responses 300 and 1320 s
        "*First response:* median 13 min 30 s · p90 22 min",
    ]
    assert shown[-7:] == [
        "*By queue*",
        "• general: 2 conversations · first response median 13 min 30 s · resolution median 30 min · CSAT -",
        "*By person*",
        # People by name: a channel post must not ping each of them every week.
        "• Alex: 1 conversations · first response median 5 min · resolution median 30 min · CSAT -",
        "• Blair: 1 conversations · first response median 22 min · resolution median - · CSAT -",
        "*Patterns to watch*",
        "• none apply",
    ]
    assert digest["metadata"]["event_type"] == "baton_digest"

    [chart] = eventually(lambda: charts(fake_slack))
    assert chart["data"].startswith(PNG)
    assert chart["filename"].startswith("baton-digest-2026-11-09-")
    assert chart["title"] == "Conversations and first response median, Nov 9 - Nov 15"
    image = Image.open(io.BytesIO(chart["data"])).convert("RGB")
    assert image.size == (1200, 675)
    colours = dict((colour, n) for n, colour in image.getcolors(maxcolors=1_000_000))
    # Drawn, not blank: Monday's and Wednesday's bars, and the median's line.
    assert colours.get(Image.new("RGB", (1, 1), BARS).getpixel((0, 0)), 0) > 10_000
    assert colours.get(Image.new("RGB", (1, 1), LINE).getpixel((0, 0)), 0) > 1_000
    # The share came after the digest, in the channel itself.
    shares = [m for m in fake_slack.messages(MANAGERS) if m.get("files")]
    assert [s["files"][0]["name"] for s in shares] == [chart["filename"]]
    assert shares[0]["ts"] > digest["ts"] and shares[0].get("thread_ts") is None

    # The rest of the week, every clock ticking: nothing more. The next Monday: the next week.
    for moment in (ny(2026, 11, 18, 12, 0), ny(2026, 11, 22, 23, 59)):
        clock.current = other_clock.current = moment
        tick_together(baton, other)
    settle(app)
    assert len(digests(fake_slack)) == 1 and len(charts(fake_slack)) == 1
    clock.current = other_clock.current = ny(2026, 11, 23, 9, 0)
    tick_together(baton, other)
    settle(app)
    eventually(lambda: len(digests(fake_slack)) == 2 and len(charts(fake_slack)) == 2)
    assert lines(digests(fake_slack)[1])[:2] == [
        "*Weekly digest: Nov 16 - Nov 22*",
        "_Changes are against Nov 9 - Nov 15._",
    ]


def test_a_clock_down_over_the_digest_time_posts_it_late_once(
    app, client, baton, clock, alex, blair, fake_slack
):
    scripted_week(app, client, clock, alex, blair)
    clock.current = ny(2026, 11, 13, 12, 0)  # Friday: the clock runs, then goes down
    schedule.digest(baton)
    settle(app)
    assert digests(fake_slack) == []

    clock.current = ny(2026, 11, 18, 15, 30)  # back on Wednesday
    schedule.digest(baton)
    schedule.digest(baton)
    settle(app)
    [digest] = eventually(lambda: digests(fake_slack))
    assert lines(digest)[0] == "*Weekly digest: Nov 9 - Nov 15*"
    eventually(lambda: len(charts(fake_slack)) == 1)

    # Down again over two Mondays: only the latest week is posted, not a backlog.
    clock.current = ny(2026, 12, 1, 8, 0)
    schedule.digest(baton)
    settle(app)
    eventually(lambda: len(digests(fake_slack)) == 2 and len(charts(fake_slack)) == 2)
    assert [lines(d)[0] for d in digests(fake_slack)] == [
        "*Weekly digest: Nov 9 - Nov 15*",
        "*Weekly digest: Nov 23 - Nov 29*",
    ]


def test_a_digest_switched_on_mid_week_starts_with_the_next_one(baton, clock, fake_slack, app):
    clock.current = ny(2026, 11, 18, 15, 0)  # Wednesday: Monday's digest time was before
    schedule.digest(baton)
    settle(app)
    assert digests(fake_slack) == []
    clock.current = ny(2026, 11, 23, 9, 0)
    schedule.digest(baton)
    settle(app)
    [digest] = eventually(lambda: digests(fake_slack))
    assert lines(digest)[0] == "*Weekly digest: Nov 16 - Nov 22*"


def test_lost_answers_from_slack_post_neither_the_digest_nor_its_chart_twice(
    app, client, baton, clock, alex, blair, fake_slack
):
    scripted_week(app, client, clock, alex, blair)
    clock.current = ny(2026, 11, 15, 12, 0)
    schedule.digest(baton)
    # Both land in Slack, but neither answer reaches Baton.
    fake_slack.fail_next("chat.postMessage", 500, after_effect=True)
    fake_slack.fail_next("files.completeUploadExternal", 500, after_effect=True)
    clock.current = ny(2026, 11, 16, 9, 0)
    schedule.digest(baton)
    eventually(
        lambda: (
            len(fake_slack.calls_to("files.completeUploadExternal")) == 1
            and len(fake_slack.calls_to("conversations.history")) >= 2
        ),
        timeout=20,
    )
    settle(app, timeout=20)
    assert len(digests(fake_slack)) == 1
    assert len([m for m in fake_slack.messages(MANAGERS) if m.get("files")]) == 1
    assert len(charts(fake_slack)) == 1


def test_admins_post_this_weeks_digest_so_far_and_others_are_told_they_cannot(
    app, client, baton, clock, alex, blair, fake_slack
):
    scripted_week(app, client, clock, alex, blair)
    clock.current = ny(2026, 11, 11, 16, 0)  # Wednesday

    refused = blair.runs("digest")
    assert refused["text"] == "Only an admin (admins: in the config) can post the digest."
    settle(app)
    assert digests(fake_slack) == [] and charts(fake_slack) == []

    assert alex.runs("digest now")["text"] == "Use: `/sms digest`"
    answer = alex.runs("digest")
    assert answer["text"] == (
        "Posting the digest of this week so far (Nov 9 - Nov 11) in <#C0123MANAGERS>."
    )
    settle(app)
    [digest] = eventually(lambda: digests(fake_slack))
    assert lines(digest)[:3] == [
        "*Digest of this week so far (Nov 9 - Nov 11)*",
        "_Changes are against Nov 2 - Nov 4._",
        "*Conversations:* 2 new (+2) · 1 resolved (+1) · 1 open now",
    ]
    [chart] = eventually(lambda: charts(fake_slack))
    assert chart["data"].startswith(PNG)
    assert Image.open(io.BytesIO(chart["data"])).size == (1200, 675)


NO_REPORTS = """
business: {name: Acme Dental, timezone: America/New_York}
queues:
  - {name: general, channel: C0123GENERAL, default: true}
admins: [U0ALEX]
"""


def test_digest_without_a_channel_says_what_to_set(settings, tmp_path, fake_slack):
    path = tmp_path / "no-reports.yml"
    path.write_text(NO_REPORTS)
    app = create_app(Settings(**{**settings.__dict__, "config_path": path}), clock=TestClock())
    try:
        baton = app.extensions["baton"]
        alex = Teammate(
            app.test_client(),
            fake_slack,
            baton,
            "U0ALEX",
            signing_secret="slack-test-signing-secret",
        )
        assert alex.runs("digest")["text"] == (
            "There is no digest channel: set `reports.channel` in the config (and "
            "`reports.digest` for a weekly digest) to post one."
        )
        assert "weekly-digest" not in [j.id for j in schedule.build_scheduler(baton).get_jobs()]
    finally:
        shutdown(app)
