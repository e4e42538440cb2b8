"""The web process's limit on a request's size, and the connection a request over it leaves.

Flask answers a body over MAX_REQUEST_BYTES with a 413 without reading it. The connection can
then carry no further request: what follows the headers is the rest of that body. So the 413
says ``Connection: close``, and under gunicorn, which drops an application's Connection header
and would otherwise answer keep-alive, drain at most 64 KiB and hang up on the client's next
request, close_oversized (its ``pre_request`` hook, set in gunicorn.conf.py and by the
all-in-one process) makes gunicorn close the connection after the answer itself.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from werkzeug.exceptions import RequestEntityTooLarge

MAX_REQUEST_BYTES = 256 * 1024


def too_large(error: RequestEntityTooLarge) -> Response:
    """Answer a request over the limit: 413, and the connection closes after it."""
    response = Response(
        f"Request body too large: the limit is {MAX_REQUEST_BYTES // 1024} KiB\n",
        status=413,
        mimetype="text/plain",
    )
    response.headers["Connection"] = "close"
    return response


def close_oversized(worker: Any, req: Any) -> None:
    """Have gunicorn close the connection after a request whose body may be over the limit.

    A chunked body's length is known only once it is read, so every chunked request closes
    its connection; Twilio and Slack send a Content-Length.
    """
    length, chunked = None, False
    for name, value in req.headers:
        if name == "CONTENT-LENGTH":
            length = value
        elif name == "TRANSFER-ENCODING":
            chunked = True
    if chunked or (length is not None and length.isdigit() and int(length) > MAX_REQUEST_BYTES):
        req.must_close = True
