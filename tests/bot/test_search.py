"""The find index's terms and queries, without Redis."""

from __future__ import annotations

import pytest

from bot.search import BadQuery, field_terms, parse_query, text_terms, words
from bot.values import FORGOTTEN, Conversation

QUEUES = ["sales", "general"]


def test_words_are_casefolded_unicode_word_runs():
    assert words("Is my CROWN ready? Zoë's crown!") == {"is", "my", "crown", "ready", "zoë", "s"}
    assert words("\uff46\uff55\uff4c\uff4c width Straße") == {"full", "width", "strasse"}
    assert words("x" * 41 + " ok") == {"ok"}
    assert text_terms("Crown crown") == {"w:crown"}


def test_field_terms_name_every_filter_and_none_once_erased():
    conv = Conversation(
        1,
        "+15550001111",
        "+12127365000",
        "sales",
        "C1",
        "pending",
        "U0ALEX",
        customer_name="Sarah Lee",
        tags=("billing",),
    )
    assert field_terms(conv) == {
        "p:+12127365000",
        "status:pending",
        "queue:sales",
        "tag:billing",
        "owner:U0ALEX",
        "n:sarah",
        "n:lee",
    }
    assert field_terms(Conversation(2, "+15550001111", FORGOTTEN, "sales", "C1")) == set()


def test_a_query_reads_words_numbers_in_any_format_and_filters():
    query = parse_query("Crown (212) 736-5000 tag:Billing status:open <@U0ALEX|alex>", "US", QUEUES)
    assert query.parts == (
        ("w:crown", "n:crown"),
        ("p:+12127365000",),
        ("tag:billing",),
        ("status:open",),
        ("owner:U0ALEX",),
    )
    assert parse_query("212.736.5000", "US", QUEUES).parts == (("p:+12127365000",),)
    assert parse_query("owner:<@U0BLAIR>  queue:SALES", "US", QUEUES).parts == (
        ("owner:U0BLAIR",),
        ("queue:sales",),
    )
    assert parse_query("&amp; 10:30", "US", QUEUES).parts == (
        ("w:10", "n:10"),
        ("w:30", "n:30"),
    )


@pytest.mark.parametrize(
    ("text", "kind", "word"),
    [
        ("from:alex", "filter", "from:"),
        ("status:done", "status", "done"),
        ("queue:nope", "queue", "nope"),
        ("@alex", "person", "@alex"),
        ("owner:alex", "person", "alex"),
        (" ".join(f"word{i}" for i in range(31)), "long", "30"),
    ],
)
def test_a_query_typed_wrong_names_the_word(text, kind, word):
    with pytest.raises(BadQuery) as raised:
        parse_query(text, "US", QUEUES)
    assert (raised.value.kind, raised.value.word) == (kind, word)
    assert len(parse_query(" ".join(f"word{i}" for i in range(30)), "US", QUEUES).parts) == 30
