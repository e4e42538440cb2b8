"""Reading a rating in a customer's reply: generous with the form, strict with the content."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.csat import parse_rating

WORDS = ["one", "two", "three", "four", "five"]
STARS = ["⭐", "★", "🌟", "⭐\ufe0f"]
UNITS = ["", " stars", "stars", " star", "/5", " / 5", " out of 5", " of 5", " out of five", "⭐"]
AROUND = ["", " ", "!", "!!", ".", "  \n", "?", '"', "*"]


@st.composite
def written_ratings(draw: st.DrawFn) -> tuple[int, str]:
    """A rating 1-5 as customers type it: digits, words, units, stars, case and punctuation."""
    rating = draw(st.integers(1, 5))
    form = draw(st.sampled_from(["digit", "word", "stars", "keycap", "wide"]))
    if form == "stars":
        star = draw(st.sampled_from(STARS))
        gap = draw(st.sampled_from(["", " "]))
        core = gap.join([star] * rating)
    elif form == "keycap":
        core = f"{rating}\ufe0f\u20e3"
    else:
        number = {"digit": str(rating), "word": WORDS[rating - 1]}.get(form)
        if number is None:  # full-width digits, as some keyboards send
            number = chr(0xFF10 + rating)
        core = number + draw(st.sampled_from(UNITS))
    case = draw(st.sampled_from([str, str.upper, str.title]))
    before, after = draw(st.sampled_from(AROUND)), draw(st.sampled_from(AROUND))
    return rating, before + case(core) + after


@given(written_ratings())
@example((5, "5"))
@example((5, "5!"))
@example((4, "4 stars"))
@example((5, "⭐⭐⭐⭐⭐"))
@example((5, "five"))
@example((3, "Three stars."))
@example((4, "4/5"))
def test_a_rating_in_any_generous_form_is_read(written: tuple[int, str]) -> None:
    rating, text = written
    assert parse_rating(text) == rating


# Words a customer writes around a number in a sentence: none is part of a rating.
SENTENCE_WORDS = st.sampled_from(
    ["i", "need", "more", "it", "took", "days", "call", "me", "at", "thanks", "great", "the",
     "appointment", "is", "pm", "can", "you", "do", "friday", "minutes", "ok", "yes", "no"]
)  # fmt: skip


@given(
    before=st.lists(SENTENCE_WORDS, max_size=4),
    number=st.one_of(st.integers(0, 100).map(str), st.sampled_from(WORDS)),
    after=st.lists(SENTENCE_WORDS, max_size=4),
)
@example(before=["i", "need"], number="2", after=["more"])
@example(before=[], number="5", after=["minutes"])
@example(before=["call", "me", "at"], number="3", after=[])
def test_a_sentence_with_a_number_in_it_is_not_a_rating(
    before: list[str], number: str, after: list[str]
) -> None:
    if not before and not after:
        return  # the number alone: the other test's case
    assert parse_rating(" ".join([*before, number, *after])) is None


@given(st.integers().filter(lambda n: not 1 <= n <= 5))
def test_numbers_outside_one_to_five_are_not_ratings(number: int) -> None:
    assert parse_rating(str(number)) is None
    assert parse_rating(f"{number} stars") is None


@given(st.text())
def test_any_text_reads_as_a_rating_1_to_5_or_as_none(text: str) -> None:
    assert parse_rating(text) in (None, 1, 2, 3, 4, 5)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "!!!", "⭐⭐⭐⭐⭐⭐", "4.5", "4-5", "45", "5 5", "5 of 10", "10/10", "stars", "STOP",
     "4 stars but the wait was long", "five stars, thank you so much"],
)  # fmt: skip
def test_what_is_not_a_rating(text: str) -> None:
    assert parse_rating(text) is None
