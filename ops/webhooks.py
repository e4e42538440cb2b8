"""Point the business number's Twilio webhooks at this deployment (dry run unless applied)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client
from twilio.rest.api.v2010.account.incoming_phone_number import IncomingPhoneNumberInstance

from sms.overrides import RETRIES

SMS_PATH = "/twilio/sms"
STATUS_PATH = "/twilio/status"


class NumberNotFound(LookupError):
    """The business number is not among the Twilio account's IncomingPhoneNumbers."""


@dataclass(frozen=True)
class Change:
    """One IncomingPhoneNumber field (named as Twilio's API names it) and its new value."""

    field: str
    current: str
    wanted: str

    def describe(self, *, applied: bool) -> str:
        """Return "would set X from A to B" (or "set …" once applied)."""
        verb = "set" if applied else "would set"
        return f"{verb} {self.field} from {_shown(self.current)} to {_shown(self.wanted)}"


@dataclass(frozen=True)
class Plan:
    """What the number's messaging webhooks are, and what Baton needs them to be."""

    phone_number: str
    sid: str
    public_url: str
    sms_url: str
    sms_method: str
    status_callback: str
    wanted_sms_url: str
    wanted_status_callback: str
    # A TwiML app on the number takes its texts instead of SmsUrl.
    sms_application_sid: str = ""

    @property
    def changes(self) -> tuple[Change, ...]:
        """Return the fields that differ from what Baton needs, in the order they are set."""
        pairs = (
            ("SmsUrl", self.sms_url, self.wanted_sms_url),
            ("SmsMethod", self.sms_method, "POST"),
            ("StatusCallback", self.status_callback, self.wanted_status_callback),
        )
        return tuple(Change(f, now, want) for f, now, want in pairs if now != want)


def _shown(value: str) -> str:
    return value if value else "(empty)"


def wanted_urls(public_url: str) -> tuple[str, str]:
    """Return the SmsUrl and StatusCallback URLs Baton serves under public_url.

    The SmsUrl carries the connection overrides that make Twilio retry a text
    Baton could not store (sms.overrides.RETRIES). The StatusCallback stays bare:
    Baton names its own, also bare, on every text it sends.
    """
    base = public_url.rstrip("/")
    return RETRIES.on(base + SMS_PATH), base + STATUS_PATH


def _as_rest_error(exc: TwilioException) -> TwilioException:
    # Listing wraps a refusal in TwilioException("Unable to fetch page", response)
    # instead of TwilioRestException; unwrap it so callers see the status and code.
    response = exc.args[1] if len(exc.args) > 1 else None
    status = getattr(response, "status_code", None)
    if isinstance(exc, TwilioRestException) or status is None:
        return exc
    try:
        body = json.loads(response.text)
    except (TypeError, ValueError):
        body = None
    if not isinstance(body, dict):
        body = {}
    return TwilioRestException(
        status,
        "IncomingPhoneNumbers.json",
        msg=body.get("message", "Unable to fetch page"),
        code=body.get("code"),
    )


def find_number(twilio: Client, phone_number: str) -> IncomingPhoneNumberInstance | None:
    """Return the account's IncomingPhoneNumber for phone_number, or None."""
    try:
        # Twilio matches PhoneNumber as a pattern, so keep only the exact number.
        found = twilio.incoming_phone_numbers.list(phone_number=phone_number, limit=20)
    except TwilioException as exc:
        refusal = _as_rest_error(exc)
        if refusal is exc:
            raise
        raise refusal from exc
    return next((n for n in found if n.phone_number == phone_number), None)


def plan_for(number: IncomingPhoneNumberInstance, public_url: str) -> Plan:
    """Return the plan for a number already fetched from Twilio."""
    sms_url, status_url = wanted_urls(public_url)
    status_callback = number.status_callback or ""
    return Plan(
        phone_number=number.phone_number or "",
        sid=number.sid or "",
        public_url=public_url.rstrip("/"),
        sms_url=number.sms_url or "",
        sms_method=(number.sms_method or "POST").upper(),
        status_callback=status_callback,
        wanted_sms_url=sms_url,
        # Baton names its status callback on every text it sends, so an empty
        # number-level StatusCallback is fine and is left empty; only one that
        # points elsewhere (an old deployment's URL) is replaced.
        wanted_status_callback=status_callback
        if status_callback in ("", status_url)
        else status_url,
        sms_application_sid=number.sms_application_sid or "",
    )


def plan_webhooks(twilio: Client, phone_number: str, public_url: str) -> Plan:
    """Compare the number's SmsUrl, SmsMethod and StatusCallback with what Baton needs."""
    number = find_number(twilio, phone_number)
    if number is None:
        raise NumberNotFound(
            f"{phone_number} is not on this Twilio account: set TWILIO_PHONE_NUMBER to one of "
            "the account's numbers (Twilio console → Phone Numbers → Active numbers)"
        )
    return plan_for(number, public_url)


def apply(twilio: Client, plan: Plan) -> Plan:
    """Update the number so its fields match the plan; return the plan as Twilio now reports it."""
    if not plan.changes:
        return plan
    fields = {"sms_url": plan.wanted_sms_url, "sms_method": "POST"}
    # An empty StatusCallback stays untouched: Twilio need not validate a blank URL.
    if plan.status_callback != plan.wanted_status_callback:
        fields["status_callback"] = plan.wanted_status_callback
    updated = twilio.incoming_phone_numbers(plan.sid).update(**fields)
    return plan_for(updated, plan.public_url)


def report(plan: Plan, *, applied: bool) -> str:
    """Return what changed (or would change) on the number, one line each."""
    lines = [f"{plan.phone_number} ({plan.sid}):"]
    if not plan.changes:
        lines.append(
            f"  nothing to change: texts go to {plan.wanted_sms_url} (POST)"
            + (f", status callbacks to {plan.status_callback}" if plan.status_callback else "")
        )
    lines += [f"  {change.describe(applied=applied)}" for change in plan.changes]
    if any(change.field == "SmsUrl" for change in plan.changes):
        lines.append(
            "  the part after # is Twilio's connection overrides: they ask Twilio to retry "
            "a text Baton could not store"
        )
    if plan.sms_application_sid:
        lines.append(
            f"  note: TwiML app {plan.sms_application_sid} is set on the number and takes its "
            "texts instead of SmsUrl; remove it in the Twilio console (Messaging configuration)"
        )
    if plan.changes and not applied:
        lines.append("run `python -m bot webhooks --apply` to make these changes")
    return "\n".join(lines)
