"""Drive the Slack and Twilio stand-ins with the real slack_sdk and twilio clients."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from standins import FakeSlack, FakeTwilio

CHANNEL = "C0SUPPORT"
TO = "+15551230001"
FROM = "+15559870000"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.add_channel(CHANNEL, "support", members=["U0AGENT"])
        fake.add_user("U0AGENT", "agent", real_name="Ann Agent", display_name="ann")
        yield fake


@pytest.fixture
def web(slack: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=slack.url + "/api/")


@pytest.fixture
def twilio_fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def twilio(twilio_fake: FakeTwilio) -> Client:
    client = Client(twilio_fake.account_sid, twilio_fake.auth_token)
    client.api.base_url = twilio_fake.url
    return client


# -- Slack --------------------------------------------------------------------------------


def test_post_thread_update_and_record(slack: FakeSlack, web: WebClient) -> None:
    parent = web.chat_postMessage(channel=CHANNEL, text="New SMS from +1555", blocks=[])
    assert parent["ok"] and parent["channel"] == CHANNEL
    reply = web.chat_postMessage(channel=CHANNEL, text="reply", thread_ts=parent["ts"])
    assert reply["ts"] > parent["ts"]
    assert reply["message"]["thread_ts"] == parent["ts"]

    web.chat_update(channel=CHANNEL, ts=parent["ts"], text="Claimed by ann")

    thread = slack.thread(CHANNEL, parent["ts"])
    assert [m["text"] for m in thread] == ["Claimed by ann", "reply"]
    assert thread[0]["user"] == "UBATONBOT" and thread[0]["bot_id"] == "BBATON"
    call = slack.calls_to("chat.postMessage")[1]
    assert call.params["thread_ts"] == parent["ts"]
    assert call.headers["Authorization"] == "Bearer xoxb-test"
    assert call.status == 200

    with pytest.raises(SlackApiError) as err:
        web.chat_update(channel=CHANNEL, ts="1.000001", text="x")
    assert err.value.response["error"] == "message_not_found"


def test_reactions_and_already_reacted(slack: FakeSlack, web: WebClient) -> None:
    ts = web.chat_postMessage(channel=CHANNEL, text="hi")["ts"]
    web.reactions_add(channel=CHANNEL, timestamp=ts, name="eyes")
    with pytest.raises(SlackApiError) as err:
        web.reactions_add(channel=CHANNEL, timestamp=ts, name="eyes")
    assert err.value.response.status_code == 200
    assert err.value.response["error"] == "already_reacted"
    assert slack.message(CHANNEL, ts)["reactions"] == [
        {"name": "eyes", "users": ["UBATONBOT"], "count": 1}
    ]


def test_history_and_replies_carry_metadata(slack: FakeSlack, web: WebClient) -> None:
    metadata = {"event_type": "baton_conversation", "event_payload": {"phone": TO}}
    parent = web.chat_postMessage(channel=CHANNEL, text="parent", metadata=metadata)["ts"]
    web.chat_postMessage(channel=CHANNEL, text="plain")
    human = slack.add_message(CHANNEL, "on it", user="U0AGENT", thread_ts=parent)

    history = web.conversations_history(channel=CHANNEL, include_all_metadata=True)
    assert [m["text"] for m in history["messages"]] == ["plain", "parent"]
    assert history["messages"][1]["metadata"] == metadata
    assert "metadata" not in history["messages"][0]
    assert history["messages"][1]["reply_count"] == 1
    assert history["has_more"] is False

    replies = web.conversations_replies(channel=CHANNEL, ts=parent)
    assert [m["ts"] for m in replies["messages"]] == [parent, human]
    assert replies["messages"][1]["user"] == "U0AGENT"
    assert web.conversations_history(channel=CHANNEL, oldest=parent)["messages"][0]["text"] == (
        "plain"
    )


def test_workspace_lookups(slack: FakeSlack, web: WebClient) -> None:
    assert web.auth_test()["user_id"] == "UBATONBOT"
    user = web.users_info(user="U0AGENT")["user"]
    assert user["profile"]["display_name"] == "ann" and user["real_name"] == "Ann Agent"
    with pytest.raises(SlackApiError, match="user_not_found"):
        web.users_info(user="U0NOBODY")
    assert web.conversations_open(users="U0AGENT")["channel"]["id"] == "DU0AGENT"
    assert web.conversations_info(channel=CHANNEL)["channel"]["name"] == "support"
    with pytest.raises(SlackApiError, match="channel_not_found"):
        web.conversations_info(channel="C0NEVERSEEN")
    ts = web.chat_postMessage(channel=CHANNEL, text="x")["ts"]
    link = web.chat_getPermalink(channel=CHANNEL, message_ts=ts)["permalink"]
    assert link == f"https://example.slack.com/archives/{CHANNEL}/p{ts.replace('.', '')}"
    ephemeral = web.chat_postEphemeral(channel=CHANNEL, user="U0AGENT", text="only you")
    assert slack.ephemerals[0]["message_ts"] == ephemeral["message_ts"]
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    home = {"type": "home", "blocks": [section]}
    published = web.views_publish(user_id="U0AGENT", view=home)["view"]
    assert slack.home_views["U0AGENT"]["id"] == published["id"]
    bad = WebClient(token="xoxb-invalid", base_url=slack.url + "/api/")
    with pytest.raises(SlackApiError, match="invalid_auth"):
        bad.auth_test()
    with pytest.raises(SlackApiError, match="unknown_method"):
        web.api_call("nope.nothing")


def test_rate_limit_fault_is_not_retried(slack: FakeSlack, web: WebClient) -> None:
    slack.fail_next("chat.postMessage", 429, headers={"Retry-After": "1"})
    with pytest.raises(SlackApiError) as err:
        web.chat_postMessage(channel=CHANNEL, text="hi")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "1"
    assert err.value.response["error"] == "ratelimited"
    # slack_sdk's default retry handlers only cover connection errors: one call, then success.
    assert [c.status for c in slack.calls_to("chat.postMessage")] == [429]
    assert web.chat_postMessage(channel=CHANNEL, text="hi")["ok"]
    assert len(slack.messages(CHANNEL)) == 1


def test_any_method_faults_downtime_and_reset(slack: FakeSlack, web: WebClient) -> None:
    slack.fail_next(None, 500, times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as err:
            web.auth_test()
        assert err.value.response.status_code == 500
    assert web.auth_test()["ok"]
    slack.set_down(True)
    with pytest.raises(SlackApiError) as err:
        web.chat_postMessage(channel=CHANNEL, text="x")
    assert err.value.response.status_code == 503
    slack.set_down(False)
    assert [c.status for c in slack.calls] == [500, 500, 200, 503]
    slack.reset()
    assert slack.calls == [] and slack.messages() == []
    assert web.users_info(user="U0AGENT")["ok"]  # fixtures survive reset()


def test_files_upload_v2_end_to_end(slack: FakeSlack, web: WebClient) -> None:
    parent = web.chat_postMessage(channel=CHANNEL, text="MMS")["ts"]
    result = web.files_upload_v2(
        channel=CHANNEL, thread_ts=parent, content=b"\x89PNG-bytes", filename="photo.png"
    )
    file_id = result["file"]["id"]
    stored = slack.files[file_id]
    assert stored["data"] == b"\x89PNG-bytes"
    assert stored["channel_id"] == CHANNEL and stored["thread_ts"] == parent
    assert [c.method for c in slack.calls][-3:] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]


def test_a_shared_file_is_a_message_history_lists(slack: FakeSlack, web: WebClient) -> None:
    web.files_upload_v2(channel=CHANNEL, content=b"\x89PNG", filename="chart.png", title="Chart")
    web.files_upload_v2(content=b"kept private", filename="private.txt")
    [message] = web.conversations_history(channel=CHANNEL)["messages"]
    assert message["upload"] is True and message["bot_id"]
    assert [(f["name"], f["title"]) for f in message["files"]] == [("chart.png", "Chart")]


def test_wait_for_and_delay(slack: FakeSlack, web: WebClient) -> None:
    with pytest.raises(AssertionError, match=r"chat\.postMessage"):
        slack.wait_for("chat.postMessage", timeout=0.05)
    slack.delay = 0.2
    worker = threading.Thread(target=web.chat_postMessage, kwargs={"channel": CHANNEL, "text": "x"})
    started = time.monotonic()
    worker.start()
    [call] = slack.wait_for("chat.postMessage", timeout=5)
    assert time.monotonic() - started >= 0.2
    assert call.params["text"] == "x"
    worker.join()


def test_concurrent_posts_get_unique_ts(slack: FakeSlack, web: WebClient) -> None:
    with ThreadPoolExecutor(max_workers=64) as pool:
        results = list(
            pool.map(lambda i: web.chat_postMessage(channel=CHANNEL, text=str(i)), range(200))
        )
    assert len({r["ts"] for r in results}) == 200
    assert len(slack.messages(CHANNEL)) == 200


# -- Twilio -------------------------------------------------------------------------------


def test_create_and_fetch_message(twilio_fake: FakeTwilio, twilio: Client) -> None:
    message = twilio.messages.create(
        to=TO,
        from_=FROM,
        body="Hi from Baton",
        media_url=["https://example.com/a.png", "https://example.com/b.png"],
        status_callback="https://baton.example/twilio/status",
    )
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert (message.to, message.from_, message.body) == (TO, FROM, "Hi from Baton")
    assert message.status == "queued" and message.direction == "outbound-api"
    assert message.num_segments == "1" and message.num_media == "2"
    assert message.date_created is not None and message.error_code is None

    [call] = twilio_fake.calls_to("messages.create")
    assert call.status == 201
    assert call.params["MediaUrl"] == ["https://example.com/a.png", "https://example.com/b.png"]
    assert call.params["StatusCallback"] == "https://baton.example/twilio/status"
    assert twilio_fake.sent[0]["sid"] == message.sid
    assert twilio.messages(message.sid).fetch().body == "Hi from Baton"


def test_twilio_errors(twilio_fake: FakeTwilio, twilio: Client) -> None:
    twilio_fake.reject_to(TO)
    with pytest.raises(TwilioRestException) as err:
        twilio.messages.create(to=TO, from_=FROM, body="x")
    assert (err.value.status, err.value.code) == (400, 21610)

    with pytest.raises(TwilioRestException) as err:
        twilio.messages.create(to="5551234", from_=FROM, body="x")
    assert err.value.code == 21211
    with pytest.raises(TwilioRestException) as err:
        twilio.messages.create(to="+15550000001", from_=FROM, body="x" * 1601)
    assert err.value.code == 21617

    twilio_fake.fail_next("messages.create", 500)
    with pytest.raises(TwilioRestException) as err:
        twilio.messages.create(to="+15550000001", from_=FROM, body="x")
    assert err.value.status == 500
    assert [c.status for c in twilio_fake.calls] == [400, 400, 400, 500]
    assert twilio_fake.sent == []

    wrong = Client(twilio_fake.account_sid, "wrong-token")
    wrong.api.base_url = twilio_fake.url
    with pytest.raises(TwilioRestException) as err:
        wrong.messages.create(to="+15550000001", from_=FROM, body="x")
    assert (err.value.status, err.value.code) == (401, 20003)


def test_incoming_phone_numbers(twilio_fake: FakeTwilio, twilio: Client) -> None:
    number = twilio_fake.add_number(FROM)
    twilio_fake.add_number("+15550001111")
    [found] = twilio.incoming_phone_numbers.list(phone_number=FROM)
    assert found.sid == number["sid"] and found.sms_url == ""
    twilio.incoming_phone_numbers(found.sid).update(
        sms_url="https://baton.example/twilio/sms",
        status_callback="https://baton.example/twilio/status",
    )
    [stored] = [n for n in twilio_fake.numbers if n["sid"] == number["sid"]]
    assert stored["sms_url"] == "https://baton.example/twilio/sms"
    assert stored["status_callback"] == "https://baton.example/twilio/status"
    assert [c.method for c in twilio_fake.calls] == [
        "incoming_phone_numbers.list",
        "incoming_phone_numbers.update",
    ]
