"""Baton on a real three-master Redis Cluster, REDIS_URL naming one of its nodes.

The cluster is started by the module (tests/cluster.py) on free ports and torn
down after. Conversation 1 (``{c:1}``) lives on the first node, the directory
(``{dir}``) on the second, the find index and the reports (``{find}``,
``{rep}``) on the third, so every commit writes to all three.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from redis.cluster import RedisCluster

from bot.store import Keys, connect
from config import Settings
from tests.cluster import cluster_client, running_cluster
from tests.conftest import settings_for
from tests.dialog import Customer, Teammate, TestClock, eventually, settle
from tests.handlers.test_find import refs

CONFIG = """
business:
  name: Acme Dental
  timezone: America/New_York
queues:
  - {name: sales, channel: C0123SALES, keywords: [price, quote]}
  - {name: general, channel: C0123GENERAL, default: true}
admins: [U0CASEY]
"""
AUTH_TOKEN = "twilio-test-auth-token"
GENERAL = "C0123GENERAL"


@pytest.fixture(scope="module")
def cluster_ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    with running_cluster(tmp_path_factory.mktemp("cluster")) as ports:
        yield ports


@pytest.fixture
def redis_server(cluster_ports: list[int]) -> Iterator[RedisCluster]:
    client = cluster_client(cluster_ports[0])
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_server: RedisCluster) -> str:
    # The module's cluster goes with its data: nothing to delete key by key.
    return f"baton-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "baton.yml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def settings(settings_on_one_server: Settings, cluster_ports: list[int]) -> Settings:
    # The second node: any node will do, not only the one a client would start from.
    return replace(settings_on_one_server, redis_url=f"redis://127.0.0.1:{cluster_ports[1]}/0")


@pytest.fixture
def settings_on_one_server(  # type: ignore[no-untyped-def]
    redis_prefix, fake_slack, fake_twilio, config_path, tmp_path
) -> Settings:
    return settings_for("", redis_prefix, fake_slack, fake_twilio, config_path, tmp_path)


@pytest.fixture
def casey(client, fake_slack, baton) -> Teammate:  # type: ignore[no-untyped-def]
    return Teammate(
        client, fake_slack, baton, "U0CASEY", signing_secret="slack-test-signing-secret"
    )


def node_of(client: RedisCluster, key: str) -> str:
    return client.get_node_from_key(key).name


def test_any_node_of_the_cluster_serves_as_redis_url(cluster_ports, redis_prefix, tmp_path):
    clients = [connect(f"redis://127.0.0.1:{port}/0", tmp_path) for port in cluster_ports]
    assert all(isinstance(c, RedisCluster) for c in clients)
    keys = Keys(redis_prefix)
    for number in range(1, 10):
        clients[number % 3].set(keys.conversation(number), number)
    assert [clients[0].get(keys.conversation(n)) for n in range(1, 10)] == [
        str(n) for n in range(1, 10)
    ]
    for client in clients:
        client.close()


def test_the_keys_of_one_commit_live_on_three_nodes(baton):
    nodes = {
        node_of(baton.redis, k)
        for k in (
            baton.keys.conversation(1),
            baton.keys.active,
            baton.keys.report_open,
        )
    }
    assert isinstance(baton.redis, RedisCluster) and len(nodes) == 3


def test_a_conversation_runs_its_whole_course_on_a_cluster(
    app, client, customer, alex, blair, casey, baton, clock, fake_slack, fake_twilio
):
    # Text and card.
    assert customer.texts("Is my crown ready?").status_code == 200
    alex.card_of(1)
    assert refs(alex.runs("find crown")) == ["#1"]

    # Claim and reply.
    alex.clicks("claim", "1")
    eventually(lambda: baton.conversations.get(1).owner == "U0ALEX")
    alex.says(1, "Yes, come by at three")
    eventually(lambda: fake_twilio.sent)
    assert [m["body"] for m in fake_twilio.sent] == ["Yes, come by at three"]

    # Transfer.
    assert "Moved #1 to the sales queue" in alex.runs("transfer #1 sales")["text"]
    assert baton.conversations.get(1).queue == "sales"
    # Applied before the transfer answers; listed unlinked until the new card is recorded.
    assert refs(alex.runs("find queue:sales")) == ["#1"]

    # Reminders: a second customer nobody answers.
    other = Customer(client, "+15557654321", auth_token=AUTH_TOKEN)
    other.texts("Hello, anyone there?")
    alex.card_of(2)
    clock.advance(12 * 60)  # past the 75% reminder of the 15 min target
    assert baton.reminders.sweep().reminders == 1
    settle(app)
    assert [m for m in fake_slack.messages(GENERAL) if "Claim it?" in m["text"]]

    # Counted once each, in the directory's and the reports' slots.
    assert {c.number for c in baton.conversations.active()} == {1, 2}
    assert texts_in_today(baton, clock) == 2

    # Forget: the phone directory forgets the number too, so the next text starts afresh.
    assert casey.runs("forget +15551234567")["text"].startswith("Erased +1 555-123-4567: #1")
    assert refs(alex.runs("find crown")) == []
    customer.texts("It's me again")
    alex.card_of(3)
    assert baton.conversations.get(3).customer_number == "+15551234567"
    settle(app)

    # The health check writes, and nothing is left to settle.
    assert client.get("/healthz").status_code == 200
    assert baton.commits.settle_left() == 0


@contextmanager
def refusing_writes(baton, key: str) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Make the node that holds key refuse writes (it wants a replica it lacks), as a failing node does."""
    node = baton.redis.get_node_from_key(key)
    baton.redis.config_set("min-replicas-to-write", 1, target_nodes=node)
    try:
        yield
    finally:
        baton.redis.config_set("min-replicas-to-write", 0, target_nodes=node)


