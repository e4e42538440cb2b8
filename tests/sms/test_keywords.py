"""Carrier opt-out and opt-in keywords."""

from __future__ import annotations

import pytest

from sms.keywords import OPT_IN, OPT_OUT, opt_change

OPT_OUT_WORDS = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"]
OPT_IN_WORDS = ["START", "UNSTOP", "YES"]


def variants(word: str) -> list[str]:
    return [
        word,
        word.lower(),
        word.capitalize(),
        word[0].lower() + word[1:],
        f"  {word.lower()}  ",
        f"{word}.",
        f"{word.lower()}!",
        f"\t{word.capitalize()}!!\n",
        f"{word}...",
    ]


def test_keyword_sets_match_the_contract() -> None:
    assert set(OPT_OUT_WORDS) == OPT_OUT
    assert set(OPT_IN_WORDS) == OPT_IN


@pytest.mark.parametrize("word", OPT_OUT_WORDS)
def test_every_opt_out_keyword_in_any_case_with_spaces_and_punctuation(word: str) -> None:
    for body in variants(word):
        assert opt_change(body) == "out", body


@pytest.mark.parametrize("word", OPT_IN_WORDS)
def test_every_opt_in_keyword_in_any_case_with_spaces_and_punctuation(word: str) -> None:
    for body in variants(word):
        assert opt_change(body) == "in", body


@pytest.mark.parametrize("body", ["stop?", "Stop,", '"STOP"', "stop !"])
def test_other_surrounding_punctuation_is_ignored_too(body: str) -> None:
    # The docstring promises "surrounding spaces and punctuation ignored".
    assert opt_change(body) == "out"


@pytest.mark.parametrize(
    "body",
    [
        "stop it",
        "please stop",
        "Stop texting me at work",
        "don't stop",
        "yes please",
        "Yes, 3pm works",
        "start time?",
        "the end",
        "stopped",
        "unstoppable",
        "s t o p",
        "",
        "   ",
        "Hi, can I reschedule?",
    ],
)
def test_texts_that_merely_contain_a_keyword_change_nothing(body: str) -> None:
    assert opt_change(body) is None


def test_none_body_changes_nothing() -> None:
    assert opt_change(None) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["STOP", "stop", "Stop"])
def test_twilio_opt_out_type_stop_wins_over_the_body(kind: str) -> None:
    assert opt_change("please stop texting me", kind) == "out"
    assert opt_change("", kind) == "out"


@pytest.mark.parametrize("kind", ["START", "start"])
def test_twilio_opt_out_type_start_wins_over_the_body(kind: str) -> None:
    assert opt_change("ok I am back", kind) == "in"


def test_other_opt_out_types_fall_back_to_the_body() -> None:
    assert opt_change("HELP", "HELP") is None
    assert opt_change("stop", "HELP") == "out"
    assert opt_change("start", "") == "in"
    assert opt_change("hello", None) is None
