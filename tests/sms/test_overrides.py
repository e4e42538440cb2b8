"""Twilio's connection overrides: the ones Baton asks for, read back from a URL, and compared."""

from __future__ import annotations

import pytest

from sms.overrides import RETRIES, ConnectionOverrides

SMS_URL = "https://baton.example.com/twilio/sms"


def test_baton_asks_for_five_retries_of_5xx_and_failed_connections_within_15_s() -> None:
    assert RETRIES.fragment == "ct=2000&rt=5000&tt=15000&rc=5&rp=5xx,ct,rt"
    assert RETRIES.on(SMS_URL) == f"{SMS_URL}#ct=2000&rt=5000&tt=15000&rc=5&rp=5xx,ct,rt"
    # Within Twilio's limits (connection overrides page).
    assert 100 <= RETRIES.connect_timeout_ms <= 10000
    assert 100 <= RETRIES.read_timeout_ms <= 15000
    assert 100 <= RETRIES.total_time_ms <= 15000
    assert 0 <= RETRIES.retry_count <= 5
    # A forged (403) or malformed (400) text is refused the same way every time.
    assert "4xx" not in RETRIES.retry_policy and "all" not in RETRIES.retry_policy


def test_on_replaces_a_fragment_the_url_had() -> None:
    assert RETRIES.on(f"{SMS_URL}#rc=1") == RETRIES.on(SMS_URL)
    assert ConnectionOverrides().on(f"{SMS_URL}#rc=1") == SMS_URL


def test_read_back_from_a_url() -> None:
    assert ConnectionOverrides.of(RETRIES.on(SMS_URL)) == RETRIES
    assert ConnectionOverrides.of(SMS_URL) == ConnectionOverrides()
    # Order does not matter and an encoded comma reads the same.
    assert ConnectionOverrides.of(f"{SMS_URL}#rp=5xx%2Cct%2Crt&rc=5&tt=15000&rt=5000&ct=2000") == (
        RETRIES
    )
    assert ConnectionOverrides.of(f"{SMS_URL}#rc=many&e=ashburn") == ConnectionOverrides()


@pytest.mark.parametrize(
    "fragment",
    [
        "ct=2000&rt=5000&tt=15000&rc=5&rp=5xx,ct,rt",
        "rc=5&rp=all",
        "ct=500&rt=12000&rc=5&rp=rt,ct,5xx,4xx",
    ],
)
def test_as_strong_or_stronger_has_no_shortfall(fragment: str) -> None:
    assert ConnectionOverrides.of(f"{SMS_URL}#{fragment}").shortfalls(RETRIES) == []


def test_no_overrides_fall_short_on_count_and_policy() -> None:
    assert ConnectionOverrides.of(SMS_URL).shortfalls(RETRIES) == [
        "rc=1 retries fewer times than rc=5",
        "no rp, so Twilio does not retry on 5xx",
    ]


@pytest.mark.parametrize(
    ("fragment", "shortfall"),
    [
        ("rc=3&rp=5xx,ct,rt", "rc=3 retries fewer times than rc=5"),
        ("rc=5&rp=ct,rt", "rp=ct,rt does not retry on 5xx"),
        ("rc=5&rp=5xx,ct,rt&tt=8000", "tt=8000 gives all attempts less time than tt=15000"),
    ],
)
def test_weaker_overrides_say_what_falls_short(fragment: str, shortfall: str) -> None:
    assert ConnectionOverrides.of(f"{SMS_URL}#{fragment}").shortfalls(RETRIES) == [shortfall]
