"""People who use Baton, as the tests and the sandbox drive it: a customer's phone, teammates in Slack.

Every action goes through Baton's real HTTP routes with properly signed
requests: Twilio's ``RequestValidator`` for texts, Slack's v0 signature for
events and interactions. A transport carries them: Flask's test client in
tests, ``HttpTransport`` over real HTTP in the sandbox.
"""

from __future__ import annotations

import copy
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator

from standins.server import WAIT
from standins.slack import FakeSlack

PAYLOADS = Path(__file__).parent / "payloads"
PUBLIC_URL = "https://baton.example.com"
BUSINESS_NUMBER = "+15550001111"
ACCOUNT_SID = "AC" + "0" * 31 + "1"
T = TypeVar("T")


def shape(name: str) -> dict[str, Any]:
    """Return a captured Slack payload shape from standins/payloads."""
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def eventually(check: Callable[[], T], timeout: float = WAIT, message: str = "") -> T:
    """Poll check until it returns something truthy, or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message or "condition not met in time")
        time.sleep(0.02)


def new_sid(prefix: str = "SM") -> str:
    """Return a fresh Twilio message SID."""
    return prefix + uuid.uuid4().hex


def inbound_form(
    customer: str,
    business: str,
    body: str,
    *,
    sid: str | None = None,
    media: list[tuple[str, str]] | tuple[()] = (),
) -> dict[str, str]:
    """Return the form Twilio posts to the SMS webhook for an inbound text."""
    sid = sid or new_sid("MM" if media else "SM")
    params = {
        "ToCountry": "US",
        "ToState": "NY",
        "SmsMessageSid": sid,
        "NumMedia": str(len(media)),
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "NY",
        "SmsStatus": "received",
        "FromCity": "NEW YORK",
        "Body": body,
        "FromCountry": "US",
        "To": business,
        "MessagingServiceSid": "",
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": customer,
        "ApiVersion": "2010-04-01",
    }
    for index, (url, content_type) in enumerate(media):
        params[f"MediaUrl{index}"] = url
        params[f"MediaContentType{index}"] = content_type
    return params


class Answer:
    """An HTTP answer, shaped like Flask's test response (status_code, data, get_json)."""

    def __init__(self, status_code: int, data: bytes, mimetype: str) -> None:
        self.status_code = status_code
        self.data = data
        self.mimetype = mimetype

    def get_data(self, as_text: bool = False) -> bytes | str:
        return self.data.decode() if as_text else self.data

    def get_json(self) -> Any:
        return json.loads(self.data) if self.data else None


class HttpTransport:
    """Post to a Baton over real HTTP (the sandbox's way in)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def post(
        self,
        path: str,
        data: str | bytes = b"",
        content_type: str = "application/x-www-form-urlencoded",
        headers: dict[str, str] | None = None,
    ) -> Answer:
        body = data.encode() if isinstance(data, str) else data
        request = urllib.request.Request(
            self.base_url + path,
            data=body,
            headers={"Content-Type": content_type, **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return Answer(response.status, response.read(), response.headers.get_content_type())
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.read(), error.headers.get_content_type())


class Customer:
    """A customer's phone: texts the business through Twilio's signed webhook."""

    def __init__(
        self, client: Any, number: str, *, auth_token: str, business_number: str = BUSINESS_NUMBER
    ) -> None:
        self.client = client
        self.number = number
        self.business_number = business_number
        self.validator = RequestValidator(auth_token)

    def post(self, path: str, params: dict[str, str], *, signature: str | None = None) -> Any:
        """POST form params to a Twilio route, signed unless a signature is given."""
        url = f"{PUBLIC_URL}{path}"
        if signature is None:
            signature = self.validator.compute_signature(url, params)
        return self.client.post(
            path,
            data=urlencode(params),
            content_type="application/x-www-form-urlencoded",
            headers={"X-Twilio-Signature": signature},
        )

    def sms_params(
        self, body: str, *, sid: str | None = None, media: list[tuple[str, str]] = ()
    ) -> dict[str, str]:
        """Return the form Twilio posts for a text from this customer."""
        return inbound_form(self.number, self.business_number, body, sid=sid, media=media)

    def texts(self, body: str, **kwargs: Any) -> Any:
        """Send a text to the business; return Baton's HTTP response."""
        return self.post("/twilio/sms", self.sms_params(body, **kwargs))

    def status(self, sid: str, status: str, error_code: int | None = None) -> Any:
        """Send Twilio's status callback for a text Baton sent to this customer."""
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "To": self.number,
            "From": self.business_number,
            "AccountSid": ACCOUNT_SID,
            "ApiVersion": "2010-04-01",
        }
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        return self.post("/twilio/status", params)


