"""How many segments a text costs: GSM-7 160/153, UCS-2 70/67."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sms.segments import GSM7_BASIC, GSM7_EXTENDED, MAX_BODY, Segments, count_segments


@pytest.mark.parametrize(
    ("length", "count"),
    [(0, 1), (1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4), (1600, 11)],
)
def test_gsm7_boundaries(length: int, count: int) -> None:
    assert count_segments("a" * length) == Segments("GSM-7", length, count)


def test_gsm7_covers_the_usual_punctuation_and_accents() -> None:
    text = "Hi Zoé! Your appointment is at 3:30pm (Mon). Cost: £20/$25 @ Café — ok?"
    # The em dash is not GSM-7, so this one is UCS-2.
    assert count_segments(text).encoding == "UCS-2"
    assert count_segments(text.replace("—", "-")).encoding == "GSM-7"


@pytest.mark.parametrize("char", sorted(GSM7_EXTENDED))
def test_extended_characters_count_double(char: str) -> None:
    assert count_segments(char) == Segments("GSM-7", 2, 1)
    assert count_segments("a" * 158 + char) == Segments("GSM-7", 160, 1)
    assert count_segments("a" * 159 + char) == Segments("GSM-7", 161, 2)


def test_euro_sign_is_gsm7_extended() -> None:
    assert count_segments("€10") == Segments("GSM-7", 4, 1)


@pytest.mark.parametrize(
    ("length", "count"),
    [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_ucs2_boundaries(length: int, count: int) -> None:
    text = "ж" * length
    assert count_segments(text) == Segments("UCS-2", length, count)


def test_one_non_gsm_character_switches_the_whole_text_to_ucs2() -> None:
    assert count_segments("a" * 100) == Segments("GSM-7", 100, 1)
    assert count_segments("a" * 99 + "ć") == Segments("UCS-2", 100, 2)


def test_emoji_outside_the_bmp_take_two_units() -> None:
    assert count_segments("👍") == Segments("UCS-2", 2, 1)
    assert count_segments("👍" * 35) == Segments("UCS-2", 70, 1)
    assert count_segments("👍" * 35 + "a") == Segments("UCS-2", 71, 2)
    assert count_segments("Thanks 😊") == Segments("UCS-2", 9, 1)


def test_bmp_symbols_take_one_unit() -> None:
    assert count_segments("✓" * 70) == Segments("UCS-2", 70, 1)


def test_newlines_are_gsm7() -> None:
    assert count_segments("line one\nline two\r\n") == Segments("GSM-7", 19, 1)


def test_max_body_is_twilio_limit() -> None:
    assert MAX_BODY == 1600


CAPACITY = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


@given(
    st.text(
        alphabet=st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENDED)) | st.characters(),
        max_size=2000,
    )
)
def test_segments_always_hold_the_text(text: str) -> None:
    result = count_segments(text)

    assert result.count >= 1
    single, multi = CAPACITY[result.encoding]
    capacity = single if result.count == 1 else multi
    assert result.count * capacity >= result.units
    # And no more segments than needed.
    if result.count > 1:
        assert (result.count - 1) * multi < result.units
    assert result.units >= len(text)
    if all(c in GSM7_BASIC for c in text):
        assert result == Segments("GSM-7", len(text), result.count)