def test_writes_left_by_a_failure_after_the_commit_are_applied_once_by_the_retry(
    customer, alex, baton, clock, fake_slack
):
    customer.texts("Is my crown ready?")
    alex.card_of(1)  # posted and recorded (in the directory's slot too) before the fault
    again = customer.sms_params("Also, do you take cards?")

    with refusing_writes(baton, baton.keys.active):
        # Committed in the conversation's slot, counted in the reports' slot, but
        # the directory's node refuses: Twilio is told to retry.
        assert customer.post("/twilio/sms", again).status_code == 503
        assert client_status(customer, "/healthz") == 503

    assert customer.post("/twilio/sms", again).status_code == 200
    assert client_status(customer, "/healthz") == 200
    assert texts_in_today(baton, clock) == 2
    assert baton.counters.read()["texts_in"] == 2
    assert [m["body"] for m in baton.conversations.messages(1)][-1] == "Also, do you take cards?"
    assert baton.commits.settle_left() == 0
    conv = baton.conversations.get(1)
    eventually(
        lambda: any(
            "Also, do you take cards?" in m["text"]
            for m in fake_slack.thread(conv.channel, conv.card_ts)
        )
    )
    assert [m["ts"] for m in fake_slack.messages(conv.channel) if not m.get("thread_ts")] == [
        conv.card_ts
    ]


def test_the_clock_applies_what_a_failure_left_behind_once(customer, alex, baton, clock):
    customer.texts("Is my crown ready?")
    alex.card_of(1)

    with refusing_writes(baton, baton.keys.active):
        assert customer.texts("Also, do you take cards?").status_code == 503
    # The reports' slot has the second text, the directory's counters not yet.
    assert texts_in_today(baton, clock) == 2
    assert baton.counters.read()["texts_in"] == 1

    assert baton.commits.settle_left() == 1
    assert baton.counters.read()["texts_in"] == 2
    assert texts_in_today(baton, clock) == 2
    assert baton.commits.settle_left() == 0


def texts_in_today(baton, clock: TestClock) -> int:  # type: ignore[no-untyped-def]
    counts = baton.redis.hgetall(baton.keys.report_day(today(clock)))
    return sum(int(v) for k, v in counts.items() if k.startswith("texts_in|"))


def client_status(customer: Customer, path: str) -> int:
    return int(customer.client.get(path).status_code)


def today(clock: TestClock) -> str:
    return datetime.fromtimestamp(clock.now(), ZoneInfo("America/New_York")).date().isoformat()
