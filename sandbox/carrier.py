"""The phone side of the sandbox: customers' phones, and the carrier network behind Twilio.

Texts typed on a phone go to Baton's /twilio/sms as Twilio would post them.
Each text Baton sends (through the fake Twilio API) reaches the phone, and the
carrier reports it back to Baton's status callback, "sent" then "delivered",
like Twilio does; a phone switched to "unreachable" makes the carrier report
"undelivered" with Twilio's error 30003.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from sms.numbers import InvalidNumber, display, normalise
from standins import FakeTwilio
from standins.actors import Customer, HttpTransport

UNREACHABLE_CODE = 30003
TWIML_MESSAGE = re.compile(r"<Message(?:\s[^>]*)?>(.*?)</Message>", re.DOTALL)


@dataclass
class Text:
    """One text as the customer's phone shows it."""

    id: int
    number: str
    direction: str  # "in": the customer texted the business; "out": the business texted them
    body: str
    at: float
    status: str
    sid: str = ""
    note: str = ""


class PhoneNumberError(ValueError):
    """The visitor typed something that is not a phone number."""


def phone_number(text: str, region: str = "US") -> str:
    """Return text as an E.164 number, or raise PhoneNumberError saying what is wrong."""
    try:
        return normalise(text.strip(), region, strict=False)
    except InvalidNumber:
        raise PhoneNumberError(
            f"{text.strip() or 'That'} is not a phone number; try +1 212-736-5000."
        ) from None


def _unescape(xml: str) -> str:
    return (
        xml.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&apos;", "'")
        .replace("&amp;", "&")
    )


class Phones:
    """Every customer phone in the sandbox, and the carrier that delivers texts to them."""

    def __init__(
        self,
        twilio: FakeTwilio,
        baton_url: str,
        business_number: str,
        numbers: tuple[str, ...] = (),
        *,
        status_delay: float = 0.4,
    ) -> None:
        self.twilio = twilio
        self.transport = HttpTransport(baton_url)
        self.business_number = business_number
        self.status_delay = status_delay
        self._lock = threading.Lock()
        self._numbers: list[str] = list(numbers)
        self._texts: list[Text] = []
        self._unreachable: set[str] = set()
        self._ids = 0
        # Baton's sends already shown, and status callbacks still to post: (when, sid, status).
        self._base = self._seen = len(twilio.sent)
        self._first_call = len(twilio.calls_to("messages.create"))
        self._due: list[tuple[float, str, str, str]] = []

    # -- the customer's side -----------------------------------------------------------------

    def customer(self, number: str) -> Customer:
        """Return the customer actor for a phone number, posting to Baton over HTTP."""
        return Customer(
            self.transport,
            number,
            auth_token=self.twilio.auth_token,
            business_number=self.business_number,
        )

    def text(self, number: str, body: str) -> Text:
        """Send a text from a customer's phone to the business; return it as the phone shows it."""
        number = phone_number(number)
        self._remember(number)
        answer = self.customer(number).texts(body)
        ok = answer.status_code == 200
        sent = self._add(
            number,
            "in",
            body,
            "sent" if ok else "failed",
            note="" if ok else f"Baton answered {answer.status_code}",
        )
        # An automatic reply comes back in the TwiML answer; Twilio texts it to the phone.
        if ok and answer.mimetype.endswith("xml"):
            for reply in TWIML_MESSAGE.findall(answer.get_data(as_text=True)):
                self._add(number, "out", _unescape(reply), "delivered", note="automatic reply")
        return sent

    def set_unreachable(self, number: str, unreachable: bool) -> None:
        """Switch a phone off (texts to it fail) or back on."""
        number = phone_number(number)
        self._remember(number)
        with self._lock:
            if unreachable:
                self._unreachable.add(number)
            else:
                self._unreachable.discard(number)

    # -- the carrier ---------------------------------------------------------------------------

    def tick(self) -> None:
        """Deliver the texts Baton sent since the last tick and post the status callbacks due."""
        sent = self.twilio.sent
        # The n-th successful create is the n-th message: both are recorded under one lock.
        creates = self.twilio.calls_to("messages.create")[self._first_call :]
        created = [c for c in creates if c.status == 201]
        now = time.time()
        while self._seen < len(sent):
            message = sent[self._seen]
            index = self._seen - self._base
            call = created[index] if index < len(created) else None
            self._seen += 1
            number = message["to"]
            self._remember(number)
            self._add(number, "out", message["body"], "queued", sid=message["sid"])
            callback = (call.params.get("StatusCallback") or "") if call else ""
            with self._lock:
                final = "undelivered" if number in self._unreachable else "delivered"
            for step, status in enumerate(("sent", final), start=1):
                self._due.append((now + step * self.status_delay, message["sid"], status, callback))
        for entry in [d for d in self._due if d[0] <= now]:
            self._due.remove(entry)
            _, sid, status, callback = entry
            self._report(sid, status, callback)

    def _report(self, sid: str, status: str, callback: str) -> None:
        with self._lock:
            text = next((t for t in self._texts if t.sid == sid), None)
            if text is None:
                return
            text.status = status
            if status == "undelivered":
                text.note = f"phone unreachable (Twilio error {UNREACHABLE_CODE})"
        # Twilio calls back only when the send asked for it, and only at that URL's path.
        if not callback or urlsplit(callback).path != "/twilio/status":
            return
        code = UNREACHABLE_CODE if status == "undelivered" else None
        answer = self.customer(text.number).status(sid, status, error_code=code)
        if answer.status_code >= 300:
            with self._lock:
                text.note = f"status callback refused: {answer.status_code}"

    # -- what the page shows -------------------------------------------------------------------

    def view(self) -> dict[str, Any]:
        """Return every phone and its texts, for the page."""
        with self._lock:
            return {
                "business": {
                    "number": self.business_number,
                    "label": display(self.business_number),
                },
                "numbers": [
                    {"number": n, "label": display(n), "unreachable": n in self._unreachable}
                    for n in self._numbers
                ],
                "texts": [asdict(t) for t in self._texts],
            }

    def texts(self, number: str | None = None) -> list[Text]:
        """Return the texts of one phone (or all), oldest first."""
        with self._lock:
            return [Text(**asdict(t)) for t in self._texts if number in (None, t.number)]

    def snapshot(self) -> dict[str, Any]:
        """Return what a restart needs to show the same phones."""
        with self._lock:
            return {
                "numbers": list(self._numbers),
                "texts": [asdict(t) for t in self._texts],
                "unreachable": sorted(self._unreachable),
            }

    def restore(self, saved: dict[str, Any]) -> None:
        """Show the phones as a previous run left them."""
        with self._lock:
            for number in saved.get("numbers", []):
                if number not in self._numbers:
                    self._numbers.append(number)
            self._texts = [Text(**t) for t in saved.get("texts", [])]
            for text in self._texts:
                # A callback lost to the shutdown will never come; say where it got to.
                if text.status == "queued":
                    text.status = "sent"
            self._ids = max((t.id for t in self._texts), default=0)
            self._unreachable = set(saved.get("unreachable", []))

    def _remember(self, number: str) -> None:
        with self._lock:
            if number not in self._numbers:
                self._numbers.append(number)

    def _add(
        self, number: str, direction: str, body: str, status: str, *, sid: str = "", note: str = ""
    ) -> Text:
        with self._lock:
            self._ids += 1
            text = Text(self._ids, number, direction, body, time.time(), status, sid, note)
            self._texts.append(text)
            return text