class Teammate:
    """A person in Slack: types in threads and clicks Baton's buttons."""

    def __init__(
        self,
        client: Any,
        slack: FakeSlack,
        baton: Any,
        user_id: str,
        *,
        signing_secret: str,
    ) -> None:
        self.client = client
        self.slack = slack
        self.baton = baton
        self.user = user_id
        self.verifier = SignatureVerifier(signing_secret)
        self.response_urls: list[str] = []  # of this person's clicks, where Baton may answer

    def _signed_post(
        self, body: str, content_type: str, headers: dict[str, str] | None = None
    ) -> Any:
        timestamp = str(int(time.time()))
        signature = self.verifier.generate_signature(timestamp=timestamp, body=body)
        return self.client.post(
            "/slack/events",
            data=body,
            content_type=content_type,
            headers={
                "X-Slack-Request-Timestamp": timestamp,
                "X-Slack-Signature": signature,
                **(headers or {}),
            },
        )

    def send_event(self, payload: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        """POST an Events API callback, signed."""
        return self._signed_post(json.dumps(payload), "application/json", headers)

    def send_interaction(self, payload: dict[str, Any]) -> Any:
        """POST an interactivity payload (form field payload=JSON), signed."""
        return self._signed_post(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
        )

    def card_of(self, number: int) -> tuple[str, str]:
        """Return (channel, ts) of conversation number's card, waiting for it to be posted.

        And for Baton to have recorded it: the delivery worker does that a moment after
        Slack has the post, and until then a reply in its thread finds no conversation.
        """

        def posted() -> tuple[str, str] | None:
            # The live card is the newest top-level post whose metadata names the
            # conversation and that still has buttons (a moved card has none).
            for message in reversed(self.slack.messages()):
                meta = message.get("metadata") or {}
                if (
                    meta.get("event_type") == "baton_card"
                    and (meta.get("event_payload") or {}).get("conversation") == number
                    and any(b.get("type") == "actions" for b in message.get("blocks") or [])
                ):
                    return message["channel"], message["ts"]
            return None

        channel, ts = eventually(posted, message=f"card of #{number} was never posted")

        def recorded() -> bool:
            conv = self.baton.conversations.get(number)
            return conv is not None and conv.card_ts == ts

        eventually(recorded, message=f"card of #{number} was posted but never recorded")
        return channel, ts

    def says(
        self,
        number: int,
        text: str,
        *,
        subtype: str | None = None,
        files: list[dict[str, Any]] | None = None,
        event_id: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        thread: tuple[str, str] | None = None,
    ) -> tuple[str, Any]:
        """Write text in conversation number's thread; return (message ts, HTTP response).

        thread (channel, card ts) names a thread whose card has no buttons any more
        (moved or erased), which card_of does not find.
        """
        channel, card_ts = thread or self.card_of(number)
        ts = self.slack.add_message(channel, text, user=self.user, thread_ts=card_ts)
        payload = copy.deepcopy(shape("message_event"))
        event = payload["event"]
        event.update(
            text=text,
            user=self.user,
            ts=ts,
            event_ts=ts,
            thread_ts=card_ts,
            channel=channel,
            client_msg_id=str(uuid.uuid4()),
        )
        if subtype:
            event["subtype"] = subtype
        if files:
            event["files"] = files
        event.update(extra or {})
        payload["event_id"] = event_id or f"Ev{uuid.uuid4().hex[:12].upper()}"
        return ts, self.send_event(payload, headers)

    def clicks(
        self,
        action_id: str,
        value: str,
        *,
        channel: str = "C0123GENERAL",
        thread_ts: str | None = None,
        **extra: Any,
    ) -> Any:
        """Click a button with action_id and value in channel (in thread thread_ts, if given)."""
        payload = copy.deepcopy(shape("block_actions"))
        payload["user"] = {"id": self.user, "username": self.user.lower(), "team_id": "T0BATON"}
        payload["channel"] = {"id": channel, "name": "general"}
        payload["container"]["channel_id"] = channel
        payload["response_url"] = f"{self.slack.url}/respond/{uuid.uuid4().hex[:8]}"
        payload["actions"][0].update(action_id=action_id, value=value)
        if thread_ts:
            payload["container"]["thread_ts"] = thread_ts
        payload.update(extra)
        if payload.get("response_url"):
            self.response_urls.append(payload["response_url"])
        return self.send_interaction(payload)

    def clicks_with(
        self,
        action_id: str,
        action: dict[str, Any],
        *,
        channel: str = "C0123GENERAL",
        response_url: str | None = None,
    ) -> Any:
        """Use an interactive element other than a plain button (an overflow menu…)."""
        payload = copy.deepcopy(shape("block_actions"))
        payload["user"] = {"id": self.user, "username": self.user.lower(), "team_id": "T0BATON"}
        payload["channel"] = {"id": channel, "name": "general"}
        payload["response_url"] = response_url or f"{self.slack.url}/respond/{uuid.uuid4().hex[:8]}"
        payload["actions"] = [
            {"block_id": "card", "action_ts": "1700000050.1", **action, "action_id": action_id}
        ]
        self.response_urls.append(payload["response_url"])
        return self.send_interaction(payload)

    def ephemerals(self) -> list[dict[str, Any]]:
        """Return the notes only this person saw: ephemeral posts, then answers to their clicks.

        An answer through a click's response URL has "response_url" (Slack shows it
        where the click was); an ephemeral post has "channel" and "thread_ts".
        """
        posted = [e for e in self.slack.ephemerals if e.get("user") == self.user]
        paths = {url.removeprefix(self.slack.url): url for url in self.response_urls}
        answered = [
            {**call.params, "response_url": paths[call.path]}
            for call in self.slack.calls
            if call.path in paths
        ]
        return posted + answered

    def runs(self, text: str) -> dict[str, Any]:
        """Run the slash command with text; return Baton's (ephemeral) answer."""
        hook = f"/respond/{uuid.uuid4().hex[:10]}"
        body = urlencode(command_payload(self.user, text, f"{self.slack.url}{hook}"))
        response = self._signed_post(body, "application/x-www-form-urlencoded")
        assert response.status_code == 200, response.status_code
        calls = eventually(
            lambda: [c for c in self.slack.calls if c.path == hook],
            message=f"no answer to {text!r}",
        )
        return calls[0].params

    def picks_in_view(self, action_id: str, action: dict[str, Any], view: dict[str, Any]) -> Any:
        """Use an element inside an open modal (block_actions from a view)."""
        payload = {
            "type": "block_actions",
            "user": {"id": self.user, "username": self.user.lower(), "team_id": "T0BATON"},
            "api_app_id": "A0BATON",
            "token": "verification-token-unused",
            "container": {"type": "view", "view_id": view.get("id", "V0")},
            "trigger_id": "1234567890.123456789.abcdef",
            "team": {"id": "T0BATON", "domain": "baton-test"},
            "view": view,
            "actions": [{"action_ts": "1700000050.1", **action, "action_id": action_id}],
        }
        return self.send_interaction(payload)

    def submits_view(self, view: dict[str, Any], values: dict[str, Any]) -> Any:
        """Submit a modal Baton opened, with these input values."""
        submitted = {
            **view,
            "id": view.get("id", "V0SUBMIT"),
            "team_id": "T0BATON",
            "app_id": "A0BATON",
        }
        submitted["state"] = {"values": values}
        payload = {
            "type": "view_submission",
            "team": {"id": "T0BATON", "domain": "baton-test"},
            "user": {"id": self.user, "username": self.user.lower(), "team_id": "T0BATON"},
            "api_app_id": "A0BATON",
            "token": "verification-token-unused",
            "trigger_id": "1234567890.123456789.abcdef",
            "view": submitted,
            "response_urls": [],
        }
        return self.send_interaction(payload)

    def submits_handoff(self, number: int, to: str, note: str, message: str | None = None) -> Any:
        """Submit the Hand off modal for conversation number."""
        from bot import views  # the modal as Baton opens it

        view = views.handoff_modal(self.baton.conversations.get(number))
        view.update(id="V0HANDOFF", hash="1.abc")
        return self.submits_view(
            view,
            {
                "owner": {"owner": {"type": "users_select", "selected_user": to}},
                "note": {"note": {"type": "plain_text_input", "value": note}},
                "customer": {"message": {"type": "plain_text_input", "value": message}},
            },
        )

    def uses_shortcut(self, callback_id: str, channel: str, message: dict[str, Any]) -> Any:
        """Run a message shortcut on message in channel."""
        payload = {
            "type": "message_action",
            "callback_id": callback_id,
            "trigger_id": "1234567890.123456789.abcdef",
            "team": {"id": "T0BATON", "domain": "baton-test"},
            "user": {"id": self.user, "name": self.user.lower()},
            "channel": {"id": channel, "name": "general"},
            "message": message,
            "message_ts": message["ts"],
            "response_url": f"{self.slack.url}/respond/{uuid.uuid4().hex[:10]}",
            "token": "verification-token-unused",
        }
        return self.send_interaction(payload)

    def opens_home(self) -> Any:
        """Open Baton's Home tab."""
        payload = copy.deepcopy(shape("message_event"))
        payload["event"] = {
            "type": "app_home_opened",
            "user": self.user,
            "channel": f"D{self.user}",
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        }
        payload["event_id"] = f"Ev{uuid.uuid4().hex[:12].upper()}"
        return self.send_event(payload)


def command_payload(
    user: str, text: str, response_url: str, command: str = "/sms"
) -> dict[str, str]:
    """Return the form Slack posts for a slash command."""
    return {
        "token": "verification-token-unused",
        "team_id": "T0BATON",
        "team_domain": "baton-test",
        "channel_id": "C0123GENERAL",
        "channel_name": "general",
        "user_id": user,
        "user_name": user.lower(),
        "command": command,
        "text": text,
        "api_app_id": "A0BATON",
        "response_url": response_url,
        "trigger_id": "1234567890.123456789.abcdef",
    }
