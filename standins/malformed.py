"""Malformed requests, as a broken or hostile client sends them, for every route Baton serves.

A Fuzzer starts from the shapes Baton expects (Twilio's inbound text and status callback;
Slack's thread message, Home tab, button clicks, message shortcut, form submissions and
slash command; the health check and metrics) and bends them: fields dropped, retyped or
emptied, odd values (``²`` passes ``str.isdigit()`` and fails ``int()``), deep nesting,
bodies truncated, not UTF-8 or not an object, headers missing or odd. About half of the
requests are signed properly, so they reach the code behind the signature check.

The tests drive it with hypothesis (tests/handlers/test_fuzz.py), the bench with a seeded
``random.Random`` (bench/fuzz.py).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from random import Random
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator

from standins.actors import command_payload, inbound_form, new_sid, shape

Json = Any

# Strings that look like what a field holds, or nearly: the digits str.isdigit() accepts
# and int() refuses, numbers too long for int(), control characters, a phone number.
ODD_STRINGS = [
    "",
    " ",
    "0",
    "-1",
    "1.5",
    "1e3",
    "²",
    "\u0661\u0662",
    "#1",
    "9" * 5000,
    "99999999999",
    "+15551234567",
    "not a number",
    "line one\nINFO forged line",
    "\r\n",
    "\x00",
    "\x1b[31mred",
    "é",
    "💥",
    "%zz",
    "{",
    "null",
    "U0ALEX",
    "C0123GENERAL",
    "1700000000.000100",
    "x" * 3000,
]
ODD_VALUES: list[Json] = [
    *ODD_STRINGS,
    None,
    True,
    False,
    0,
    1,
    -1,
    1.5,
    2**70,
    float("nan"),
    [],
    {},
    [None],
    [[]],
    {"id": None},
    {"": ""},
]
# Encoded depth of the nesting a bent value may carry (10,000 lists inside one another).
DEPTHS = (50, 1000, 10_000)
SIGNED_SHARE = 0.5


@dataclass(frozen=True)
class Request:
    """One request to send: method, path (and query), headers, raw body, and how it was bent."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    what: str
    signed: bool


@dataclass(frozen=True)
class Target:
    """What the requests aim at: a conversation whose card is in channel at card_ts."""

    channel: str = "C0123GENERAL"
    card_ts: str = "1700000000.000100"
    number: int = 1
    user: str = "U0ALEX"
    response_url: str = "http://127.0.0.1:9/respond"  # the Slack stand-in's, in a test


