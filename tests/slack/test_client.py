"""The shared Slack client: slack_sdk's WebClient on kept-alive connections, against the stand-in."""

from __future__ import annotations

import threading
from urllib.error import URLError

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import default_retry_handlers
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.state import RetryState

from bot.lanes import Stuck, Transient
from slack.client import AnswerLost, KeepAliveWebClient
from slack.delivery import classify
from standins import FakeSlack
from tests.ports import free_port

GENERAL = "C0123GENERAL"


@pytest.fixture
def client(fake_slack: FakeSlack) -> KeepAliveWebClient:
    return KeepAliveWebClient(token="xoxb-test", base_url=f"{fake_slack.url}/api/", timeout=5)


def test_calls_from_one_thread_share_one_connection(
    client: KeepAliveWebClient, fake_slack: FakeSlack
) -> None:
    before = fake_slack.connections
    for n in range(5):
        assert client.chat_postMessage(channel=GENERAL, text=f"hello {n}")["ok"]
    assert client.conversations_history(channel=GENERAL)["ok"]
    assert fake_slack.connections - before == 1
    assert [m["text"] for m in fake_slack.messages(GENERAL)] == [f"hello {n}" for n in range(5)]


def test_threads_calling_at_once_each_keep_a_connection(
    client: KeepAliveWebClient, fake_slack: FakeSlack
) -> None:
    fake_slack.delay = 0.2  # so the four calls overlap
    start = threading.Barrier(4)

    def post_twice(n: int) -> None:
        start.wait()
        for round_ in range(2):
            client.chat_postMessage(channel=GENERAL, text=f"{n}.{round_}")

    threads = [threading.Thread(target=post_twice, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fake_slack.messages(GENERAL)) == 8
    assert fake_slack.connections <= 4  # a new connection per call would be 8


def test_slacks_refusals_read_as_they_did_through_urllib(
    client: KeepAliveWebClient, fake_slack: FakeSlack
) -> None:
    fake_slack.fail_next("chat.postMessage", 429, headers={"Retry-After": "7"})
    with pytest.raises(SlackApiError) as limited:
        client.chat_postMessage(channel=GENERAL, text="too soon")
    assert limited.value.response.status_code == 429
    verdict = classify(limited.value)
    assert isinstance(verdict, Transient) and verdict.retry_after == 7.0

    fake_slack.fail_next("chat.postMessage", 500)
    with pytest.raises(SlackApiError) as failed:
        client.chat_postMessage(channel=GENERAL, text="broken")
    assert isinstance(classify(failed.value), Transient)

    with pytest.raises(SlackApiError) as refused:
        client.chat_update(channel=GENERAL, ts="1.000001", text="nothing there")
    assert refused.value.response["error"] == "message_not_found"
    assert isinstance(classify(refused.value), Stuck)
    # The connection survived every refusal.
    assert client.chat_postMessage(channel=GENERAL, text="fine")["ok"]


def test_a_stopped_slack_is_a_transient_connection_error() -> None:
    slack = FakeSlack().start()
    slack.add_channel(GENERAL, "general")
    client = KeepAliveWebClient(token="xoxb-test", base_url=f"{slack.url}/api/", timeout=5)
    assert client.chat_postMessage(channel=GENERAL, text="before")["ok"]
    slack.stop()  # the kept connection is closed with it
    with pytest.raises(URLError) as down:
        client.chat_postMessage(channel=GENERAL, text="after")
    assert isinstance(classify(down.value), Transient)


def test_an_answer_that_never_came_is_not_sent_again_by_slack_sdk(fake_slack: FakeSlack) -> None:
    client = KeepAliveWebClient(token="xoxb-test", base_url=f"{fake_slack.url}/api/", timeout=0.2)
    fake_slack.delay = 1.0
    with pytest.raises(AnswerLost) as lost:
        client.chat_postMessage(channel=GENERAL, text="slow")
    # The post may have been made: the outbox retries it (with a look-up), slack_sdk must not.
    assert isinstance(classify(lost.value), Transient)
    request = HttpRequest(method="POST", url=f"{fake_slack.url}/api/chat.postMessage", headers={})
    assert not any(
        handler.can_retry(state=RetryState(), request=request, error=lost.value)
        for handler in default_retry_handlers()
    )
    # A refused connection, on the other hand, sent nothing: slack_sdk may try it again.
    port = free_port()
    nowhere = KeepAliveWebClient(token="xoxb-test", base_url=f"http://127.0.0.1:{port}/api/")
    with pytest.raises(URLError) as refused:
        nowhere.chat_postMessage(channel=GENERAL, text="nowhere")
    assert not isinstance(refused.value, AnswerLost)
