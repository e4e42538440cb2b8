"""Pointing the business number's Twilio webhooks at PUBLIC_URL: dry run, then --apply."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from config import Settings
from ops.webhooks import NumberNotFound, apply, plan_webhooks, report
from sms.gateway import build_client
from standins import FakeTwilio
from tests.dialog import BUSINESS_NUMBER
from tests.ops import bot_env, run_bot

PUBLIC_URL = "https://baton.example.com"
# Twilio's connection overrides after '#': retry a text Baton could not store.
SMS_URL = "https://baton.example.com/twilio/sms#ct=2000&rt=5000&tt=15000&rc=5&rp=5xx,ct,rt"
BARE_SMS_URL = "https://baton.example.com/twilio/sms"
STATUS_URL = "https://baton.example.com/twilio/status"
OVERRIDES_NOTE = (
    "  the part after # is Twilio's connection overrides: they ask Twilio to retry "
    "a text Baton could not store"
)


@pytest.fixture
def twilio(settings: Settings) -> Client:
    return build_client(
        settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_url
    )


def number(fake_twilio: FakeTwilio, phone: str = BUSINESS_NUMBER) -> dict:
    return next(n for n in fake_twilio.numbers if n["phone_number"] == phone)


def test_plan_for_a_fresh_number_sets_only_the_sms_url(
    twilio: Client, fake_twilio: FakeTwilio
) -> None:
    plan = plan_webhooks(twilio, BUSINESS_NUMBER, PUBLIC_URL)

    assert plan.sid == number(fake_twilio)["sid"]
    assert [c.field for c in plan.changes] == ["SmsUrl"]
    assert plan.changes[0].describe(applied=False) == (
        f"would set SmsUrl from (empty) to {SMS_URL}"
    )
    # Planning reads only.
    assert fake_twilio.calls_to("incoming_phone_numbers.update") == []
    assert number(fake_twilio)["sms_url"] == ""


def test_apply_updates_the_number_through_the_api(twilio: Client, fake_twilio: FakeTwilio) -> None:
    plan = plan_webhooks(twilio, BUSINESS_NUMBER, PUBLIC_URL)

    after = apply(twilio, plan)

    [update] = fake_twilio.calls_to("incoming_phone_numbers.update")
    assert update.params == {"SmsUrl": SMS_URL, "SmsMethod": "POST"}
    assert number(fake_twilio)["sms_url"] == SMS_URL
    assert number(fake_twilio)["sms_method"] == "POST"
    assert after.changes == ()


def test_nothing_to_change_says_so_and_sends_no_update(
    twilio: Client, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.add_number("+15550002222", sms_url=SMS_URL, status_callback=STATUS_URL)
    plan = plan_webhooks(twilio, "+15550002222", PUBLIC_URL)

    assert plan.changes == ()
    assert apply(twilio, plan) == plan
    assert fake_twilio.calls_to("incoming_phone_numbers.update") == []
    assert "nothing to change" in report(plan, applied=False)


def test_a_status_callback_pointing_elsewhere_is_replaced(
    twilio: Client, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.add_number(
        "+15550002222",
        sms_url="https://old-tunnel.example.net/twilio/sms",
        status_callback="https://old-tunnel.example.net/twilio/status",
    )
    plan = plan_webhooks(twilio, "+15550002222", PUBLIC_URL)

    assert report(plan, applied=False).splitlines()[1:] == [
        f"  would set SmsUrl from https://old-tunnel.example.net/twilio/sms to {SMS_URL}",
        f"  would set StatusCallback from https://old-tunnel.example.net/twilio/status"
        f" to {STATUS_URL}",
        OVERRIDES_NOTE,
        "run `python -m bot webhooks --apply` to make these changes",
    ]
    apply(twilio, plan)
    [update] = fake_twilio.calls_to("incoming_phone_numbers.update")
    assert update.params == {
        "SmsUrl": SMS_URL,
        "SmsMethod": "POST",
        "StatusCallback": STATUS_URL,
    }
    assert number(fake_twilio, "+15550002222")["status_callback"] == STATUS_URL


@pytest.mark.parametrize(
    "configured",
    [
        BARE_SMS_URL,
        f"{BARE_SMS_URL}#rc=1",
        f"{BARE_SMS_URL}#ct=2000&rt=5000&tt=15000&rc=5&rp=all",
    ],
)
def test_a_sms_url_without_baton_s_overrides_gets_them(
    twilio: Client, fake_twilio: FakeTwilio, configured: str
) -> None:
    fake_twilio.add_number("+15550002222", sms_url=configured)
    plan = plan_webhooks(twilio, "+15550002222", PUBLIC_URL)

    assert report(plan, applied=False).splitlines()[1:] == [
        f"  would set SmsUrl from {configured} to {SMS_URL}",
        OVERRIDES_NOTE,
        "run `python -m bot webhooks --apply` to make these changes",
    ]
    after = apply(twilio, plan)

    [update] = fake_twilio.calls_to("incoming_phone_numbers.update")
    assert update.params == {"SmsUrl": SMS_URL, "SmsMethod": "POST"}
    # Twilio keeps the fragment as given, so the next plan has nothing to change.
    assert number(fake_twilio, "+15550002222")["sms_url"] == SMS_URL
    assert after.changes == ()


def test_sms_method_get_is_changed_to_post(twilio: Client, fake_twilio: FakeTwilio) -> None:
    fake_twilio.add_number("+15550002222", sms_url=SMS_URL)
    sid = number(fake_twilio, "+15550002222")["sid"]
    twilio.incoming_phone_numbers(sid).update(sms_method="GET")

    plan = plan_webhooks(twilio, "+15550002222", PUBLIC_URL)

    assert [c.describe(applied=True) for c in plan.changes] == ["set SmsMethod from GET to POST"]


def test_a_number_not_on_the_account_is_named(twilio: Client) -> None:
    with pytest.raises(NumberNotFound, match=r"\+15550009999 is not on this Twilio account"):
        plan_webhooks(twilio, "+15550009999", PUBLIC_URL)


def test_bad_credentials_surface_as_twilio_401(settings: Settings) -> None:
    twilio = build_client(settings.twilio_account_sid, "wrong-token", settings.twilio_api_url)

    with pytest.raises(TwilioRestException) as raised:
        plan_webhooks(twilio, BUSINESS_NUMBER, PUBLIC_URL)
    assert raised.value.status == 401


# `python -m bot webhooks`


def test_cli_dry_run_prints_the_change_and_changes_nothing(
    settings: Settings, fake_twilio: FakeTwilio
) -> None:
    result = run_bot("webhooks", env=bot_env(settings))

    assert result.returncode == 0, result.stderr
    assert f"would set SmsUrl from (empty) to {SMS_URL}" in result.stdout
    assert "--apply" in result.stdout
    assert number(fake_twilio)["sms_url"] == ""
    assert fake_twilio.calls_to("incoming_phone_numbers.update") == []


def test_cli_apply_changes_the_number_then_has_nothing_to_change(
    settings: Settings, fake_twilio: FakeTwilio
) -> None:
    applied = run_bot("webhooks", "--apply", env=bot_env(settings))

    assert applied.returncode == 0, applied.stderr
    assert f"set SmsUrl from (empty) to {SMS_URL}" in applied.stdout
    assert "would" not in applied.stdout
    assert number(fake_twilio)["sms_url"] == SMS_URL

    again = run_bot("webhooks", "--apply", env=bot_env(settings))

    assert again.returncode == 0, again.stderr
    assert "nothing to change" in again.stdout
    assert len(fake_twilio.calls_to("incoming_phone_numbers.update")) == 1


def test_cli_with_bad_credentials_exits_1_with_one_line(settings: Settings) -> None:
    result = run_bot("webhooks", env=bot_env(settings, TWILIO_AUTH_TOKEN="wrong-token"))

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "baton: Twilio answered HTTP 401: Authenticate "
        "(check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN)"
    ]


def test_cli_for_a_number_not_on_the_account_exits_1(settings: Settings) -> None:
    result = run_bot("webhooks", env=bot_env(settings, TWILIO_PHONE_NUMBER="+15550009999"))

    assert result.returncode == 1
    assert "is not on this Twilio account" in result.stderr
    assert "Traceback" not in result.stderr
