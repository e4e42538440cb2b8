"""/sms find: conversations by words, number, name, tag, status, queue and owner, latest first."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.dialog import Customer, Teammate, eventually, settle
from tests.ops import bot_env

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


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "baton.yml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def casey(client, fake_slack, baton) -> Teammate:
    return Teammate(
        client, fake_slack, baton, "U0CASEY", signing_secret="slack-test-signing-secret"
    )


def listed(answer: dict) -> str:
    """Return the text of a list answer's blocks."""
    return "\n".join(b["text"]["text"] for b in answer["blocks"] if b.get("text"))


LISTED = re.compile(r"^• (?:<[^|>]*\|(#\d+)>|(#\d+)) · ")


def refs(answer: dict) -> list[str]:
    """Return the conversation references a find answer lists, in order."""
    # Linked to its card, or a bare #N while the card is not recorded yet (just transferred).
    body = answer["blocks"][1]["text"]["text"]
    return [m.group(1) or m.group(2) for m in map(LISTED.match, body.splitlines()) if m]


def texting(client, number: str, body: str) -> None:
    Customer(client, number, auth_token=AUTH_TOKEN).texts(body)


def test_find_by_words_name_number_tag_status_queue_and_owner(client, customer, alex, baton, clock):
    customer.texts("Hello, is my Crown ready?")  # #1, general
    alex.card_of(1)
    clock.advance(60)
    texting(client, "+15557654321", "hello, what is the price of a cleaning?")  # #2, sales
    alex.card_of(2)
    alex.runs("claim #1")
    alex.runs('contact +15551234567 name "Sarah Lee"')
    alex.runs("tag #2 +billing")
    alex.runs("pending #2")

    crown = alex.runs("find crown")
    assert refs(crown) == ["#1"]
    assert refs(alex.runs("find CROWN ready")) == ["#1"]
    assert refs(alex.runs("find sarah")) == ["#1"]
    assert refs(alex.runs("find (555) 123-4567")) == ["#1"]
    assert refs(alex.runs("find +1 555 123 4567")) == ["#1"]
    assert refs(alex.runs("find tag:billing")) == ["#2"]
    assert refs(alex.runs("find status:pending")) == ["#2"]
    assert refs(alex.runs("find queue:sales")) == ["#2"]
    assert refs(alex.runs("find <@U0ALEX|alex>")) == ["#1"]
    assert refs(alex.runs("find crown tag:billing")) == []
    # Latest text first: #2 wrote last, then #1 writes again.
    assert refs(alex.runs("find hello")) == ["#2", "#1"]
    clock.advance(60)
    customer.texts("hello?")
    eventually(lambda: refs(alex.runs("find hello")) == ["#1", "#2"])

    # The same row as /sms mine: link to the thread, customer, status, owner.
    row = listed(crown)
    assert "archives/C0123GENERAL/p" in row and "|#1>" in row
    assert "Sarah Lee (+1 555-123-4567) · Open · <@U0ALEX>" in row
    assert "1 conversation" in crown["text"]

    # Fields that change leave the index with the change.
    alex.runs("tag #2 -billing")
    assert refs(alex.runs("find tag:billing")) == []
    alex.runs("reopen #2")
    assert refs(alex.runs("find status:pending")) == []
    assert refs(alex.runs("find status:open")) == ["#1", "#2"]


def test_find_says_what_was_typed_wrong(alex, baton):
    for query, says in (
        ("find", "`/sms find <words>"),
        ("find from:alex", "I can't search by `from:`."),
        ("find status:done", "There is no status `done`"),
        ("find queue:nope", "There is no queue 'nope'. Queues: sales, general."),
        ("find @alex", "`@alex` is not a person Slack linked"),
        ("find " + " ".join(f"tooth{i}" for i in range(31)), "use at most 30 words"),
        ("find !!!", "`/sms find <words>"),
    ):
        answer = alex.runs(query)
        assert says in answer["text"], (query, answer["text"])
        assert answer["response_type"] == "ephemeral"
    assert "Nothing matches." in listed(alex.runs("find zebra"))
    assert "/sms find <words>" in alex.runs("help")["text"]


def test_find_lists_the_newest_and_says_how_many_more(client, alex, baton, clock):
    for i in range(18):
        clock.advance(1)
        texting(client, f"+1555123{i:04d}", f"toothache number {i}")
    settle(client.application)
    answer = alex.runs("find toothache")
    shown = refs(answer)
    # The newest first, at most 15, as many whole rows as one Slack section holds.
    assert 10 <= len(shown) <= 15
    assert shown == [f"#{n}" for n in range(18, 18 - len(shown), -1)]
    assert f"…and {18 - len(shown)} more" in listed(answer)
    assert "18 conversations" in answer["text"]


