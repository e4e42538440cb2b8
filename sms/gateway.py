"""The one way Baton sends a text: Twilio's Messages API."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from sms.failures import SmsFailed, SmsUnavailable
from sms.numbers import mask

logger = logging.getLogger(__name__)

# How far before a send to look for it in Twilio's log: clocks differ a little,
# and Twilio's DateSent filter is by day, so the exact time is checked here.
LOOKUP_SLACK = 120.0

# Reasons people can act on, for the Twilio error codes a team meets most.
TWILIO_ERRORS = {
    21211: "the number is not a valid phone number",
    21408: "texting this country is not enabled on the Twilio account",
    21610: "the customer has opted out (replied STOP); they must text START first",
    21612: "Twilio cannot route a text between these two numbers",
    21614: "the number cannot receive texts (not a mobile number)",
    21617: "the text is longer than 1,600 characters",
    30003: "the customer's phone is unreachable (off or out of coverage)",
    30004: "the customer's phone blocked the text",
    30005: "the number does not exist or is no longer in service",
    30006: "the number is a landline or cannot receive texts",
    30007: "the carrier filtered the text as spam",
    30008: "the carrier reported an unknown error",
    30032: "the sending number is not verified for toll-free texting",
    30034: "the sending number is not registered for A2P 10DLC",
}


def describe_error(code: int | None, fallback: str = "Twilio refused the text") -> str:
    """Return a sentence for a Twilio error code."""
    if code is None:
        return fallback
    return f"{TWILIO_ERRORS.get(code, fallback)} (Twilio error {code})"


@dataclass(frozen=True)
class SentSms:
    """The message SID Twilio gave a text it accepted."""

    sid: str


def build_client(account_sid: str, auth_token: str, api_url: str) -> Client:
    """Return a Twilio client whose REST calls go to api_url, with a request timeout."""
    client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=15))
    client.api.base_url = api_url.rstrip("/")
    return client


class SmsGateway:
    """Send texts from the business number through Twilio."""

    def __init__(
        self,
        client: Client,
        *,
        default_from: str | None,
        messaging_service_sid: str | None = None,
        status_callback: str | None = None,
    ) -> None:
        self.client = client
        self.default_from = default_from
        self.messaging_service_sid = messaging_service_sid
        self.status_callback = status_callback

    def send(self, to: str, body: str, *, from_: str | None = None) -> SentSms:
        """Send body to the customer, from from_ (the conversation's number) or the default."""
        params: dict[str, str] = {"to": to, "body": body}
        sender = from_ or self.default_from
        if sender:
            params["from_"] = sender
        else:
            params["messaging_service_sid"] = self.messaging_service_sid or ""
        if self.status_callback:
            params["status_callback"] = self.status_callback
        try:
            message = self.client.messages.create(**params)
        except TwilioRestException as exc:
            logger.warning("twilio refused text to %s: %s %s", mask(to), exc.status, exc.code)
            if exc.status >= 500 or exc.status == 429:
                raise SmsUnavailable(
                    f"Twilio is unavailable right now (HTTP {exc.status}); try again in a minute",
                    exc.code,
                ) from exc
            raise SmsFailed(
                describe_error(exc.code, exc.msg or "Twilio refused the text"), exc.code
            ) from exc
        except TwilioException as exc:
            logger.warning("twilio unreachable sending to %s: %s", mask(to), exc)
            raise SmsUnavailable(
                "Twilio could not be reached; the text was not sent, try again in a minute"
            ) from exc
        segments = int(message.num_segments or 1)
        logger.info("texted %s: %s, %d segment(s)", mask(to), message.sid, segments)
        return SentSms(sid=message.sid)

    def find_sent(
        self, to: str, body: str, *, from_: str | None, since: float, known: set[str]
    ) -> SentSms | None:
        """Return a text to `to` with this body that Twilio created since `since`, if any.

        Looks in Twilio's own message log, so a send whose answer was lost (a
        timeout, a crash) is found instead of sent again. known are the sids
        already accounted for: they are never taken for this text.
        """
        after = datetime.fromtimestamp(since - LOOKUP_SLACK, UTC)
        params: dict[str, Any] = {"to": to, "date_sent_after": after, "page_size": 50, "limit": 50}
        sender = from_ or self.default_from
        if sender:
            params["from_"] = sender
        try:
            messages = self.client.messages.list(**params)
        except TwilioRestException as exc:
            raise SmsUnavailable(
                f"Twilio's message log did not answer (HTTP {exc.status})"
            ) from exc
        except TwilioException as exc:
            raise SmsUnavailable("Twilio's message log could not be reached") from exc
        for message in messages:
            created = message.date_created
            if message.sid in known or message.body != body:
                continue
            if created is not None and created.timestamp() < since - LOOKUP_SLACK:
                continue
            return SentSms(sid=message.sid)
        return None
