"""The Slack performer on its own: one outbox job at a time, against the fake Slack API.

Conversations come from the real app (a customer texts); its delivery
workers are off, so only the test performs jobs, with a real WebClient.
"""

from __future__ import annotations

import dataclasses
import time
from typing import get_args, get_type_hints

import pytest
from slack_sdk import WebClient

from bot import schedule
from bot.lanes import Job, Stuck, Transient, conversation_lane
from bot.values import SlackJob
from bot.values import notice as notice_job
from config import Settings
from slack.delivery import SlackPerformer
from standins import FakeSlack

GENERAL = "C0123GENERAL"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, delivery_threads=0)


@pytest.fixture
def performer(fake_slack: FakeSlack, baton) -> SlackPerformer:  # type: ignore[no-untyped-def]
    slack = WebClient(token="xoxb-test", base_url=f"{fake_slack.url}/api/")
    return SlackPerformer(slack, baton.conversations)


# A stream id from a moment ago: the lookup searches Slack from the job's moment on.
JOB_ID = f"{int(time.time() * 1000)}-0"


def job(kind: str, *, again: bool = False, **fields: str) -> Job:
    return Job(conversation_lane(1), JOB_ID, {"kind": kind, **fields}, again)


def test_every_kind_of_slack_job_has_its_method(performer: SlackPerformer) -> None:
    kinds = set(get_args(get_type_hints(SlackJob)["kind"]))
    assert set(performer.conversation_jobs) == kinds


def test_a_card_posted_before_its_answer_was_lost_is_found_not_posted_again(
    performer: SlackPerformer, customer, baton, fake_slack: FakeSlack
) -> None:
    customer.texts("Is my crown ready?")
    fake_slack.fail_next("chat.postMessage", 500, after_effect=True)
    with pytest.raises(Transient):
        performer.perform(job("card"))
    [posted] = fake_slack.messages(GENERAL)
    assert posted["metadata"]["event_payload"] == {"conversation": 1, "job": job("card").id}
    assert baton.conversations.get(1).card_ts is None

    again = job("card", again=True)
    assert performer.perform(again) is True
    assert len(fake_slack.messages(GENERAL)) == 1
    assert len(fake_slack.calls_to("conversations.history")) == 1
    # Recorded with the step that marks the job done, as the outbox makes it.
    assert baton.conversations.get(1).card_ts is None
    for write in again.with_step:
        write(baton.redis)
    assert baton.conversations.get(1).card_ts == posted["ts"]


def test_a_thread_job_ahead_of_its_card_posts_the_card_first(
    performer: SlackPerformer, customer, baton, fake_slack: FakeSlack
) -> None:
    customer.texts("hello")  # queued: the card, then the text; here the text goes first

    assert performer.perform(job("notice", text="hello")) is True

    [card] = top_level(fake_slack)
    assert baton.conversations.get(1).card_ts == card["ts"]
    assert [m["text"] for m in fake_slack.thread(GENERAL, card["ts"])[1:]] == ["hello"]
    assert performer.perform(job("card")) is False  # the card job later only updates it
    assert len(top_level(fake_slack)) == 1


def test_a_thread_job_that_posted_the_card_is_not_mistaken_for_it_on_a_retry(
    performer: SlackPerformer, customer, baton, fake_slack: FakeSlack
) -> None:
    """The card it posted carries the job's id too; the lookup wants the text, not the card."""
    customer.texts("hello")
    fake_slack.fail_next("chat.postMessage", 500, after_effect=True)  # the card, answer lost
    with pytest.raises(Transient):
        performer.perform(job("notice", text="hello"))
    fake_slack.fail_next("chat.postMessage", 500)  # the text, not stored
    with pytest.raises(Transient):
        performer.perform(job("notice", again=True, text="hello"))

    assert performer.perform(job("notice", again=True, text="hello")) is True

    [card] = top_level(fake_slack)
    assert baton.conversations.get(1).card_ts == card["ts"]
    assert [m["text"] for m in fake_slack.thread(GENERAL, card["ts"])[1:]] == ["hello"]


def top_level(fake_slack: FakeSlack) -> list[dict]:
    return [m for m in fake_slack.messages(GENERAL) if m.get("thread_ts") in (None, m["ts"])]