class Deep:
    """A value that encodes as `depth` JSON lists nested inside one another."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.marker = f"__deep_{id(self)}__"


def encode(value: Json) -> str:
    """Return value as JSON text, with each Deep as its nesting (json.dumps would recurse)."""
    deep: list[Deep] = []

    def swap(node: Json) -> Json:
        if isinstance(node, Deep):
            deep.append(node)
            return node.marker
        if isinstance(node, dict):
            return {k: swap(v) for k, v in node.items()}
        if isinstance(node, list):
            return [swap(v) for v in node]
        return node

    text = json.dumps(swap(value), ensure_ascii=False)
    for node in deep:
        text = text.replace(json.dumps(node.marker), "[" * node.depth + "]" * node.depth)
    return text


def odd_value(rng: Random) -> Json:
    """Return a value of the wrong type, the wrong form, or deeply nested."""
    if rng.random() < 0.05:
        return Deep(rng.choice(DEPTHS))
    return copy.deepcopy(rng.choice(ODD_VALUES))


def _paths(node: Json, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((*prefix, key))
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.append((*prefix, index))
            found += _paths(value, (*prefix, index))
    return found


def _at(node: Json, path: tuple[Any, ...]) -> Json:
    for step in path:
        node = node[step]
    return node


def _name(path: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


# Other payload and event types, some of which Bolt reads more of (workflow steps, attachments).
PAYLOAD_TYPES = [
    "block_actions",
    "view_submission",
    "view_closed",
    "message_action",
    "shortcut",
    "interactive_message",
    "workflow_step_edit",
    "block_suggestion",
    "dialog_submission",
    "dialog_suggestion",
    "dialog_cancellation",
    "event_callback",
    "url_verification",
    "ssl_check",
]
EVENT_TYPES = [
    "message",
    "app_home_opened",
    "app_mention",
    "workflow_step_execute",
    "function_executed",
    "app_uninstalled",
    "tokens_revoked",
    "assistant_thread_started",
    "member_joined_channel",
]


def bend(rng: Random, tree: dict[str, Json], times: int) -> list[str]:
    """Bend tree in place `times` times (drop, retype, empty or add a field); say how."""
    said = []
    if rng.random() < 0.15:
        tree["type"] = rng.choice(PAYLOAD_TYPES)
        said.append(f"type={tree['type']}")
    for name, types in (("event", EVENT_TYPES), ("view", ["workflow_step", "home"])):
        if isinstance(tree.get(name), dict) and rng.random() < 0.15:
            tree[name]["type"] = rng.choice(types)
            said.append(f"{name}.type={tree[name]['type']}")
    for _ in range(times):
        paths = _paths(tree)
        if not paths:
            break
        path = rng.choice(paths)
        parent, key = _at(tree, path[:-1]), path[-1]
        how = rng.random()
        if how < 0.25:
            del parent[key]
            said.append(f"{_name(path)} dropped")
        elif how < 0.85:
            value = odd_value(rng)
            parent[key] = value
            shown = f"deep {value.depth}" if isinstance(value, Deep) else repr(value)[:24]
            said.append(f"{_name(path)}={shown}")
        elif how < 0.93:
            parent[key] = type(parent[key])() if isinstance(parent[key], list | dict) else ""
            said.append(f"{_name(path)} emptied")
        elif isinstance(parent, dict):
            name = rng.choice(["payload", "type", "event", "view", "actions", "user", "x\n"])
            parent[name] = odd_value(rng)
            said.append(f"{_name((*path[:-1], name))} added")
    return said


def _truncate(rng: Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))] if data else data


def _not_utf8(rng: Random, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80"]) + data[at:]


class Fuzzer:
    """Make malformed requests for every route, signed with the secrets the app under test uses."""

    def __init__(
        self,
        *,
        slack_signing_secret: str,
        twilio_auth_token: str,
        public_url: str,
        business_number: str,
        target: Target | None = None,
        oversized_share: float = 0.002,
    ) -> None:
        self.slack = SignatureVerifier(slack_signing_secret)
        self.slack_secret = slack_signing_secret.encode()
        self.twilio = RequestValidator(twilio_auth_token)
        self.public_url = public_url
        self.business_number = business_number
        self.target = target or Target()
        self.oversized_share = oversized_share

    def request(self, rng: Random) -> Request:
        """Return a malformed request for any route."""
        maker: Callable[[Random], Request] = rng.choices(
            [self.slack_request, self.sms_request, self.status_request, self.ops_request],
            weights=[50, 22, 18, 10],
        )[0]
        return maker(rng)

    # Slack: /slack/events

    def slack_request(self, rng: Random) -> Request:
        """Return a bent Slack event, interaction or slash command, signed or not."""
        name, payload, encoding = rng.choice(self._slack_shapes())
        said = [name]
        if rng.random() < 0.8:
            said += bend(rng, payload, rng.choice([1, 1, 2, 3]))
        body, content_type = self._slack_body(rng, payload, encoding, said)
        headers = {"Content-Type": content_type} if content_type else {}
        signed = rng.random() < SIGNED_SHARE
        headers.update(self._slack_headers(rng, body, signed, said))
        return Request("POST", "/slack/events", headers, body, ", ".join(said), signed)

    def as_sent(self) -> list[Request]:
        """Return every shape unbent and signed, as Slack and Twilio send it: Baton accepts each."""
        sent = []
        for name, payload, encoding in self._slack_shapes():
            body, content_type = _envelope(payload, encoding)
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": content_type,
                "X-Slack-Request-Timestamp": timestamp,
                "X-Slack-Signature": self.slack_signature(timestamp, body),
            }
            sent.append(Request("POST", "/slack/events", headers, body, name, True))
        rng = Random(0)
        for path, name, form in (
            ("/twilio/sms", "sms", self._sms_form(rng)),
            ("/twilio/status", "status", self._status_form(rng)),
        ):
            sent.append(self._twilio_request(path, "", list(form.items()), name))
        return sent

    def _slack_shapes(self) -> list[tuple[str, dict[str, Json], str]]:
        t = self.target
        ts = f"{time.time():.6f}"
        message = shape("message_event")
        message["event"].update(
            user=t.user, channel=t.channel, thread_ts=t.card_ts, ts=ts, event_ts=ts, text="hello"
        )
        message["event_id"] = "Ev" + new_sid("")[:12].upper()
        home = shape("message_event")
        home["event"] = {"type": "app_home_opened", "user": t.user, "tab": "home", "event_ts": ts}
        shapes: list[tuple[str, dict[str, Json], str]] = [
            ("message event", message, "json"),
            ("app_home_opened", home, "json"),
            (
                "url_verification",
                {"type": "url_verification", "challenge": "c", "token": "t"},
                "json",
            ),
        ]
        values = {
            "claim": str(t.number),
            "release": str(t.number),
            "resolve": str(t.number),
            "reopen": str(t.number),
            "handoff": str(t.number),
            "templates": str(t.number),
            "contact": str(t.number),
            "claim_and_send": json.dumps({"conversation": t.number, "ts": ts}),
            "retry_text": json.dumps({"conversation": t.number, "ts": ts, "attempt": "1"}),
        }
        for action_id, value in values.items():
            click = self._click(action_id)
            click["actions"][0]["value"] = value
            shapes.append((f"block_actions {action_id}", click, "payload"))
        menu = self._click("card_menu")
        menu["actions"][0] = {
            "action_id": "card_menu",
            "block_id": "card",
            "type": "overflow",
            "selected_option": {"value": f"tag:vip:{t.number}"},
        }
        shapes.append(("block_actions card_menu", menu, "payload"))
        pick = self._click("template_pick")
        pick["actions"][0] = {
            "action_id": "template_pick",
            "block_id": "template",
            "type": "static_select",
            "selected_option": {"value": "after_hours"},
        }
        pick["view"] = {"id": "V0PICK", "hash": "1.a", "private_metadata": str(t.number)}
        shapes.append(("block_actions template_pick", pick, "payload"))
        shapes.append(
            (
                "message_action handoff_message",
                {
                    "type": "message_action",
                    "callback_id": "handoff_message",
                    "trigger_id": "1.2.abc",
                    "team": {"id": "T0BATON"},
                    "user": {"id": t.user},
                    "channel": {"id": t.channel},
                    "message": {"ts": t.card_ts, "thread_ts": t.card_ts, "text": "hi"},
                    "response_url": t.response_url,
                },
                "payload",
            )
        )
        forms = {
            "handoff": {
                "owner": {"owner": {"type": "users_select", "selected_user": "U0BLAIR"}},
                "note": {"note": {"type": "plain_text_input", "value": "over to you"}},
                "customer": {"message": {"type": "plain_text_input", "value": None}},
            },
            "contact": {
                "name": {"name": {"type": "plain_text_input", "value": "Dana"}},
                "owner": {"owner": {"type": "users_select", "selected_user": None}},
                "notes": {"notes": {"type": "plain_text_input", "value": "VIP"}},
            },
            "templates": {
                "template": {"template_pick": {"type": "static_select", "selected_option": None}},
                "text-after_hours": {"text": {"type": "plain_text_input", "value": "We open at 9"}},
            },
        }
        for callback_id, state in forms.items():
            shapes.append(
                (
                    f"view_submission {callback_id}",
                    {
                        "type": "view_submission",
                        "team": {"id": "T0BATON"},
                        "user": {"id": t.user},
                        "trigger_id": "1.2.abc",
                        "view": {
                            "id": "V0FORM",
                            "type": "modal",
                            "callback_id": callback_id,
                            "private_metadata": str(t.number),
                            "state": {"values": state},
                            "hash": "1.a",
                        },
                        "response_urls": [],
                    },
                    "payload",
                )
            )
        for text in ("help", "claim #1", "history 1", "tag 1 +vip", "contact 1", "queue", "x"):
            command = command_payload(t.user, text, t.response_url)
            shapes.append((f"/sms {text}", command, "form"))
        shapes.append(("ssl_check", {"ssl_check": "1", "token": "t"}, "form"))
        return shapes

    def _click(self, action_id: str) -> dict[str, Json]:
        t = self.target
        click = shape("block_actions")
        click["user"] = {"id": t.user, "username": "alex", "team_id": "T0BATON"}
        click["channel"] = {"id": t.channel, "name": "general"}
        click["container"]["channel_id"] = t.channel
        click["response_url"] = t.response_url
        click["actions"][0]["action_id"] = action_id
        return click

    def _slack_body(
        self, rng: Random, payload: dict[str, Json], encoding: str, said: list[str]
    ) -> tuple[bytes, str | None]:
        """Return the body and its content type, the envelope itself bent now and then."""
        how = rng.random()
        if how < 0.06:
            value = rng.choice([[], [1, 2], "text", 7, None, True, Deep(rng.choice(DEPTHS))])
            said.append(f"JSON body not an object: {encode(value)[:16]}")
            return encode(value).encode(), "application/json"
        if how < 0.12:
            said.append("payload=" + (choice := rng.choice(["null", "", "[1]", "7", '"x"', "{"])))
            fields = [("payload", choice)]
            if rng.random() < 0.3:
                fields.append(("payload", encode(payload)))
            return urlencode(fields).encode(), "application/x-www-form-urlencoded"
        body, content_type = _envelope(payload, encoding)
        how = rng.random()
        if how < 0.04:
            said.append("truncated")
            body = _truncate(rng, body)
        elif how < 0.07:
            said.append("not UTF-8")
            body = _not_utf8(rng, body)
        elif how < 0.08:
            said.append("empty body")
            body = b""
        elif how < 0.08 + self.oversized_share:
            said.append("oversized")
            body += b"&pad=" + b"x" * 300_000
        if rng.random() < 0.08:
            content_type = rng.choice(
                [None, "text/plain", "application/json", "application/x-www-form-urlencoded"]
            )
            said.append(f"Content-Type {content_type}")
        return body, content_type

    def _slack_headers(
        self, rng: Random, body: bytes, signed: bool, said: list[str]
    ) -> dict[str, str]:
        timestamp = str(int(time.time()))
        if signed:
            said.append("signed")
            return {
                "X-Slack-Request-Timestamp": timestamp,
                "X-Slack-Signature": self.slack_signature(timestamp, body),
            }
        how = rng.random()
        if how < 0.2:
            said.append("unsigned")
            return {}
        if how < 0.4:
            said.append("signature of another body")
            return {
                "X-Slack-Request-Timestamp": timestamp,
                "X-Slack-Signature": self.slack_signature(timestamp, body + b" "),
            }
        if how < 0.55:
            said.append("stale timestamp")
            stale = str(int(time.time()) - 600)
            return {
                "X-Slack-Request-Timestamp": stale,
                "X-Slack-Signature": self.slack_signature(stale, body),
            }
        if how < 0.85:
            odd = rng.choice(
                [
                    "abc",
                    "²",
                    "",
                    " 1",
                    "1e9",
                    "-1",
                    "0x10",
                    "\u0661\u0667",
                    "9" * 40,
                    "1_700_000_000",
                    "\t",
                ]
            )
            said.append(f"timestamp {odd[:12]!r}")
            return {
                "X-Slack-Request-Timestamp": odd,
                "X-Slack-Signature": self.slack_signature(odd, body),
            }
        odd = rng.choice(["v0=é", "v0=", "é", "v1=" + "0" * 64, "v0=" + "z" * 64, " "])
        said.append(f"signature {odd[:8]!r}")
        return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": odd}

    def slack_signature(self, timestamp: str, body: bytes) -> str:
        """Return Slack's v0 signature of body at timestamp (by hand where body is not UTF-8)."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            base = b"v0:" + timestamp.encode("latin-1", "replace") + b":" + body
            return "v0=" + hmac.new(self.slack_secret, base, hashlib.sha256).hexdigest()
        return self.slack.generate_signature(timestamp=timestamp, body=text) or ""

    # Twilio: /twilio/sms and /twilio/status

    def sms_request(self, rng: Random) -> Request:
        """Return a bent inbound text webhook, signed or not."""
        return self._twilio(rng, "/twilio/sms", "sms", self._sms_form(rng))

    def status_request(self, rng: Random) -> Request:
        """Return a bent message status callback, signed or not."""
        return self._twilio(rng, "/twilio/status", "status", self._status_form(rng))

    def _sms_form(self, rng: Random) -> dict[str, str]:
        form = inbound_form("+15551234567", self.business_number, "hello")
        if rng.random() < 0.3:
            form.update(NumMedia="1", MediaUrl0="https://example.com/a.jpg")
            form["MediaContentType0"] = "image/jpeg"
        return form

    def _status_form(self, rng: Random) -> dict[str, str]:
        form = {
            "MessageSid": new_sid(),
            "MessageStatus": rng.choice(["delivered", "failed", "undelivered", "sent"]),
            "To": "+15551234567",
            "From": self.business_number,
            "AccountSid": "AC" + "0" * 31 + "1",
            "ApiVersion": "2010-04-01",
        }
        if rng.random() < 0.3:
            form["ErrorCode"] = "30003"
        return form

    def _twilio(self, rng: Random, path: str, name: str, form: dict[str, str]) -> Request:
        said = [name]
        fields = list(form.items())
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            how = rng.random()
            keys = [k for k, _ in fields]
            if how < 0.2 and fields:
                dropped = fields.pop(rng.randrange(len(fields)))
                said.append(f"{dropped[0]} dropped")
            elif how < 0.8:
                key = rng.choice(
                    [*keys, "NumMedia", "ErrorCode", "MediaUrl0", "MediaUrl1", "OptOutType"]
                )
                value = rng.choice(ODD_STRINGS)
                fields = [(k, v) for k, v in fields if k != key] + [(key, value)]
                said.append(f"{key}={value[:16]!r}")
            elif keys:
                key = rng.choice(keys)
                fields.append((key, rng.choice(ODD_STRINGS)))
                said.append(f"{key} twice")
        query = ""
        if rng.random() < 0.1:
            query = "?" + rng.choice(["a=1", "%zz", "x=%0A", "NumMedia=²"])
            said.append(f"query {query}")
        body = urlencode(fields).encode()
        content_type: str | None = "application/x-www-form-urlencoded"
        how = rng.random()
        if how < 0.04:
            said.append("truncated")
            body = _truncate(rng, body)
        elif how < 0.07:
            said.append("not UTF-8")
            body = _not_utf8(rng, body)
        elif how < 0.09:
            said.append("JSON body")
            body, content_type = encode(dict(fields)).encode(), "application/json"
        elif how < 0.09 + self.oversized_share:
            said.append("oversized")
            body += b"&pad=" + b"x" * 300_000
        elif how < 0.11:
            content_type = rng.choice([None, "text/plain", "multipart/form-data; boundary=x"])
            said.append(f"Content-Type {content_type}")
        if rng.random() < SIGNED_SHARE:
            return self._twilio_request(path, query, body, ", ".join(said), content_type)
        headers = {"Content-Type": content_type} if content_type else {}
        how = rng.random()
        if how < 0.3:
            said.append("unsigned")
        elif how < 0.6:
            said.append("signature for another URL")
            headers["X-Twilio-Signature"] = self.twilio.compute_signature(
                "https://evil.example.com" + path, dict(fields)
            )
        else:
            odd = rng.choice(["é", "", "garbage!", "=" * 30, "bm90LWEtcmVhbC1zaWduYXR1cmU="])
            said.append(f"signature {odd[:8]!r}")
            headers["X-Twilio-Signature"] = odd
        return Request("POST", path + query, headers, body, ", ".join(said), False)

    def _twilio_request(
        self,
        path: str,
        query: str,
        body: bytes | list[tuple[str, str]],
        what: str,
        content_type: str | None = "application/x-www-form-urlencoded",
    ) -> Request:
        """Return the request signed as Twilio signs it: the URL and the form's fields."""
        data = urlencode(body).encode() if isinstance(body, list) else body
        params = dict(reversed(_form_pairs(data)))  # the first value of a repeated field
        url = f"{self.public_url}{path}{query}"
        headers = {"X-Twilio-Signature": self.twilio.compute_signature(url, params)}
        if content_type:
            headers["Content-Type"] = content_type
        return Request("POST", path + query, headers, data, f"{what}, signed", True)

    # Operations: /healthz and /metrics

    def ops_request(self, rng: Random) -> Request:
        """Return an odd request to the health check or the metrics."""
        path = rng.choice(["/healthz", "/metrics"])
        method = rng.choice(["GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"])
        query = rng.choice(["", "", "?x=1", "?%zz", "?a=" + quote("\n" * 3), "?" + "a" * 5000])
        headers = rng.choice([{}, {"Accept": "*/*"}, {"Accept": "é"}, {"Content-Type": "x"}])
        body = rng.choice([b"", b"", b"{}", b"\xff"])
        what = f"{method} {path}{query[:12]} {sorted(headers)}"
        return Request(method, path + query, dict(headers), body, what, False)


