"""Shared machinery for the local HTTP stand-ins of Slack and Twilio.

A `StandIn` owns a `ThreadingHTTPServer` bound to 127.0.0.1 (port 0 by default) that runs in a
daemon thread. Every request is parsed by the subclass into a method name and params, may be
delayed (`delay`), faulted (`fail_next`, `set_down`) or answered normally, and is then recorded
as a `Call` before the answer is written, so `wait_for` never returns ahead of the state change.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

# How long a test waits for something that should happen. Waits return as soon
# as it has, so only a failing test waits this long; a shorter default failed
# a loaded two-core CI host now and then.
WAIT = 20.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Call:
    """One request received by a stand-in, with the HTTP status it was answered with."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    at: float
    status: int = 200
    path: str = ""


@dataclass(frozen=True)
class Request:
    """A raw HTTP request as read off the socket."""

    verb: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def header(self, name: str, default: str = "") -> str:
        """Return a header value, matching the name case-insensitively."""
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return default


@dataclass
class Reply:
    """An HTTP answer; dict/list bodies are sent as JSON, str/bytes bodies as-is."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    """A queued replacement answer for the next `times` calls to `method` (None = any)."""

    method: str | None
    status: int
    times: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # True: do the real work first, then answer with the fault, as when a
    # server commits a write and the answer is lost on the way back.
    after_effect: bool = False


def flatten_form(pairs: dict[str, list[str]], *, always_list: tuple[str, ...] = ()) -> dict:
    """Collapse parse_qs output: single values become scalars, repeated ones stay lists."""
    flat: dict[str, Any] = {}
    for key, values in pairs.items():
        flat[key] = list(values) if key in always_list or len(values) > 1 else values[0]
    return flat


def parse_form(body: bytes) -> dict[str, list[str]]:
    """Parse an application/x-www-form-urlencoded body, keeping blank values."""
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


class _HTTPServer(ThreadingHTTPServer):
    # Daemon threads so a hung client can never block interpreter exit or stop().
    daemon_threads = True
    # Benchmarks open hundreds of connections at once; the default backlog of 5 drops them.
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: StandIn) -> None:
        self.owner = owner
        self.open: set[Any] = set()  # connections being served, closed by stop()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Count the connection and note it open, then serve it in its thread."""
        with self.owner._lock:
            self.owner.connections += 1
            self.open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.owner._lock:
            self.open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that hang up mid-answer; report anything else."""
        # Benchmarks with client timeouts shorter than `delay` would otherwise spam tracebacks.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    # A kept-alive connection idle this long is closed, as real servers do.
    timeout = 30
    # The headers and the body are two writes: without TCP_NODELAY the body of a kept-alive
    # answer waits for the client's delayed ACK of the headers (40 ms a call).
    disable_nagle_algorithm = True

    def setup(self) -> None:
        # HTTP/1.0 closes each connection after one answer; HTTP/1.1 keeps it for the next
        # request, as Slack's servers do (stop() closes what is still open).
        self.protocol_version = "HTTP/1.1" if self.server.owner.keep_alive else "HTTP/1.0"
        super().setup()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        request = Request(
            verb=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={key: value for key, value in self.headers.items()},
            body=body,
        )
        reply = self.server.owner._serve(request)
        payload = reply.body
        content_type = "application/json; charset=utf-8"
        if isinstance(payload, (dict, list)):
            data = json.dumps(payload).encode("utf-8")
        elif isinstance(payload, str):
            data = payload.encode("utf-8")
            content_type = "text/plain; charset=utf-8"
        elif payload is None:
            data = b""
        else:
            data = bytes(payload)
            content_type = "application/octet-stream"
        self.send_response(reply.status)
        headers = {"Content-Type": content_type, **reply.headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

    def log_message(self, format: str, *args: Any) -> None:
        """Drop the per-request access log; the call recorder is the log."""


class StandIn:
    """Base class: lifecycle, call recording, fault injection and artificial latency."""

    # Whether a connection stays open for the client's next request (HTTP/1.1).
    keep_alive = False

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.delay: float = 0.0
        self.connections = 0  # connections accepted so far
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._calls: list[Call] = []
        self._faults: list[Fault] = []
        self._down = False
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind the socket and serve in a daemon thread; return self."""
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer((self.host, self.port), self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            still_open = list(httpd.open)
        for sock in still_open:  # kept-alive connections: the clients see the server gone
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    @property
    def url(self) -> str:
        """Return the base URL, e.g. http://127.0.0.1:54321 (no trailing slash)."""
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- recorder --------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Return a snapshot of every recorded call, oldest first."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str | None) -> list[Call]:
        """Return the recorded calls to `method` (None = all), oldest first."""
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def wait_for(self, method: str | None, count: int = 1, timeout: float = WAIT) -> list[Call]:
        """Block until `count` calls to `method` were recorded; return all of them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = self.calls_to(method)
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [f"{c.method}->{c.status}" for c in self._calls[-20:]]
                    raise AssertionError(
                        f"{type(self).__name__}: expected {count} call(s) to {method!r} within "
                        f"{timeout}s, got {len(found)}; last calls: {seen}"
                    )
                self._changed.wait(remaining)

    def reset(self) -> None:
        """Forget calls, faults, downtime, delay and stored traffic (registered fixtures stay)."""
        with self._lock:
            self._calls.clear()
            self._faults.clear()
            self._down = False
            self.delay = 0.0
            self._reset_state()

    # -- fault injection -------------------------------------------------------------------

    def fail_next(
        self,
        method: str | None,
        status: int,
        *,
        times: int = 1,
        body: dict | None = None,
        headers: dict | None = None,
        after_effect: bool = False,
    ) -> None:
        """Answer the next `times` calls to `method` (None = any) with this status instead.

        With after_effect the call takes effect first (a message is stored) and
        only its answer is replaced, like a response lost after a commit.
        """
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._faults.append(
                Fault(method, status, times, body, dict(headers or {}), after_effect)
            )

    def set_down(self, down: bool = True) -> None:
        """While down, answer every call with 503."""
        with self._lock:
            self._down = down

    # -- request pipeline ------------------------------------------------------------------

    def _serve(self, request: Request) -> Reply:
        if self.delay > 0:
            time.sleep(self.delay)
        method, params = self._parse(request)
        with self._lock:
            fault = None if self._down else self._take_fault(method)
            if self._down:
                reply = self._fault_reply(method, 503, None, {})
            elif fault is not None:
                if fault.after_effect:
                    self._answer(method, params, request)
                reply = self._fault_reply(method, fault.status, fault.body, fault.headers)
            else:
                try:
                    reply = self._answer(method, params, request)
                except Exception:
                    # A bug in the stand-in must surface as a 500, not as a hung client.
                    log.exception("%s crashed answering %s", type(self).__name__, method)
                    reply = self._fault_reply(method, 500, None, {})
            self._calls.append(
                Call(
                    method=method,
                    params=params,
                    headers=dict(request.headers),
                    at=time.time(),
                    status=reply.status,
                    path=request.path,
                )
            )
            self._changed.notify_all()
        return reply

    def _take_fault(self, method: str) -> Fault | None:
        for fault in self._faults:
            if fault.method is None or fault.method == method:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    # -- subclass hooks --------------------------------------------------------------------

    def _parse(self, request: Request) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def _answer(self, method: str, params: dict[str, Any], request: Request) -> Reply:
        raise NotImplementedError

    def _fault_reply(self, method: str, status: int, body: Any, headers: dict[str, str]) -> Reply:
        return Reply(status, body if body is not None else {"error": status}, dict(headers))

    def _reset_state(self) -> None:
        """Clear stored traffic; called with the lock held."""
