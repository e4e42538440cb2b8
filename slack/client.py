"""The Slack Web API client Baton's services and listeners share: slack_sdk's, on kept-alive connections.

slack_sdk's synchronous WebClient sends each call with ``urllib.request.urlopen``, which opens
a connection (and, to slack.com, a TLS handshake) per call and closes it after the answer. A
delivering process makes a call per post, so that was most of what a post cost on Baton's
side. KeepAliveWebClient sends the same request through a urllib3 connection pool instead:
one pool per process, shared by its threads, a connection kept per thread that is calling.

Only the transport changes. slack_sdk still builds the request, runs its retry handlers and
turns the answer into a SlackResponse or a SlackApiError; what urllib3 answers is handed back
in the shape urllib's would have been (an HTTPError for a status of 400 and up, an URLError
for a connection that failed), so callers see exactly what they saw before.

A request is never retried by the pool: a POST whose answer was lost may have been done, and
deciding whether to send it again is the outbox's (it looks the post up first). So a failure
is raised in two kinds. A connection that could not be made (nothing was sent) is an URLError,
which slack_sdk's connection retry handler tries once more, as it did with urllib. A request
sent whose answer never came (a read timeout, a connection dropped mid-answer) is AnswerLost,
which no handler retries: the outbox counts it transient and looks the post up before trying
again. A connection the server closed while idle is noticed before it is reused, so it costs a
new connection, not a failed call.
"""

from __future__ import annotations

import io
from email.message import Message
from http.client import HTTPMessage
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request

import urllib3
from slack_sdk import WebClient

from config import Settings

# Connections kept per host: one per delivery thread and listener thread that may call at once
# (bench/drain.py runs 128 delivery threads). A connection is opened only when a thread needs one.
POOL_SIZE = 256


class AnswerLost(OSError):
    """A request was sent and its answer never came: it may have been done."""


def _message(headers: urllib3.HTTPHeaderDict) -> Message:
    """Copy urllib3's headers into the http.client message urllib would have answered."""
    message = HTTPMessage()
    for name, value in headers.iteritems():
        message[name] = value
    return message


class KeepAliveWebClient(WebClient):
    """slack_sdk's WebClient whose calls reuse connections (urllib3's pool) instead of opening one each."""

    def __init__(self, *args: Any, pool_size: int = POOL_SIZE, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=pool_size,
            block=False,  # past maxsize a connection is opened and closed after use, never waited for
            retries=False,
            ssl_context=self.ssl,
        )

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        """Send slack_sdk's prepared request on a pooled connection; answer as urllib would."""
        if self.proxy is not None or not url.lower().startswith("http"):
            return super()._perform_urllib_http_request_internal(url, req)
        try:
            resp = self._pool.request(
                "POST",
                url,
                body=req.data,
                headers={name: str(value) for name, value in req.header_items()},
                timeout=self.timeout,
                redirect=False,
            )
        except (
            urllib3.exceptions.NewConnectionError,
            urllib3.exceptions.ConnectTimeoutError,
        ) as exc:
            raise URLError(exc) from exc  # nothing was sent
        except urllib3.exceptions.HTTPError as exc:
            raise AnswerLost(f"{type(exc).__name__}: {exc}") from exc
        headers = _message(resp.headers)
        if resp.status >= 400:
            raise HTTPError(url, resp.status, resp.reason or "", headers, io.BytesIO(resp.data))
        if headers.get_content_type() == "application/gzip":
            return {"status": resp.status, "headers": headers, "body": resp.data}
        charset = headers.get_content_charset() or "utf-8"
        return {"status": resp.status, "headers": headers, "body": resp.data.decode(charset)}

    def close(self) -> None:
        """Close the pool's connections."""
        self._pool.clear()


def slack_client(settings: Settings) -> KeepAliveWebClient:
    """Return the Slack Web API client Baton's services and listeners share."""
    # The timeout stays well under the delivery lock's lifetime, so a slow call
    # always ends before another worker may take the conversation over.
    return KeepAliveWebClient(
        token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=10
    )
