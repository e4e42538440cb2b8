"""The web process's limits: a request's size, and how long a request may wait for a thread.

**Size.** Flask answers a body over MAX_REQUEST_BYTES with a 413 without reading it. The
connection can then carry no further request: what follows the headers is the rest of that
body. So the 413 says ``Connection: close``, and under gunicorn, which drops an application's
Connection header and would otherwise answer keep-alive, drain at most 64 KiB and hang up on
the client's next request, close_oversized (its ``pre_request`` hook, set in gunicorn.conf.py
and by the all-in-one process) makes gunicorn close the connection after the answer itself.

**Waiting.** gunicorn's threaded worker accepts every connection it can and queues it for its
threads, so past capacity the queue grows without bound: requests wait seconds, Twilio gives
them up (after 5 s with the overrides Baton asks for) and retries, and the worker spends its
time on answers nobody reads; throughput collapses. Worker, the web process's worker class,
notes when each request joined the queue and, when a thread takes one that waited longer than
``BATON_MAX_QUEUE_WAIT_MS``, answers ``503`` with ``Retry-After`` before Baton sees it: no body
read, no signature check, no Redis, so a refusal costs a fraction of a text and stores
nothing; Twilio retries it. GET and HEAD (health checks, metrics) are always served.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from typing import Any

from flask import Response
from gunicorn import util
from gunicorn.workers.gthread import TConn, ThreadWorker
from werkzeug.exceptions import RequestEntityTooLarge

from config import load_settings

logger = logging.getLogger(__name__)

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


_OVERLOADED_BODY = b"Baton is over capacity: retry in a while\n"
# The whole answer to a refused request, written straight to the socket.
OVERLOADED = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Retry-After: 1\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Length: %d\r\n"
    b"Connection: close\r\n"
    b"\r\n%s" % (len(_OVERLOADED_BODY), _OVERLOADED_BODY)
)
# Seconds between two log lines counting refusals, so a flood costs one line, not one each.
REFUSALS_LOGGED_EVERY = 10.0


def _unread(sock: socket.socket) -> bool:
    """Tell whether the client sent bytes nobody read (or the socket is gone)."""
    try:
        return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except BlockingIOError:
        return False
    except OSError:
        return True  # leave it to gunicorn


def _refused_whole(sock: socket.socket) -> bool:
    """Answer 503 to a POST already received whole, and close; False leaves the socket be."""
    try:
        head = sock.recv(MAX_REQUEST_BYTES, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except OSError:
        return False  # nothing yet, or gone: a thread will see
    end = head.find(b"\r\n\r\n")
    if not head.startswith(b"POST ") or end < 0:
        return False
    length = 0
    for line in head[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"transfer-encoding" or (
            name == b"content-length" and not value.strip().isdigit()
        ):
            return False
        if name == b"content-length":
            length = int(value)
    if len(head) < end + 4 + length:
        return False
    try:
        sock.recv(end + 4 + length, socket.MSG_DONTWAIT)  # read it all: the close is clean
        sock.send(OVERLOADED, socket.MSG_DONTWAIT)
    except OSError:
        pass
    util.close(sock)
    return True


class Worker(ThreadWorker):
    """gunicorn's threaded worker that refuses a request which waited too long for a thread."""

    def init_process(self) -> None:
        self.max_wait = load_settings().max_queue_wait_ms / 1000
        self._refusals = 0
        self._lock = threading.Lock()
        self._refusals_logged = time.monotonic()
        # Until then, a POST that arrives whole is refused as it is accepted (see accept()).
        self._refusing_until = 0.0
        self._waiting = 0  # connections queued for a thread and not yet taken
        super().init_process()

    def accept(self, listener: Any) -> None:
        """Take a connection in; while requests are being refused, refuse a whole POST at once.

        A request refused by a thread has cost a thread hand-off, a parser and a trip back to
        this loop, most of what a text costs gunicorn; past capacity those refusals would eat
        the capacity. So for as long as the limit after the last late request, and while a
        round of requests for every thread still waits, one that has arrived whole is refused
        here, which costs a few system calls.
        """
        if time.monotonic() >= self._refusing_until or self._waiting < self.cfg.threads:
            return super().accept(listener)
        try:
            sock, client = listener.accept()
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                return None
            raise
        if _refused_whole(sock):
            self._count_refusal()
            return None
        self.nr_conns += 1
        sock.setblocking(True)
        self.enqueue_req(TConn(self.cfg, sock, client, listener.getsockname()))
        return None

    def handle(self, conn: Any) -> Any:
        """Serve a connection; close one that ends with nothing left unread right here.

        gunicorn closes every connection in its main loop, which also accepts them, lingering
        until the client hangs up (so unread bytes cannot turn the close into a reset): with a
        connection per request, as Twilio calls, each client's round trip then delays every
        accept. With nothing unread there is nothing to linger for.
        """
        with self._lock:
            self._waiting -= 1
        result = super().handle(conn)
        if result is False and not _unread(conn.sock):
            util.close(conn.sock)  # gunicorn's own close then finds it closed
        return result

    def enqueue_req(self, conn: Any) -> None:
        """Queue a connection whose request has arrived, noting when."""
        conn.queued_at = time.monotonic()
        with self._lock:
            self._waiting += 1
        super().enqueue_req(conn)

    def handle_request(self, req: Any, conn: Any) -> bool:
        """Serve the request, or refuse it if it waited past the limit; True keeps the connection."""
        waited = time.monotonic() - conn.queued_at
        if self.max_wait and waited > self.max_wait and req.method not in ("GET", "HEAD"):
            self._refusing_until = time.monotonic() + self.max_wait
            util.write(conn.sock, OVERLOADED)
            self._count_refusal()
            return False
        return super().handle_request(req, conn)

    def _count_refusal(self) -> None:
        with self._lock:
            self._refusals += 1
            now = time.monotonic()
            if now - self._refusals_logged < REFUSALS_LOGGED_EVERY:
                return
            refused, self._refusals, self._refusals_logged = self._refusals, 0, now
        logger.warning(
            "over capacity: refused %d requests with 503 (a request waited over %.0f ms for a thread)",
            refused,
            self.max_wait * 1000,
        )
