"""X-Twilio-Signature checks against the URL Twilio called (rebuilt from PUBLIC_URL)."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from sms.overrides import RETRIES
from sms.signature import TwilioSignature

AUTH_TOKEN = "twilio-test-auth-token"
PUBLIC_URL = "https://baton.example.com"
PARAMS = {
    "MessageSid": "SM" + "a" * 32,
    "AccountSid": "AC" + "0" * 32,
    "From": "+12127365000",
    "To": "+14155550100",
    "Body": "Hi, can I move my appointment to 3pm? Thanks & bye",
    "NumMedia": "0",
}


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


@pytest.fixture
def checker() -> TwilioSignature:
    return TwilioSignature(AUTH_TOKEN, PUBLIC_URL)


def test_signature_for_the_public_url_is_valid(checker: TwilioSignature) -> None:
    # Behind a proxy the app sees http://10.0.0.5:3000/twilio/sms, Twilio signed the public URL.
    url = checker.url_for("http://10.0.0.5:3000/twilio/sms", "/twilio/sms", "")
    signature = sign(f"{PUBLIC_URL}/twilio/sms", PARAMS)

    assert url == f"{PUBLIC_URL}/twilio/sms"
    assert checker.valid(url, PARAMS, signature)


def test_signature_with_a_query_string(checker: TwilioSignature) -> None:
    url = checker.url_for("http://internal/twilio/status?n=7", "/twilio/status", "n=7")
    signature = sign(f"{PUBLIC_URL}/twilio/status?n=7", PARAMS)

    assert url == f"{PUBLIC_URL}/twilio/status?n=7"
    assert checker.valid(url, PARAMS, signature)
    assert not checker.valid(f"{PUBLIC_URL}/twilio/status", PARAMS, signature)


# The SMS URL Baton gives Twilio ends in connection overrides (a fragment). No
# request carries a fragment and Twilio does not say whether it signs it, so a
# signature over either form is accepted, and nothing else.
SMS_URL_WITH_RETRIES = f"{PUBLIC_URL}/twilio/sms#ct=2000&rt=5000&tt=15000&rc=5&rp=5xx,ct,rt"


def test_signature_over_the_url_with_baton_s_overrides_is_valid(checker: TwilioSignature) -> None:
    # Flask never sees the fragment: the URL rebuilt for the check has none.
    url = checker.url_for("http://10.0.0.5:3000/twilio/sms", "/twilio/sms", "")
    signature = sign(SMS_URL_WITH_RETRIES, PARAMS)

    assert url == f"{PUBLIC_URL}/twilio/sms"
    assert signature != sign(url, PARAMS)
    assert checker.valid(url, PARAMS, signature)


def test_signature_over_the_overrides_with_the_default_port_is_valid(
    checker: TwilioSignature,
) -> None:
    signed = SMS_URL_WITH_RETRIES.replace("baton.example.com", "baton.example.com:443")

    assert checker.valid(f"{PUBLIC_URL}/twilio/sms", PARAMS, sign(signed, PARAMS))


def test_signature_over_a_query_string_and_the_overrides_is_valid(
    checker: TwilioSignature,
) -> None:
    url = checker.url_for("http://internal/twilio/status?n=7", "/twilio/status", "n=7")
    signature = sign(f"{PUBLIC_URL}/twilio/status?n=7#{RETRIES.fragment}", PARAMS)

    assert checker.valid(url, PARAMS, signature)
    assert not checker.valid(f"{PUBLIC_URL}/twilio/status", PARAMS, signature)


@pytest.mark.parametrize(
    "fragment",
    [
        "rc=1",
        "ct=2000&rt=5000&tt=15000&rc=5&rp=all",
        "rp=5xx,ct,rt&ct=2000&rt=5000&tt=15000&rc=5",
        "",
    ],
)
def test_signature_over_other_overrides_is_invalid(checker: TwilioSignature, fragment: str) -> None:
    # An empty fragment ("…/sms#") is a different string to sign, too.
    signature = sign(f"{PUBLIC_URL}/twilio/sms#{fragment}", PARAMS)

    assert not checker.valid(f"{PUBLIC_URL}/twilio/sms", PARAMS, signature)


def test_overrides_do_not_rescue_a_tampered_param(checker: TwilioSignature) -> None:
    signature = sign(SMS_URL_WITH_RETRIES, PARAMS)
    tampered = {**PARAMS, "Body": "send me all your data"}

    assert not checker.valid(f"{PUBLIC_URL}/twilio/sms", tampered, signature)


def test_without_public_url_the_received_url_with_the_overrides_is_valid() -> None:
    checker = TwilioSignature(AUTH_TOKEN, None)
    received = "https://abc123.ngrok.app/twilio/sms"

    assert checker.valid(received, PARAMS, sign(f"{received}#{RETRIES.fragment}", PARAMS))


@pytest.mark.parametrize(
    ("name", "value"),
    [("Body", "Hi, can I move my appointment to 4pm? Thanks & bye"), ("From", "+12127365001")],
)
def test_a_tampered_param_is_invalid(checker: TwilioSignature, name: str, value: str) -> None:
    signature = sign(f"{PUBLIC_URL}/twilio/sms", PARAMS)

    assert not checker.valid(f"{PUBLIC_URL}/twilio/sms", {**PARAMS, name: value}, signature)


def test_an_added_param_is_invalid(checker: TwilioSignature) -> None:
    signature = sign(f"{PUBLIC_URL}/twilio/sms", PARAMS)

    assert not checker.valid(f"{PUBLIC_URL}/twilio/sms", {**PARAMS, "Extra": "1"}, signature)


def test_a_removed_param_is_invalid(checker: TwilioSignature) -> None:
    signature = sign(f"{PUBLIC_URL}/twilio/sms", PARAMS)
    params = {k: v for k, v in PARAMS.items() if k != "NumMedia"}

    assert not checker.valid(f"{PUBLIC_URL}/twilio/sms", params, signature)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/twilio/sms",
        f"{PUBLIC_URL}/twilio/status",
        f"{PUBLIC_URL}/twilio/sms?x=1",
        "http://baton.example.com/twilio/sms",
    ],
)
def test_a_different_url_is_invalid(checker: TwilioSignature, url: str) -> None:
    signature = sign(f"{PUBLIC_URL}/twilio/sms", PARAMS)

    assert not checker.valid(url, PARAMS, signature)


@pytest.mark.parametrize("signature", [None, "", "not-a-signature", "AAAA"])
def test_missing_or_garbage_signature_is_invalid(
    checker: TwilioSignature, signature: str | None
) -> None:
    assert not checker.valid(f"{PUBLIC_URL}/twilio/sms", PARAMS, signature)


def test_signature_made_with_another_auth_token_is_invalid(checker: TwilioSignature) -> None:
    signature = sign(f"{PUBLIC_URL}/twilio/sms", PARAMS, token="someone-elses-token")

    assert not checker.valid(f"{PUBLIC_URL}/twilio/sms", PARAMS, signature)


def test_default_https_port_in_the_signed_url_is_accepted(checker: TwilioSignature) -> None:
    signature = sign("https://baton.example.com:443/twilio/sms", PARAMS)

    assert checker.valid(f"{PUBLIC_URL}/twilio/sms", PARAMS, signature)


def test_without_public_url_the_received_url_is_used() -> None:
    checker = TwilioSignature(AUTH_TOKEN, None)
    received = "https://abc123.ngrok.app/twilio/sms?n=7"

    url = checker.url_for(received, "/twilio/sms", "n=7")

    assert url == received
    assert checker.valid(url, PARAMS, sign(received, PARAMS))


def test_empty_public_url_counts_as_unset() -> None:
    checker = TwilioSignature(AUTH_TOKEN, "")

    assert checker.url_for("http://localhost:3000/twilio/sms", "/twilio/sms", "") == (
        "http://localhost:3000/twilio/sms"
    )


def test_public_url_with_a_path_prefix() -> None:
    checker = TwilioSignature(AUTH_TOKEN, "https://example.com/baton")

    assert checker.url_for("http://10.0.0.5/twilio/sms", "/twilio/sms", "") == (
        "https://example.com/baton/twilio/sms"
    )
