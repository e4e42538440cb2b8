"""Twilio's webhooks: inbound texts and message status callbacks."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from functools import partial, wraps
from typing import TypeVar

import redis
from flask import Blueprint, Response, request
from twilio.twiml.messaging_response import MessagingResponse

from bot.service import Baton
from bot.values import InboundText
from sms.gateway import describe_error
from sms.keywords import opt_change
from sms.numbers import InvalidNumber, mask, normalise
from sms.segments import MAX_BODY
from sms.signature import TwilioSignature

logger = logging.getLogger(__name__)

T = TypeVar("T")

MESSAGE_SID = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")
# ASCII digits only: str.isdigit() also takes "²" (int() refuses it) and other scripts' digits.
DIGITS = re.compile(r"[0-9]{1,9}")
MAX_MEDIA = 10
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
STATUSES = {
    "accepted",
    "scheduled",
    "queued",
    "sending",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "read",
    "receiving",
    "received",
    "canceled",
    "partially_delivered",
}


class BadRequest(Exception):
    """A webhook request that is not a well-formed Twilio request."""


def _plain(status: int, text: str) -> Response:
    return Response(text + "\n", status=status, mimetype="text/plain")


def _number(field: str) -> str:
    value = request.form.get(field, "")
    try:
        if value.startswith("+"):
            return normalise(value, strict=False)
    except InvalidNumber:
        pass
    raise BadRequest(f"{field} is not an E.164 phone number")


def _sid() -> str:
    sid = request.form.get("MessageSid") or request.form.get("SmsMessageSid") or ""
    if not MESSAGE_SID.match(sid):
        raise BadRequest("MessageSid is missing or malformed")
    return sid


def _media() -> tuple[tuple[str, str], ...]:
    raw = request.form.get("NumMedia", "0") or "0"
    if not DIGITS.fullmatch(raw) or int(raw) > MAX_MEDIA:
        raise BadRequest(f"NumMedia must be a number from 0 to {MAX_MEDIA}")
    media = []
    for index in range(int(raw)):
        url = request.form.get(f"MediaUrl{index}", "")
        if not url.startswith(("https://", "http://")):
            raise BadRequest(f"MediaUrl{index} is missing or not a URL")
        media.append(
            (url, request.form.get(f"MediaContentType{index}", "application/octet-stream"))
        )
    return tuple(media)


# How long one webhook attempt waits for an unreachable store before its 503.
# Twilio retries a 503 (the number's URL asks it to: sms/overrides.py) at once,
# up to five times within 15 s, so each attempt waits about a sixth of that:
# together they ride out a Redis restart of ten seconds or so.
STORE_PATIENCE = 2.4


def _patiently(receive: Callable[[], T]) -> T:
    """Run receive, trying again while the store cannot be reached, up to STORE_PATIENCE."""
    deadline = time.monotonic() + STORE_PATIENCE
    pause = 0.1
    while True:
        try:
            return receive()
        except (redis.ConnectionError, redis.TimeoutError):
            # Safe to repeat: a text whose MessageSid is stored is never stored twice.
            if time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.5)


def blueprint(baton: Baton, signature: TwilioSignature) -> Blueprint:
    """Return the /twilio routes, each checking Twilio's signature first."""
    routes = Blueprint("twilio", __name__, url_prefix="/twilio")

    def signed(*, overrides: bool) -> Callable[[Callable[[], Response]], Callable[[], Response]]:
        """Check the signature over the route's URL, supplied with Baton's overrides or bare."""
        return partial(_checked, overrides=overrides)

    def _checked(view: Callable[[], Response], *, overrides: bool) -> Callable[[], Response]:
        @wraps(view)
        def checked() -> Response:
            url = signature.url_for(request.url, request.path, request.query_string.decode())
            given = request.headers.get("X-Twilio-Signature")
            if not signature.valid(url, request.form, given, overrides=overrides):
                logger.warning("refused %s: bad or missing X-Twilio-Signature", request.path)
                return _plain(403, "Invalid Twilio signature")
            try:
                return view()
            except BadRequest as exc:
                logger.warning("refused %s: %s", request.path, exc)
                return _plain(400, f"Bad request: {exc}")
            except redis.RedisError:
                logger.exception("store unavailable while handling %s", request.path)
                return _plain(503, "Store unavailable; retry later")

        return checked

    @routes.post("/sms")
    @signed(overrides=True)  # the URL `webhooks --apply` sets (ops.webhooks)
    def inbound_sms() -> Response:
        sid = _sid()
        body = request.form.get("Body", "")
        if len(body) > MAX_BODY:
            raise BadRequest(f"Body is longer than {MAX_BODY} characters")
        text = InboundText(
            sid=sid,
            customer_number=_number("From"),
            business_number=_number("To"),
            body=body,
            media=_media(),
            opt_change=opt_change(body, request.form.get("OptOutType")),
        )
        change = _patiently(lambda: baton.inbound.receive(text))
        conv = change.conversation
        logger.info(
            "inbound %s from %s: %s #%s",
            sid,
            mask(text.customer_number),
            change.result,
            conv.number if conv else "?",
        )
        if change.reply:
            twiml = MessagingResponse()
            twiml.message(change.reply)
            return Response(str(twiml), mimetype="text/xml")
        return Response(EMPTY_TWIML, mimetype="text/xml")

    @routes.post("/status")
    @signed(overrides=False)  # StatusCallback stays bare
    def status_callback() -> Response:
        sid = _sid()
        status = request.form.get("MessageStatus", "")
        if status not in STATUSES:
            raise BadRequest("MessageStatus is missing or unknown")
        code_text = request.form.get("ErrorCode") or ""
        if code_text and not DIGITS.fullmatch(code_text):
            raise BadRequest("ErrorCode must be a number")
        code = int(code_text) if code_text else None
        conv = baton.conversations.find_by_phone(_number("From"), _number("To"))
        if conv is None:
            logger.info("status %s for %s: no conversation", status, sid)
            return Response(status=204)
        reason = describe_error(code, "the carrier did not deliver it")
        baton.replies.delivery_status(conv, sid, status, code, reason)
        logger.info("status %s for %s (#%d)", status, sid, conv.number)
        return Response(status=204)

    return routes
