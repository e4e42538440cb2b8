"""The domain on its own, for tests: a real Redis, an injected clock, no Flask, no Slack.

Builds the commit engine, ``Conversations`` and ``Inbound`` as the composition
root does, and reads back what one transaction wrote: the conversation hash,
its events, its messages and its outbox (the Slack work delivery would do).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import redis
import yaml

from bot.calendar import BusinessCalendar
from bot.commit import Commits
from bot.contacts import Contacts
from bot.conversations import Conversations
from bot.inbound import Inbound
from bot.metrics import Counters
from bot.reminders import Schedule
from bot.routing import Assigner
from bot.store import Keys
from bot.tally import Tally
from bot.templates import Templates
from bot.values import Conversation, InboundText
from config.file import parse_config
from tests.dialog import TestClock, new_sid

BUSINESS = "+15550001111"
OTHER_BUSINESS = "+15550002222"
CUSTOMER = "+12127365000"
ALEX, BLAIR, CASEY, ADMIN = "U0ALEX", "U0BLAIR", "U0CASEY", "U0ADMIN"
GENERAL, SALES = "C0123GENERAL", "C0123SALES"

CONFIG = parse_config(
    yaml.safe_load(
        """
business:
  name: Acme Dental
  country: US
  timezone: America/New_York
  hours: {mon-fri: "09:00-18:00"}
queues:
  - {name: sales, channel: C0123SALES, keywords: [price]}
  - {name: general, channel: C0123GENERAL, default: true}
response_targets: {first_response: 15m, next_response: 1h, urgent: 5m}
urgent_keywords: [urgent]
admins: [U0ADMIN]
"""
    )
)
TARGETS = CONFIG.response_targets


@pytest.fixture
def keys(redis_prefix: str) -> Keys:
    return Keys(redis_prefix)


CALENDAR = BusinessCalendar(
    CONFIG.business.timezone, CONFIG.business.hours, CONFIG.business.holidays
)


def build_commits(client: redis.Redis, keys: Keys, clock: TestClock) -> Commits:
    """Return the commit engine on client, with the test config's schedule, counters and tally."""
    return Commits(
        client,
        keys,
        schedule=Schedule(client, keys, CONFIG, CALENDAR, clock),
        counters=Counters(client, keys),
        clock=clock,
        tally=Tally(CONFIG, CALENDAR),
    )


@pytest.fixture
def commits(redis_server: redis.Redis, keys: Keys, clock: TestClock) -> Commits:
    return build_commits(redis_server, keys, clock)


@pytest.fixture
def conversations(
    redis_server: redis.Redis, keys: Keys, commits: Commits, clock: TestClock
) -> Conversations:
    return Conversations(redis_server, keys, commits, CONFIG, CALENDAR, clock)


def build_inbound(
    redis_server: redis.Redis,
    keys: Keys,
    commits: Commits,
    clock: TestClock,
    *,
    assign: Any = None,
    is_available: Any = None,
) -> Inbound:
    contacts = Contacts(redis_server, keys, CONFIG)
    return Inbound(
        commits,
        CONFIG,
        CALENDAR,
        clock,
        assign=assign
        or Assigner(
            CONFIG,
            CALENDAR,
            is_away=lambda _user: False,
            owners=lambda: [],
        ),
        is_available=is_available or (lambda _user: True),
        contacts=contacts,
        templates=Templates(CONFIG, CALENDAR, contacts.get, lambda _user: "Alex", clock),
    )


@pytest.fixture
def inbound_texts(
    redis_server: redis.Redis, keys: Keys, commits: Commits, clock: TestClock
) -> Inbound:
    return build_inbound(redis_server, keys, commits, clock)


def inbound(
    body: str = "Hello, is my crown ready?",
    *,
    sid: str | None = None,
    customer: str = CUSTOMER,
    business: str = BUSINESS,
    opt_change: Any = None,
    media: tuple[tuple[str, str], ...] = (),
) -> InboundText:
    return InboundText(
        sid=sid or new_sid(),
        customer_number=customer,
        business_number=business,
        body=body,
        media=media,
        opt_change=opt_change,
    )


def outbox(redis_server: redis.Redis, keys: Keys, number: int) -> list[dict[str, str]]:
    return [fields for _id, fields in redis_server.xrange(keys.outbox(number))]


def kinds(jobs: list[dict[str, str]]) -> list[str]:
    return [job["kind"] for job in jobs]


def event_kinds(conversations: Conversations, number: int) -> list[str]:
    return [e.kind for e in conversations.events(number)]


def notices(jobs: list[dict[str, str]]) -> list[str]:
    return [job["text"] for job in jobs if job["kind"] == "notice"]


def snapshot(conversations: Conversations, redis_server: redis.Redis, keys: Keys, number: int):
    """Return everything a refused change must leave alone."""
    return (
        conversations.get(number),
        conversations.events(number),
        conversations.messages(number),
        outbox(redis_server, keys, number),
    )


def new_conversation(inbound_texts: Inbound, body: str = "Hi there") -> Conversation:
    change = inbound_texts.receive(inbound(body))
    assert change.ok and change.result == "created"
    return change.conversation


def race(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(i) for i in range(count) on as many threads, released at the same moment."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = work(index)
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a racing thread hung"
    assert not errors, errors
    return results


def recording(redis_server, sent: list[tuple[str, ...]], trips: list[list[str]] | None = None):  # type: ignore[no-untyped-def]
    """Return a client of redis_server that records every command it sends (and, in trips,
    the names of the commands sent in each round trip)."""
    pool = redis_server.connection_pool
    base = pool.connection_class
    trips = [] if trips is None else trips

    class Recording(base):  # type: ignore[valid-type, misc]
        def send_command(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            sent.append(tuple(map(str, args)))
            trips.append([str(args[0])])
            return super().send_command(*args, **kwargs)

        def pack_commands(self, commands):  # type: ignore[no-untyped-def]
            commands = list(commands)
            sent.extend(tuple(map(str, args)) for args in commands)
            trips.append([str(args[0]) for args in commands])
            return super().pack_commands(commands)

    return redis.Redis(
        connection_pool=redis.ConnectionPool(connection_class=Recording, **pool.connection_kwargs)
    )
