"""The network between the doctor and Baton: a Baton served over HTTP, and a way to reach it by its public name.

The tests' PUBLIC_URL (baton.example.com) resolves nowhere. In-process, the
doctor is handed an HTTP client whose `RouteTo` sends that base URL to a local
address, as DNS and a TLS proxy would; a `python -m bot doctor` subprocess goes
through `ForwardProxy` (``http_proxy``), which urllib, slack_sdk and requests
all honour.
"""

from __future__ import annotations

import http.client
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from werkzeug.serving import make_server

# Hop-by-hop headers a proxy does not pass on.
HOP_BY_HOP = {"connection", "proxy-connection", "keep-alive", "transfer-encoding", "te"}


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """Serve app on a free 127.0.0.1 port in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="baton-served", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class RouteTo(urllib.request.BaseHandler):
    """Send requests under public_url to local_url instead."""

    def __init__(self, public_url: str, local_url: str) -> None:
        self.public_url = public_url.rstrip("/")
        self.local_url = local_url.rstrip("/")

    def http_request(self, request: urllib.request.Request) -> urllib.request.Request:
        if request.full_url.startswith(self.public_url + "/"):
            request.full_url = self.local_url + request.full_url[len(self.public_url) :]
        return request

    https_request = http_request


class _Forward(BaseHTTPRequestHandler):
    server: _ProxyServer
    protocol_version = "HTTP/1.0"

    def _forward(self) -> None:
        parts = urlsplit(self.path)
        if not parts.netloc:
            self.send_error(400, "a forward proxy takes absolute URLs")
            return
        target = self.server.routes.get(parts.hostname or "", parts.netloc)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        upstream = http.client.HTTPConnection(target, timeout=10)
        try:
            upstream.request(self.command, path or "/", body, headers)
            answer = upstream.getresponse()
            data = answer.read()
        except OSError as exc:
            self.send_error(502, f"upstream {target}: {exc}")
            return
        finally:
            upstream.close()
        self.send_response(answer.status, answer.reason)
        for key, value in answer.getheaders():
            if key.lower() not in HOP_BY_HOP | {"content-length"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, str]


@contextmanager
def forward_proxy(routes: dict[str, str]) -> Iterator[str]:
    """Run a plain-HTTP forward proxy sending each host in routes to its host:port; yield its URL.

    Every other host is reached directly, so the stand-ins still answer through it.
    """
    server = _ProxyServer(("127.0.0.1", 0), _Forward)
    server.routes = routes
    thread = threading.Thread(target=server.serve_forever, name="forward-proxy", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
