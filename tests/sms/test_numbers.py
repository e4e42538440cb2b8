"""Phone numbers: E.164 from the many ways people type them, display and masking."""

from __future__ import annotations

import phonenumbers
import pytest

from sms.numbers import InvalidNumber, display, mask, normalise


@pytest.mark.parametrize(
    ("text", "region", "e164"),
    [
        ("+1 212 736 5000", "US", "+12127365000"),
        ("+12127365000", "US", "+12127365000"),
        ("212-736-5000", "US", "+12127365000"),
        ("(212) 736-5000", "US", "+12127365000"),
        ("212.736.5000", "US", "+12127365000"),
        ("2127365000", "US", "+12127365000"),
        ("1-212-736-5000", "US", "+12127365000"),
        ("1 (212) 736-5000", "US", "+12127365000"),
        ("  212 736 5000  ", "US", "+12127365000"),
        ("tel:+1-212-736-5000", "US", "+12127365000"),
        ("011 44 20 7946 0958", "US", "+442079460958"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("+44 (0)20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("00 44 20 7946 0958", "GB", "+442079460958"),
        ("07911 123456", "GB", "+447911123456"),
        ("+1 212 736 5000", "GB", "+12127365000"),  # a leading + ignores the region
        ("+33 1 42 68 53 00", "US", "+33142685300"),
        ("1 800 FLOWERS", "US", "+18003569377"),
    ],
)
def test_normalise_common_formats(text: str, region: str, e164: str) -> None:
    assert normalise(text, region) == e164


def test_the_region_decides_how_a_national_number_is_read() -> None:
    assert normalise("020 7946 0958", "GB") == "+442079460958"
    with pytest.raises(InvalidNumber):
        normalise("020 7946 0958", "US")


def test_default_region_is_us() -> None:
    assert normalise("212-736-5000") == "+12127365000"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "hello",
        "call me",
        "12",
        "+",
        "+1",
        "212-736-500",  # too short
        "212-736-50000000",  # too long for the US
        "+999 123 456 789",  # no such country code
        "1" * 41,
        "+1 212 736 5000" + " " * 30 + "x",
    ],
)
def test_garbage_empty_and_overlong_input_is_invalid(text: str) -> None:
    with pytest.raises(InvalidNumber):
        normalise(text)


def test_none_is_invalid() -> None:
    with pytest.raises(InvalidNumber):
        normalise(None)  # type: ignore[arg-type]


def test_invalid_number_is_a_value_error_quoting_the_input() -> None:
    with pytest.raises(ValueError, match="'hello' is not a phone number"):
        normalise("hello")


def test_overlong_input_is_cut_in_the_message() -> None:
    with pytest.raises(InvalidNumber) as caught:
        normalise("9" * 500)

    assert len(str(caught.value)) < 80


@pytest.mark.parametrize(
    "text", ["+15551234567", "(555) 123-4567", "+1 212 123 4567", "+1 999 736 5000"]
)
def test_strict_refuses_unassigned_numbers(text: str) -> None:
    with pytest.raises(InvalidNumber, match="not a valid phone number"):
        normalise(text)


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("+15551234567", "+15551234567"),
        ("(555) 123-4567", "+15551234567"),
        ("212 123 4567", "+12121234567"),
    ],
)
def test_lenient_accepts_possible_but_unassigned_numbers(text: str, e164: str) -> None:
    assert normalise(text, strict=False) == e164


@pytest.mark.parametrize("text", ["+1555123", "+1 555 123 45678 9", "hello"])
def test_lenient_still_refuses_impossible_numbers(text: str) -> None:
    with pytest.raises(InvalidNumber):
        normalise(text, strict=False)


@pytest.mark.parametrize(
    ("e164", "shown"),
    [
        ("+12127365000", "+1 212-736-5000"),
        ("+15551234567", "+1 555-123-4567"),
        ("+442079460958", "+44 20 7946 0958"),
        ("+447911123456", "+44 7911 123456"),
        ("+33142685300", "+33 1 42 68 53 00"),
    ],
)
def test_display_formats_for_people(e164: str, shown: str) -> None:
    assert display(e164) == shown


@pytest.mark.parametrize("text", ["not a number", "", "+"])
def test_display_leaves_unparseable_text_alone(text: str) -> None:
    assert display(text) == text


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+15551234567", "+1******4567"),
        ("+442079460958", "+4*******0958"),
        ("+4930901820", "+4*****1820"),
        ("1234567", "12*4567"),
        ("123456", "******"),
        ("12", "**"),
        ("", "-"),
        (None, "-"),
    ],
)
def test_mask_hides_all_but_the_first_two_and_last_four(number: str | None, masked: str) -> None:
    assert mask(number) == masked


def test_mask_keeps_the_length_and_never_shows_the_middle() -> None:
    number = "+12127365000"
    masked = mask(number)

    assert len(masked) == len(number)
    assert "27365" not in masked


def test_a_number_seen_again_is_not_parsed_again(monkeypatch) -> None:
    parsed = []
    parse = phonenumbers.parse

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        parsed.append(args[0])
        return parse(*args, **kwargs)

    monkeypatch.setattr(phonenumbers, "parse", counting)
    for _ in range(3):
        assert normalise("+13125550178", strict=False) == "+13125550178"
        assert display("+13125550178") == "+1 312-555-0178"
    assert parsed == ["+13125550178", "+13125550178"]
