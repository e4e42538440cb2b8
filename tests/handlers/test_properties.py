"""Both directions under random interleavings: a hypothesis state machine over the real app.

Customers text; teammates claim, reply in threads (the current one or one a
transfer left behind), hand off, transfer, change status and forget; Slack
and Twilio fail now and then, sometimes after doing what was asked (an answer
lost). After everything is drained:

* every customer text Baton acknowledged is in Slack exactly once, in order
  (unless the customer was forgotten before it was posted);
* every thread reply Slack got a 2xx for is texted exactly once, or its author
  was shown why not (a note to them, or a "not texted" line in the thread);
* no job is left in either outbox;
* nothing about a forgotten customer is posted after the forget.
"""

from __future__ import annotations

import itertools
import os
import re
import uuid
from contextlib import ExitStack
from pathlib import Path

import redis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from app import create_app, shutdown
from bot.store import delete_prefix
from config import Settings
from standins import FakeSlack, FakeTwilio
from standins.slack import in_threads
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, SIGNING_SECRET
from tests.dialog import BUSINESS_NUMBER, Customer, Teammate, TestClock, posted, settle

# Open around the clock (no after-hours replies), Casey may forget.
CONFIG = """
business: {name: Acme Dental, timezone: America/New_York}
queues:
  - {name: sales, channel: C0123SALES}
  - {name: general, channel: C0123GENERAL, default: true}
admins: [U0CASEY]
"""
PEOPLE = ("U0ALEX", "U0BLAIR", "U0CASEY")
PHONES = ("+15551230001", "+15551230002")
QUEUES = ("sales", "general")
SLACK_WRITES = ("chat.postMessage", "chat.update", "chat.postEphemeral")