def test_slack_answers_become_transient_or_stuck(
    performer: SlackPerformer, customer, fake_slack: FakeSlack
) -> None:
    customer.texts("hello")
    fake_slack.fail_next("chat.postMessage", 500)
    with pytest.raises(Transient) as failed:
        performer.perform(job("card"))
    assert failed.value.retry_after is None
    fake_slack.fail_next("chat.postMessage", 429, headers={"Retry-After": "7"})
    with pytest.raises(Transient) as limited:
        performer.perform(job("card"))
    assert limited.value.retry_after == 7.0
    fake_slack.fail_next("chat.postMessage", 200, body={"ok": False, "error": "not_in_channel"})
    with pytest.raises(Stuck, match="not_in_channel"):
        performer.perform(job("card"))
    assert fake_slack.messages(GENERAL) == []


def test_an_unknown_job_is_skipped_without_calling_slack(
    performer: SlackPerformer, customer, fake_slack: FakeSlack
) -> None:
    customer.texts("hello")
    calls = len(fake_slack.calls_to(None))
    assert performer.perform(job("hologram")) is False
    assert len(fake_slack.calls_to(None)) == calls


def test_a_reply_in_a_card_posted_but_not_yet_recorded_is_texted_and_the_card_not_posted_again(
    performer: SlackPerformer, customer, alex, baton, fake_slack: FakeSlack, fake_twilio
) -> None:
    """Slack has the card, Baton does not know it yet (the answer was lost): its owner replies."""
    customer.texts("Is my crown ready?")
    alex.clicks("claim", "1")
    fake_slack.fail_next("chat.postMessage", 500, after_effect=True)
    with pytest.raises(Transient):
        performer.perform(job("card"))
    [card] = top_level(fake_slack)
    assert baton.conversations.get(1).card_ts is None

    _, answer = alex.says(1, "Yes, come by at 3", thread=(GENERAL, card["ts"]))
    assert answer.status_code == 200
    assert baton.conversations.get(1).card_ts == card["ts"]
    baton.texting.run_until_idle()
    assert [m["body"] for m in fake_twilio.sent] == ["Yes, come by at 3"]

    baton.delivery.run_until_idle()  # the card job: it finds its card recorded, and updates it
    assert top_level(fake_slack) == [fake_slack.message(GENERAL, card["ts"])]


def test_team_talk_in_a_queue_channel_is_looked_up_once_per_thread(
    customer, alex, baton, fake_slack: FakeSlack, fake_twilio
) -> None:
    team_ts = fake_slack.add_message(GENERAL, "lunch order?", user="U0BLAIR")
    for text in ("pizza", "tacos", "either"):
        _, answer = alex.says(0, text, thread=(GENERAL, team_ts))
        assert answer.status_code == 200
    assert len(fake_slack.calls_to("conversations.replies")) == 1
    assert baton.conversations.get(1) is None
    assert fake_twilio.sent == []


def test_a_thread_whose_parent_slack_cannot_show_is_answered_with_an_error_so_slack_retries(
    customer, alex, baton, fake_slack: FakeSlack
) -> None:
    customer.texts("hello")
    team_ts = fake_slack.add_message(GENERAL, "who has this?", user="U0BLAIR")
    fake_slack.fail_next("conversations.replies", 500)
    _, answer = alex.says(0, "me", thread=(GENERAL, team_ts))
    assert answer.status_code >= 500
    _, again = alex.says(0, "me", thread=(GENERAL, team_ts))
    assert again.status_code == 200


def test_a_job_whose_wake_up_a_crash_lost_is_posted_after_the_clocks_settle_job(
    customer, baton, fake_slack: FakeSlack
) -> None:
    customer.texts("hello")
    baton.delivery.run_until_idle()
    [card] = top_level(fake_slack)
    # A notice queued six minutes ago whose wake-up never went out (the process died).
    queued = f"{int((time.time() - 360) * 1000)}-0"
    baton.redis.xadd(baton.keys.outbox(1), notice_job("still there?").to_fields(), id=queued)
    baton.delivery.run_until_idle()
    assert [m["text"] for m in fake_slack.thread(GENERAL, card["ts"])[1:]] == []

    schedule.settle(baton)
    baton.delivery.run_until_idle()
    assert [m["text"] for m in fake_slack.thread(GENERAL, card["ts"])[1:]] == ["still there?"]
