"""In-memory stand-in for Twilio's 2010-04-01 REST API (Messages, IncomingPhoneNumbers).

Point the real client at it by overriding the base URL of its ``api`` domain::

    client = twilio.rest.Client(fake.account_sid, fake.auth_token)
    client.api.base_url = fake.url

This works with twilio 9.13 because ``Client.api`` is created once and cached, and every
resource under it (``client.messages``, ``client.api.v2010.account...``,
``client.incoming_phone_numbers``) builds its URL from ``domain.base_url`` at request time.
Caveat: if TWILIO_REGION or TWILIO_EDGE is set in the environment (or passed to Client), the
client rewrites the hostname of every URL and requests to 127.0.0.1 break; leave them unset.

Responses mirror the shapes in Twilio's OpenAPI description (``api.v2010.account.message`` and
``api.v2010.account.incoming_phone_number``); errors use Twilio's JSON
``{"code", "message", "more_info", "status"}`` so ``TwilioRestException.code`` is meaningful.
Recorded method names: messages.create, messages.fetch, messages.list,
incoming_phone_numbers.list / .create / .fetch / .update, and "unknown" for anything else.
"""

from __future__ import annotations

import base64
import binascii
import copy
import math
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from standins.server import Reply, Request, StandIn, flatten_form, parse_form

DEFAULT_ACCOUNT_SID = "AC" + "ba7011" * 5 + "00"
DEFAULT_AUTH_TOKEN = "baton-test-auth-token"
API_VERSION = "2010-04-01"

_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_MAX_BODY = 1600
# GSM 03.38 basic set, plus the extension-table characters that cost two septets.
_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = "^{}\\[~]|€\f"

_ROUTES = (
    ("GET", re.compile(r"^/2010-04-01/Accounts/(?P<acct>[^/]+)/Messages\.json$"), "messages.list"),
    (
        "POST",
        re.compile(r"^/2010-04-01/Accounts/(?P<acct>[^/]+)/Messages\.json$"),
        "messages.create",
    ),
    (
        "GET",
        re.compile(r"^/2010-04-01/Accounts/(?P<acct>[^/]+)/Messages/(?P<sid>[^/]+)\.json$"),
        "messages.fetch",
    ),
    (
        "GET",
        re.compile(r"^/2010-04-01/Accounts/(?P<acct>[^/]+)/IncomingPhoneNumbers\.json$"),
        "incoming_phone_numbers.list",
    ),
    (
        "POST",
        re.compile(r"^/2010-04-01/Accounts/(?P<acct>[^/]+)/IncomingPhoneNumbers\.json$"),
        "incoming_phone_numbers.create",
    ),
    (
        "GET",
        re.compile(
            r"^/2010-04-01/Accounts/(?P<acct>[^/]+)/IncomingPhoneNumbers/(?P<sid>[^/]+)\.json$"
        ),
        "incoming_phone_numbers.fetch",
    ),
    (
        "POST",
        re.compile(
            r"^/2010-04-01/Accounts/(?P<acct>[^/]+)/IncomingPhoneNumbers/(?P<sid>[^/]+)\.json$"
        ),
        "incoming_phone_numbers.update",
    ),
)

# Form fields IncomingPhoneNumbers update accepts, mapped to resource keys.
_NUMBER_FIELDS = {
    "FriendlyName": "friendly_name",
    "SmsUrl": "sms_url",
    "SmsMethod": "sms_method",
    "SmsFallbackUrl": "sms_fallback_url",
    "SmsFallbackMethod": "sms_fallback_method",
    "StatusCallback": "status_callback",
    "StatusCallbackMethod": "status_callback_method",
    "VoiceUrl": "voice_url",
    "VoiceMethod": "voice_method",
}


def twilio_error(status: int, code: int, message: str) -> Reply:
    """Build a Reply carrying Twilio's error JSON."""
    return Reply(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


def count_segments(body: str) -> int:
    """Return how many SMS segments Twilio would bill for `body` (GSM-7 or UCS-2)."""
    if not body:
        return 1
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in body):
        septets = sum(2 if ch in _GSM_EXTENDED else 1 for ch in body)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


def _now_rfc2822() -> str:
    return datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


