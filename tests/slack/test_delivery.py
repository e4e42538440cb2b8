"""The Slack performer on its own: one outbox job at a time, against the fake Slack API.

A real WebClient talks to FakeSlack; the conversations live in a real Redis.
"""

from __future__ import annotations

import time
from typing import get_args, get_type_hints

import pytest
import redis
from slack_sdk import WebClient

from bot.conversations import Conversations, SlackJob
from bot.outbox import Job, Stuck, Transient, conversation_lane
from bot.store import Keys
from slack.delivery import SlackPerformer
from standins import FakeSlack
from tests.bot.test_conversations import CONFIG, GENERAL, inbound
from tests.dialog import TestClock


@pytest.fixture
def conversations(redis_server: redis.Redis, redis_prefix: str, clock: TestClock) -> Conversations:
    return Conversations(redis_server, Keys(redis_prefix), CONFIG, clock)


@pytest.fixture
def performer(fake_slack: FakeSlack, conversations: Conversations) -> SlackPerformer:
    slack = WebClient(token="xoxb-test", base_url=f"{fake_slack.url}/api/")
    return SlackPerformer(slack, conversations)


# A stream id from a moment ago: the lookup searches Slack from the job's moment on.
JOB_ID = f"{int(time.time() * 1000)}-0"


def job(kind: str, *, again: bool = False, **fields: str) -> Job:
    return Job(conversation_lane(1), JOB_ID, {"kind": kind, **fields}, again)


def test_every_kind_of_slack_job_has_its_method(performer: SlackPerformer) -> None:
    kinds = set(get_args(get_type_hints(SlackJob)["kind"]))
    assert set(performer.conversation_jobs) == kinds


def test_a_card_posted_before_its_answer_was_lost_is_found_not_posted_again(
    performer: SlackPerformer, conversations: Conversations, fake_slack: FakeSlack
) -> None:
    conversations.receive(inbound("Is my crown ready?"))
    fake_slack.fail_next("chat.postMessage", 500, after_effect=True)
    with pytest.raises(Transient):
        performer.perform(job("card"))
    [posted] = fake_slack.messages(GENERAL)
    assert posted["metadata"]["event_payload"] == {"conversation": 1, "job": job("card").id}
    assert conversations.get(1).card_ts is None

    assert performer.perform(job("card", again=True)) is True
    assert len(fake_slack.messages(GENERAL)) == 1
    assert len(fake_slack.calls_to("conversations.history")) == 1
    assert conversations.get(1).card_ts == posted["ts"]


def test_thread_jobs_wait_for_the_card(
    performer: SlackPerformer, conversations: Conversations
) -> None:
    conversations.receive(inbound())
    with pytest.raises(Transient, match="card is not posted yet"):
        performer.perform(job("notice", text="hello"))


def test_slack_answers_become_transient_or_stuck(
    performer: SlackPerformer, conversations: Conversations, fake_slack: FakeSlack
) -> None:
    conversations.receive(inbound())
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
    performer: SlackPerformer, conversations: Conversations, fake_slack: FakeSlack
) -> None:
    conversations.receive(inbound())
    assert performer.perform(job("hologram")) is False
    assert fake_slack.calls_to(None) == []
