"""Slack's one URL: events, slash commands, buttons and forms, all handed to the Bolt app.

Before Bolt sees a request, this route checks Slack's signature on the raw body, then parses
the body as Bolt will and checks the fields Bolt and Baton's listeners read
(handlers/payloads.py). Bolt reads the body before it checks the signature, answers a body it
cannot read with a 500, and logs the whole body of a request it refuses; here a request that
fails gets its 401 or 400 with the reason logged, never the body, and nothing changes.
"""

from __future__ import annotations

import logging
import re
import time
from urllib.parse import parse_qs

from flask import Blueprint, Request, Response, request
from slack_bolt import App, BoltRequest
from slack_bolt.adapter.flask.handler import to_bolt_request, to_flask_response
from slack_bolt.request.internals import parse_body
from slack_sdk.signature import SignatureVerifier

from handlers.payloads import Unreadable, check

logger = logging.getLogger(__name__)

TIMESTAMP = re.compile(r"[0-9]{1,12}")
SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
MAX_SKEW = 5 * 60  # Slack's own limit, the verifier's too


class Refused(Exception):
    """A request this route answers itself: status and the reason, which is logged."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def blueprint(bolt: App, signing_secret: str) -> Blueprint:
    """Return the /slack/events route: checked here, then verified again and dispatched by Bolt."""
    routes = Blueprint("slack", __name__)
    verifier = SignatureVerifier(signing_secret)

    @routes.post("/slack/events")
    def events() -> Response:
        try:
            text = _signed_text(verifier, request)
        except Refused as refused:
            if _is_ssl_check(request):
                # Bolt answers Slack's SSL check before it checks the signature; so does Baton.
                return Response(status=200)
            logger.warning("refused /slack/events: %s", refused.reason)
            return Response(
                "Invalid Slack signature\n", status=refused.status, mimetype="text/plain"
            )
        try:
            bolt_request = _readable(text, request)
        except Refused as refused:
            logger.warning("refused /slack/events: %s", refused.reason)
            return Response(
                f"Bad request: {refused.reason}\n", status=refused.status, mimetype="text/plain"
            )
        return to_flask_response(bolt.dispatch(bolt_request))

    return routes


def _signed_text(verifier: SignatureVerifier, req: Request) -> str:
    """Return the body as text if Slack signed it, else raise Refused (401) saying why."""
    timestamp = req.headers.get("X-Slack-Request-Timestamp", "")
    signature = req.headers.get("X-Slack-Signature", "")
    if not timestamp or not signature:
        raise Refused(401, "no X-Slack-Signature or X-Slack-Request-Timestamp")
    # The verifier calls int() on the timestamp and compares the signature as ASCII text.
    if not TIMESTAMP.fullmatch(timestamp):
        raise Refused(401, "X-Slack-Request-Timestamp is not a number")
    if not SIGNATURE.fullmatch(signature):
        raise Refused(401, "X-Slack-Signature is not a v0 signature")
    if abs(time.time() - int(timestamp)) > MAX_SKEW:
        raise Refused(401, "X-Slack-Request-Timestamp is more than 5 minutes from now")
    try:
        text = req.get_data().decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "the body is not UTF-8") from None
    if not verifier.is_valid(text, timestamp, signature):
        raise Refused(401, "bad signature")
    return text


def _readable(text: str, req: Request) -> BoltRequest:
    """Return the request as Bolt reads it, or raise Refused (400) if Bolt or a listener cannot."""
    content_type = (req.headers.get("Content-Type") or "").split(";")[0] or None
    try:
        body = parse_body(text, content_type)
    except RecursionError:
        raise Refused(400, "the body is nested too deeply") from None
    except ValueError:
        raise Refused(400, "the body is not valid JSON or form data") from None
    if not isinstance(body, dict):
        raise Refused(400, f"the body is {_json_kind(body)}, not a JSON object")
    try:
        check(body)
    except Unreadable as problem:
        raise Refused(400, str(problem)) from None
    try:
        return to_bolt_request(req)
    except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
        # check() should have caught it: Bolt read a field it does not know of.
        raise Refused(400, f"Bolt cannot read the body ({type(exc).__name__})") from None


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    return {list: "a list", str: "a string"}.get(type(value), "a number")


def _is_ssl_check(req: Request) -> bool:
    return parse_qs(req.get_data().decode("utf-8", "replace")).get("ssl_check") == ["1"]
