"""Slack markup becomes the plain text a customer's phone shows."""

from __future__ import annotations

import pytest

from bot.markup import to_plain_text

NAMES = {"U1": "Alex Rivera", "U0BLAIR": "Blair"}


def name_of(user_id: str) -> str:
    return NAMES.get(user_id, "someone")


def plain(text: str) -> str:
    return to_plain_text(text, name_of)


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<@U1>", "Alex Rivera"),
        ("Hi, this is <@U1>.", "Hi, this is Alex Rivera."),
        ("<@U1> and <@U0BLAIR>", "Alex Rivera and Blair"),
        ("<@U1|alex>", "alex"),
        ("<#C1|general>", "#general"),
        ("<https://acme.example/book|Book here>", "Book here (https://acme.example/book)"),
        ("<https://acme.example/book>", "https://acme.example/book"),
        ("<https://acme.example|https://acme.example>", "https://acme.example"),
        ("<mailto:a@b.co|a@b.co>", "a@b.co"),
        ("<mailto:a@b.co>", "a@b.co"),
        ("<tel:+12127365000|212-736-5000>", "212-736-5000 (tel:+12127365000)"),
        ("<!here>", "@here"),
        ("<!channel>", "@channel"),
        ("<!everyone>", "@everyone"),
        ("<!subteam^S1|@oncall>", "@oncall"),
        ("<!date^1392734382^{date_short}|Feb 18, 2014>", "Feb 18, 2014"),
        ("no markup at all", "no markup at all"),
        ("", ""),
    ],
)
def test_markup_becomes_plain_text(markup: str, text: str) -> None:
    assert plain(markup) == text


def test_the_name_callable_gets_the_bare_user_id() -> None:
    seen: list[str] = []

    def record(user_id: str) -> str:
        seen.append(user_id)
        return "X"

    assert to_plain_text("<@U0ABC> hi <@W0DEF>", record) == "X hi X"
    assert seen == ["U0ABC", "W0DEF"]


def test_a_labelled_mention_does_not_look_the_user_up() -> None:
    def refuse(user_id: str) -> str:
        raise AssertionError(f"looked up {user_id}")

    assert to_plain_text("<@U1|alex>", refuse) == "alex"


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("Tom &amp; Jerry", "Tom & Jerry"),
        ("1 &lt; 2 &gt; 0", "1 < 2 > 0"),
        ("&lt;@U1&gt;", "<@U1>"),  # a typed literal stays literal, not a mention
        ("&amp;lt;", "&lt;"),  # unescaped once, &amp; last
        ("&amp;gt;", "&gt;"),
        ("&amp;amp;", "&amp;"),
        ("AT&amp;T", "AT&T"),
    ],
)
def test_entities_are_unescaped_once(markup: str, text: str) -> None:
    assert plain(markup) == text


def test_escaped_ampersand_inside_a_link_and_its_label() -> None:
    assert plain("<https://x.example/?a=1&amp;b=2|Q&amp;A>") == "Q&A (https://x.example/?a=1&b=2)"


def test_a_whole_message() -> None:
    message = (
        "Hi! <@U1> here &amp; <@U0BLAIR|blair> will help. "
        "Book at <https://acme.example/book|our site> or mail <mailto:desk@acme.example|desk@acme.example>. "
        "Prices &lt; $50."
    )

    assert plain(message) == (
        "Hi! Alex Rivera here & blair will help. "
        "Book at our site (https://acme.example/book) or mail desk@acme.example. "
        "Prices < $50."
    )