class FakeTwilio(StandIn):
    """Twilio REST API stand-in that stores sent messages and phone-number configuration."""

    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host, port)
        self.account_sid = account_sid
        self.auth_token = auth_token
        # Fixtures: survive reset().
        self._numbers: dict[str, dict[str, Any]] = {}
        self._created_hooks: list[Callable[[dict[str, Any]], None]] = []
        self._reset_state()

    def _reset_state(self) -> None:
        self._messages: dict[str, dict[str, Any]] = {}
        self._rejections: dict[str, tuple[int, int, str]] = {}

    # -- fixtures --------------------------------------------------------------------------

    def add_number(
        self, phone_number: str, sms_url: str = "", status_callback: str = ""
    ) -> dict[str, Any]:
        """Register an owned phone number (IncomingPhoneNumber); return the resource."""
        with self._lock:
            return copy.deepcopy(self._create_number(phone_number, sms_url, status_callback))

    def reject_to(
        self,
        number: str,
        code: int = 21610,
        message: str = "Attempt to send to unsubscribed recipient",
        status: int = 400,
    ) -> None:
        """Make every send to `number` fail with this Twilio error until reset()."""
        with self._lock:
            self._rejections[number] = (status, code, message)

    def on_message_created(self, hook: Callable[[dict[str, Any]], None]) -> None:
        """Call hook(message) after each message is created and before Twilio answers the send.

        Real Twilio calls back asynchronously, so a status callback can reach
        the app before the answer to its own send does; a hook reproduces that.
        """
        self._created_hooks.append(hook)

    def _serve(self, request: Request) -> Reply:
        reply = super()._serve(request)
        body = reply.body if isinstance(reply.body, dict) else {}
        if reply.status == 201 and str(body.get("sid", "")).startswith(("SM", "MM")):
            for hook in list(self._created_hooks):
                hook(copy.deepcopy(body))
        return reply

    # -- accessors -------------------------------------------------------------------------

    @property
    def sent(self) -> list[dict[str, Any]]:
        """Return the message resources created so far, oldest first."""
        with self._lock:
            return copy.deepcopy(list(self._messages.values()))

    @property
    def numbers(self) -> list[dict[str, Any]]:
        """Return the IncomingPhoneNumber resources."""
        with self._lock:
            return copy.deepcopy(list(self._numbers.values()))

    # -- request pipeline ------------------------------------------------------------------

    def _parse(self, request: Request) -> tuple[str, dict[str, Any]]:
        method = "unknown"
        for verb, pattern, name in _ROUTES:
            if request.verb == verb and pattern.match(request.path):
                method = name
                break
        params = flatten_form(request.query)
        if request.body:
            # MediaUrl is always a list so callers need not care whether one or many were sent.
            params.update(flatten_form(parse_form(request.body), always_list=("MediaUrl",)))
        return method, params

    def _fault_reply(self, method: str, status: int, body: Any, headers: dict[str, str]) -> Reply:
        if body is not None:
            return Reply(status, body, dict(headers))
        messages = {
            429: "Too Many Requests",
            500: "Internal Server Error",
            502: "Bad Gateway",
            503: "Service Unavailable",
        }
        reply = twilio_error(status, 20000 + status, messages.get(status, "Error"))
        reply.headers.update(headers)
        return reply

    def _authorized(self, request: Request) -> bool:
        scheme, _, encoded = request.header("Authorization").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, _, password = decoded.partition(":")
        return user == self.account_sid and password == self.auth_token

    def _answer(self, method: str, params: dict[str, Any], request: Request) -> Reply:
        if not self._authorized(request):
            reply = twilio_error(401, 20003, "Authenticate")
            reply.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
            return reply
        match = None
        for verb, pattern, name in _ROUTES:
            if name == method and verb == request.verb:
                match = pattern.match(request.path)
        if match is None or match.group("acct") != self.account_sid:
            return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        sid = match.groupdict().get("sid")
        if method == "messages.create":
            return self._create_message(params)
        if method == "messages.fetch":
            found = self._messages.get(sid or "")
            if found is None:
                return twilio_error(
                    404, 20404, f"The requested resource {request.path} was not found"
                )
            return Reply(200, copy.deepcopy(found))
        if method == "messages.list":
            return Reply(200, self._list_messages(params, request))
        if method == "incoming_phone_numbers.list":
            return Reply(200, self._list_numbers(params, request))
        if method == "incoming_phone_numbers.create":
            if not params.get("PhoneNumber"):
                return twilio_error(400, 21421, "PhoneNumber is required.")
            number = self._create_number(params["PhoneNumber"], "", "")
            self._apply_number_fields(number, params)
            return Reply(201, copy.deepcopy(number))
        number = self._numbers.get(sid or "")
        if number is None:
            return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        if method == "incoming_phone_numbers.update":
            self._apply_number_fields(number, params)
        return Reply(200, copy.deepcopy(number))

    # -- messages --------------------------------------------------------------------------

    def _create_message(self, params: dict[str, Any]) -> Reply:
        to = str(params.get("To") or "")
        sender = params.get("From") or None
        service = params.get("MessagingServiceSid") or None
        body = params.get("Body")
        media = [m for m in params.get("MediaUrl", []) if m]
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if sender is None and service is None:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not body and not media and not params.get("ContentSid"):
            return twilio_error(400, 21602, "Message body is required.")
        bare_to = to.removeprefix("whatsapp:")
        if not _E164.match(bare_to):
            return twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if body and len(body) > _MAX_BODY:
            return twilio_error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if to in self._rejections or bare_to in self._rejections:
            status, code, message = self._rejections.get(to) or self._rejections[bare_to]
            return twilio_error(status, code, message)
        sid = _sid("SM")
        now = _now_rfc2822()
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json"
        resource = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body or "",
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender,
            "messaging_service_sid": service,
            "num_media": str(len(media)),
            "num_segments": str(count_segments(body or "")),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {
                "media": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}/Media.json"
            },
            "to": to,
            "uri": uri,
        }
        self._messages[sid] = resource
        return Reply(201, copy.deepcopy(resource))

    def _page(
        self, key: str, items: list[dict[str, Any]], params: dict[str, Any], request: Request
    ) -> dict[str, Any]:
        """Wrap `items` in Twilio's single-page list envelope."""
        page_size = int(params.get("PageSize") or 50)
        query = {k: v for k, v in params.items() if k not in ("Page", "PageSize", "PageToken")}
        first = f"{request.path}?{urlencode({**query, 'PageSize': page_size, 'Page': 0})}"
        shown = items[:page_size]
        return {
            key: copy.deepcopy(shown),
            "end": max(len(shown) - 1, 0),
            "first_page_uri": first,
            "next_page_uri": None,
            "page": 0,
            "page_size": page_size,
            "previous_page_uri": None,
            "start": 0,
            "uri": first,
        }

    def _list_messages(self, params: dict[str, Any], request: Request) -> dict[str, Any]:
        # Twilio lists newest first.
        found = [
            m
            for m in reversed(self._messages.values())
            if (not params.get("To") or m["to"] == params["To"])
            and (not params.get("From") or m["from"] == params["From"])
        ]
        return self._page("messages", found, params, request)

    # -- phone numbers ---------------------------------------------------------------------

    def _create_number(
        self, phone_number: str, sms_url: str, status_callback: str
    ) -> dict[str, Any]:
        sid = _sid("PN")
        now = _now_rfc2822()
        resource = {
            "account_sid": self.account_sid,
            "address_requirements": "none",
            "address_sid": None,
            "api_version": API_VERSION,
            "beta": False,
            "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
            "date_created": now,
            "date_updated": now,
            "emergency_status": "Inactive",
            "friendly_name": phone_number,
            "identity_sid": None,
            "origin": "twilio",
            "phone_number": phone_number,
            "sid": sid,
            "sms_application_sid": "",
            "sms_fallback_method": "POST",
            "sms_fallback_url": "",
            "sms_method": "POST",
            "sms_url": sms_url,
            "status_callback": status_callback,
            "status_callback_method": "POST",
            "trunk_sid": None,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/IncomingPhoneNumbers/{sid}.json",
            "voice_application_sid": "",
            "voice_caller_id_lookup": False,
            "voice_fallback_method": "POST",
            "voice_fallback_url": None,
            "voice_method": "POST",
            "voice_url": None,
            "status": "in-use",
            "type": "local",
        }
        self._numbers[sid] = resource
        return resource

    def _apply_number_fields(self, number: dict[str, Any], params: dict[str, Any]) -> None:
        for field, key in _NUMBER_FIELDS.items():
            if field in params:
                number[key] = params[field]
        number["date_updated"] = _now_rfc2822()

    def _list_numbers(self, params: dict[str, Any], request: Request) -> dict[str, Any]:
        wanted = str(params.get("PhoneNumber") or "")
        # Twilio matches PhoneNumber as a pattern; a digit-substring match is close enough.
        digits = re.sub(r"\D", "", wanted)
        found = [
            n
            for n in self._numbers.values()
            if not digits or digits in re.sub(r"\D", "", n["phone_number"])
        ]
        if params.get("FriendlyName"):
            found = [n for n in found if n["friendly_name"] == params["FriendlyName"]]
        return self._page("incoming_phone_numbers", found, params, request)