class BothDirections(RuleBasedStateMachine):
    def __init__(self, redis_server: redis.Redis, tmp: Path) -> None:
        super().__init__()
        self.redis_server = redis_server
        self.stack = ExitStack()
        self.slack = self.stack.enter_context(FakeSlack())
        self.slack.add_channel("C0123GENERAL", "general")
        self.slack.add_channel("C0123SALES", "sales")
        for user in PEOPLE:
            name = user[3:].lower()
            self.slack.add_user(user, name, real_name=name.title(), display_name=name.title())
        self.twilio = self.stack.enter_context(
            FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
        )
        self.twilio.add_number(BUSINESS_NUMBER)
        config = tmp / f"baton-{uuid.uuid4().hex[:8]}.yml"
        config.write_text(CONFIG)
        kwargs = redis_server.connection_pool.connection_kwargs
        self.prefix = f"baton-test-{uuid.uuid4().hex[:10]}"
        self.app = create_app(
            Settings(
                slack_bot_token="xoxb-test",
                slack_signing_secret=SIGNING_SECRET,
                twilio_account_sid=ACCOUNT_SID,
                twilio_auth_token=AUTH_TOKEN,
                twilio_phone_number=BUSINESS_NUMBER,
                slack_api_url=f"{self.slack.url}/api/",
                twilio_api_url=self.twilio.url,
                public_url="https://baton.example.com",
                redis_url=f"unix://{kwargs['path']}" if "path" in kwargs else _test_url(),
                redis_prefix=self.prefix,
                data_dir=tmp / "data",
                config_path=config,
                delivery_threads=0,  # the test drains the outboxes itself
                slack_pace=0,  # the stand-in does not limit; tests/slack/test_pacing.py paces
            ),
            clock=TestClock(),
        )
        self.baton = self.app.extensions["baton"]
        client = self.app.test_client()
        self.customers = {p: Customer(client, p, auth_token=AUTH_TOKEN) for p in PHONES}
        self.people = {
            u: Teammate(client, self.slack, self.baton, u, signing_secret=SIGNING_SECRET)
            for u in PEOPLE
        }
        self.names = (f"w{n}" for n in itertools.count())
        # phone -> the texts Baton acknowledged, in order, since it was last forgotten
        self.texts: dict[str, list[str]] = {p: [] for p in PHONES}
        # (word, Slack ts of the forget): a customer's words never to be posted after it
        self.forgotten: list[tuple[str, str]] = []
        # (author, channel, thread ts, word) of every reply Slack got a 2xx for
        self.replies: list[tuple[str, str, str, str]] = []
        self.reply_phones: dict[str, str] = {}  # word -> phone
        # replies whose customer was forgotten before they were sent: dropped with the rest
        self.erased_replies: set[str] = set()
        # (channel, ts) of every thread each conversation has had
        self.threads: dict[int, set[tuple[str, str]]] = {}

    def teardown(self) -> None:
        try:
            shutdown(self.app)
        finally:
            self.stack.close()
            delete_prefix(self.redis_server, self.prefix)

    # What people and phones do

    @initialize()
    def both_customers_wrote_and_alex_owns_one(self) -> None:
        for phone in PHONES:
            self.customer_texts(phone)
        settle(self.app)
        self.people["U0ALEX"].runs("claim #1")

    def _number(self, phone: str) -> int | None:
        conv = self.baton.conversations.find_by_phone(BUSINESS_NUMBER, phone)
        return conv.number if conv else None

    @rule(phone=st.sampled_from(PHONES))
    def customer_texts(self, phone: str) -> None:
        word = next(self.names)
        response = self.customers[phone].texts(f"text {word}")
        assert response.status_code < 500 or response.status_code == 503
        if response.status_code == 200:
            self.texts[phone].append(word)

    @rule(phone=st.sampled_from(PHONES), user=st.sampled_from(PEOPLE))
    def claims(self, phone: str, user: str) -> None:
        if (number := self._number(phone)) is not None:
            self.people[user].runs(f"claim #{number}")

    @rule(
        phone=st.sampled_from(PHONES),
        user=st.sampled_from(PEOPLE),
        old_thread=st.booleans(),
    )
    def replies_in_thread(self, phone: str, user: str, old_thread: bool) -> None:
        settle(self.app)  # a thread exists once its card is posted
        number = self._number(phone)
        conv = self.baton.conversations.get(number) if number is not None else None
        if conv is None or conv.card_ts is None:
            return
        self.threads.setdefault(number, set()).add((conv.channel, conv.card_ts))
        thread = (conv.channel, conv.card_ts)
        if old_thread and len(self.threads[number]) > 1:
            thread = sorted(self.threads[number] - {thread})[0]
        word = next(self.names)
        _ts, response = self.people[user].says(number, f"reply {word}", thread=thread)
        assert response.status_code < 500 or response.status_code == 503
        if response.status_code == 200:
            self.replies.append((user, *thread, word))
            self.reply_phones[word] = phone

    @rule(phone=st.sampled_from(PHONES), user=st.sampled_from(PEOPLE), to=st.sampled_from(PEOPLE))
    def hands_off(self, phone: str, user: str, to: str) -> None:
        if (number := self._number(phone)) is not None:
            self.people[user].runs(f"handoff #{number} <@{to}> over to you")

    @rule(
        phone=st.sampled_from(PHONES), user=st.sampled_from(PEOPLE), queue=st.sampled_from(QUEUES)
    )
    def transfers(self, phone: str, user: str, queue: str) -> None:
        if (number := self._number(phone)) is not None:
            conv = self.baton.conversations.get(number)
            if conv and conv.card_ts:
                self.threads.setdefault(number, set()).add((conv.channel, conv.card_ts))
            self.people[user].runs(f"transfer #{number} {queue}")

    @rule(
        phone=st.sampled_from(PHONES),
        user=st.sampled_from(PEOPLE),
        status=st.sampled_from(("resolve", "pending", "reopen", "release")),
    )
    def changes_status(self, phone: str, user: str, status: str) -> None:
        if (number := self._number(phone)) is not None:
            self.people[user].runs(f"{status} #{number}")

    @rule(phone=st.sampled_from(PHONES))
    def forgets(self, phone: str) -> None:
        if self._number(phone) is None:
            return
        mark = self.slack.add_message("C0123GENERAL", "(a mark in time)", user="U0CASEY")
        answer = self.people["U0CASEY"].runs(f"forget {phone}")
        if answer["text"].startswith("Erased"):
            self.forgotten += [(word, mark) for word in self.texts[phone]]
            self.texts[phone] = []
            self.erased_replies |= {w for w, p in self.reply_phones.items() if p == phone}

    # What goes wrong

    @rule(
        method=st.sampled_from(SLACK_WRITES),
        status=st.sampled_from((500, 503, 429)),
        after_effect=st.booleans(),
    )
    def slack_fails(self, method: str, status: int, after_effect: bool) -> None:
        headers = {"Retry-After": "1"} if status == 429 else None
        self.slack.fail_next(method, status, headers=headers, after_effect=after_effect)

    @rule(status=st.sampled_from((500, 503, 429)), after_effect=st.booleans())
    def twilio_fails(self, status: int, after_effect: bool) -> None:
        headers = {"Retry-After": "1"} if status == 429 else None
        self.twilio.fail_next("messages.create", status, headers=headers, after_effect=after_effect)

    @rule()
    def drains(self) -> None:
        settle(self.app)

    @invariant()
    def nothing_is_texted_twice(self) -> None:
        bodies = [m["body"] for m in self.twilio.sent]
        assert len(bodies) == len(set(bodies)), bodies

    # After everything

    def check_after_draining(self) -> None:
        for _ in range(3):  # a sent text may queue Slack work, and Slack work a text
            settle(self.app, timeout=30)
        everything = self.slack.messages()
        for phone, words in self.texts.items():
            shown = [
                w
                for _m, _thread, said in in_threads(everything)
                for w in _customer_words(said)
                if w in words
            ]
            assert shown == words, (phone, shown, words)
        for word, since in self.forgotten:
            later = [m for m in everything if float(m["ts"]) > float(since)]
            assert not [
                m for m in later if re.search(rf"\b{word}\b", m["text"] + str(m["attachments"]))
            ], word
        texted = [m["body"] for m in self.twilio.sent]
        notes = self.slack.ephemerals
        for user, channel, thread_ts, word in self.replies:
            times = texted.count(f"reply {word}")
            told = [
                e
                for e in notes
                if e["user"] == user and e.get("thread_ts") == thread_ts and "texted" in e["text"]
            ]
            in_thread = [
                m
                for m in self.slack.thread(channel, thread_ts)
                if "not texted" in m["text"].lower() and f"<@{user}>" in m["text"]
            ]
            if word in self.erased_replies:
                assert times <= 1, (user, word, times)
            else:
                assert times == 1 or (times == 0 and (told or in_thread)), (user, word, times)
        for number in range(1, 20):
            for outbox in ("slack", "sms"):
                assert posted(self.baton.redis, self.baton.keys, number, outbox), (number, outbox)


def _customer_words(text: str) -> list[str]:
    """Return the words of the customer texts a thread message shows ("*Name:* text w3")."""
    if not text.startswith("*") or ":* text " not in text:
        return []
    return [text.split(":* text ", 1)[1].split()[0]]


def _test_url() -> str:
    return os.environ["TEST_REDIS_URL"]


def test_no_text_or_reply_is_lost_or_doubled(redis_server: redis.Redis, tmp_path: Path) -> None:
    def machine() -> BothDirections:
        class Checked(BothDirections):
            def teardown(self) -> None:
                try:
                    self.check_after_draining()
                finally:
                    super().teardown()

        return Checked(redis_server, tmp_path)

    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        ),
    )