def test_forget_takes_the_customer_out_of_the_index(customer, alex, casey, baton):
    customer.texts("my secret molar question")
    alex.card_of(1)
    alex.runs('contact +15551234567 name "Sam Rivera"')
    assert refs(alex.runs("find molar")) == ["#1"]

    casey.runs("forget +15551234567")

    for query in ("molar", "sam", "+15551234567", "status:closed", "queue:general"):
        assert refs(alex.runs(f"find {query}")) == [], query
    indexed = [
        key
        for key in baton.redis.scan_iter(match=f"{baton.keys.prefix}:{{find}}:*")
        if baton.redis.type(key) == "set" and baton.redis.sismember(key, 1)
    ]
    assert indexed == []


def test_find_backfill_indexes_conversations_stored_before_the_index(
    client, customer, alex, baton, settings
):
    customer.texts("my bridge came loose")
    texting(client, "+15550009999", "invoice question")
    settle(client.application)
    # As a Baton older than the index left them: the conversations, no index.
    baton.redis.delete(*baton.redis.keys(f"{baton.keys.prefix}:{{find}}:*"))
    assert "Nothing matches." in listed(alex.runs("find bridge"))

    env = bot_env(settings, PUBLIC_URL="https://baton.example.com")
    for _ in range(2):  # idempotent
        done = subprocess.run(
            [sys.executable, "-m", "bot", "find", "backfill"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert done.returncode == 0, done.stderr
        assert "find: indexed 2 conversations" in done.stdout

    assert refs(alex.runs("find bridge")) == ["#1"]
    assert refs(alex.runs("find invoice")) == ["#2"]
    assert refs(alex.runs("find 555-000-9999")) == ["#2"]


def test_a_few_valued_term_is_kept_in_blocks_of_numbers_and_found_across_them(
    client, customer, alex, baton
):
    customer.texts("first")  # #1, in the first block
    # As on a team whose conversations have reached #600: the next one is in the second block.
    baton.redis.set(baton.keys.sequence, 600)
    texting(client, "+15557654321", "second")  # #601
    settle(client.application)
    keys = baton.keys
    assert baton.redis.smembers(keys.find_block("status:open", 0)) == {"1"}
    assert baton.redis.smembers(keys.find_block("status:open", 1)) == {"601"}
    assert baton.redis.object("encoding", keys.find_block("status:open", 1)) == "intset"
    assert not baton.redis.exists(keys.find_term("status:open"))
    assert refs(alex.runs("find status:open")) == ["#601", "#1"]
    assert refs(alex.runs("find queue:general second")) == ["#601"]
    assert refs(alex.runs("find status:open +15557654321")) == ["#601"]

    # A team whose numbers reach millions: a term's blocks are more than a script can unpack at once.
    baton.redis.set(baton.keys.sequence, 6_000_000)
    assert refs(alex.runs("find status:open queue:general")) == ["#601", "#1"]


def test_a_conversation_an_older_baton_indexed_is_found_and_leaves_its_old_set(
    customer, alex, baton
):
    customer.texts("hello")
    alex.card_of(1)
    keys = baton.keys
    # As an older Baton indexed it: its status and queue in one set per term.
    for term in ("status:open", "queue:general"):
        baton.redis.srem(keys.find_block(term, 0), 1)
        baton.redis.sadd(keys.find_term(term), 1)
    assert refs(alex.runs("find status:open queue:general")) == ["#1"]

    alex.runs("pending #1")

    assert refs(alex.runs("find status:open")) == []
    assert refs(alex.runs("find status:pending queue:general")) == ["#1"]
    assert not baton.redis.sismember(keys.find_term("status:open"), 1)

    # The backfill moves what is left in an older Baton's sets into the blocks.
    baton.redis.srem(keys.find_block("queue:general", 0), 1)
    baton.redis.sadd(keys.find_term("queue:general"), 1)
    assert baton.conversations.reindex_all() == 1
    assert baton.redis.smembers(keys.find_block("queue:general", 0)) == {"1"}
    assert not baton.redis.exists(keys.find_term("queue:general"))
    assert refs(alex.runs("find queue:general")) == ["#1"]


def test_a_conversation_the_index_still_names_under_an_old_value_is_not_shown(
    customer, alex, baton
):
    customer.texts("hello")
    alex.card_of(1)
    alex.runs("pending #1")
    # As an older Baton running beside this one leaves it: it reopened #1 in its own set only.
    baton.redis.hset(baton.keys.conversation(1), "status", "open")

    answer = alex.runs("find status:pending")

    assert refs(answer) == [] and "Nothing matches." in listed(answer)
    assert "1 conversation" not in answer["text"], "not counted either"
    # Met, it is taken out of the index (in a commit of its own, so a change racing it wins).
    assert not baton.redis.sismember(baton.keys.find_block("status:pending", 0), 1)
    assert refs(alex.runs("find hello")) == ["#1"]