def _envelope(payload: dict[str, Json], encoding: str) -> tuple[bytes, str]:
    """Return payload as Slack sends it: JSON (events), payload=JSON (interactivity) or a form."""
    if encoding == "json":
        return encode(payload).encode(), "application/json"
    if encoding == "payload":
        fields = {"payload": encode(payload)}
    else:
        fields = {k: _form_value(v) for k, v in payload.items()}
    return urlencode(fields).encode(), "application/x-www-form-urlencoded"


def _form_value(value: Json) -> str:
    return value if isinstance(value, str) else encode(value)


def _form_pairs(body: bytes) -> list[tuple[str, str]]:
    return parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)


# What a refused request must leave as it was: every key under the app's prefix.

_READ = {
    "string": lambda pipe, key: pipe.get(key),
    "hash": lambda pipe, key: pipe.hgetall(key),
    "set": lambda pipe, key: pipe.smembers(key),
    "zset": lambda pipe, key: pipe.zrange(key, 0, -1, withscores=True),
    "list": lambda pipe, key: pipe.lrange(key, 0, -1),
    # A stream's entries; its consumer group notes when each delivery worker last polled.
    "stream": lambda pipe, key: pipe.xrange(key),
}

# The delivery workers' own bookkeeping, which they change while idle: work entries
# they acknowledge once the outbox is performed, and the locks they take to look.
_WORKERS = re.compile(r".*:(\{[a-z-]+\}:work|\{[^}]+\}:(sms-)?lock)$")


def snapshot(client: Any, prefix: str) -> dict[str, object]:
    """Return every key under prefix with its value, but the delivery workers' bookkeeping."""
    keys = [key for key in sorted(client.scan_iter(match=f"{prefix}:*")) if not _WORKERS.match(key)]
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.type(key)
    types = pipe.execute()
    for key, kind in zip(keys, types, strict=True):
        _READ.get(kind, lambda pipe, key: pipe.exists(key))(pipe, key)
    return dict(zip(keys, pipe.execute(), strict=True))
