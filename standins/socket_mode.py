"""A local stand-in for Slack's Socket Mode websocket server (standard library only).

FakeSlack answers ``apps.connections.open`` with `FakeSocketMode.url` once it is set as
``fake_slack.socket_mode_url``; slack_sdk's built-in client then opens a plain ``ws://``
connection to it (it only uses TLS on port 443). Like Slack, the stand-in says ``hello`` on
connect, delivers envelopes (`send`) to one connected client, and records the client's acks
(`wait_for_ack`).

It also pings every client every `ping_interval` seconds while the line is quiet, as Slack does.
The short default matters: slack_sdk's client closes its socket only once its blocking ``recv``
(3 s timeout) returns, so traffic keeps ``SocketModeHandler.close()`` prompt in tests.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import select
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Self

from standins.server import WAIT

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _CLOSE, _PING, _PONG, _CONTINUATION = 0x1, 0x8, 0x9, 0xA, 0x0
_MAX_HANDSHAKE = 64 * 1024
ENVELOPE_TYPES = ("events_api", "interactive", "slash_commands")


def accept_key(key: str) -> str:
    """Return the Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key (RFC 6455 4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()


def encode_frame(opcode: int, payload: bytes = b"") -> bytes:
    """Return one final, unmasked frame, as a server sends it."""
    length = len(payload)
    if length <= 125:
        head = struct.pack("!BB", 0x80 | opcode, length)
    elif length <= 0xFFFF:
        head = struct.pack("!BBH", 0x80 | opcode, 126, length)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, length)
    return head + payload


def decode_frame(buffer: bytes | bytearray) -> tuple[bool, int, bool, bytes, int] | None:
    """Parse the frame at the start of buffer: (fin, opcode, masked, payload, size) or None."""
    if len(buffer) < 2:
        return None
    b1, b2 = buffer[0], buffer[1]
    length, offset = b2 & 0x7F, 2
    if length == 126:
        if len(buffer) < 4:
            return None
        (length,) = struct.unpack_from("!H", buffer, 2)
        offset = 4
    elif length == 127:
        if len(buffer) < 10:
            return None
        (length,) = struct.unpack_from("!Q", buffer, 2)
        offset = 10
    masked = bool(b2 & 0x80)
    mask = b""
    if masked:
        if len(buffer) < offset + 4:
            return None
        mask = bytes(buffer[offset : offset + 4])
        offset += 4
    if len(buffer) < offset + length:
        return None
    payload = bytes(buffer[offset : offset + length])
    if masked:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bool(b1 & 0x80), b1 & 0x0F, masked, payload, offset + length


class _Connection:
    """One accepted client socket; its thread does the handshake, then reads frames."""

    def __init__(self, owner: FakeSocketMode, sock: socket.socket) -> None:
        self.owner = owner
        self.sock = sock
        self.send_lock = threading.Lock()
        self.open = False  # handshake done and not yet closed
        self.closed = threading.Event()
        self.path = ""
        self.thread = threading.Thread(target=self._run, name="FakeSocketMode:conn", daemon=True)

    def send(self, opcode: int, payload: bytes = b"") -> None:
        with self.send_lock:
            self.sock.sendall(encode_frame(opcode, payload))

    def _run(self) -> None:
        try:
            if self._handshake():
                self.owner._opened(self)
                self._read_frames()
        except OSError:
            pass  # the client hung up, or stop() shut the socket
        finally:
            self.owner._closed(self)
            self.closed.set()
            with contextlib.suppress(OSError):
                self.sock.close()

    def _handshake(self) -> bool:
        self.sock.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(4096)
            if not chunk or len(data) > _MAX_HANDSHAKE:
                return False
            data += chunk
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        request_line, *lines = head.split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        verb, _, rest = request_line.partition(" ")
        self.path = rest.rsplit(" ", 1)[0]
        key = headers.get("sec-websocket-key", "")
        upgrade = headers.get("upgrade", "").lower() == "websocket"
        if verb != "GET" or not upgrade or not key or not self.path.startswith("/link"):
            self.sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return False
        self.sock.sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\n"
                "Upgrade: websocket\r\n"
                "Connection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
            ).encode()
        )
        self.sock.settimeout(None)
        return True

    def _read_frames(self) -> None:
        buffer = bytearray()
        message = bytearray()
        interval = self.owner.ping_interval or None
        while not self.owner._stopping.is_set():
            readable, _, _ = select.select([self.sock], [], [], interval)
            if not readable:
                self.send(_PING, f"baton-standin:{time.time():.6f}".encode())
                continue
            chunk = self.sock.recv(65536)
            if not chunk:
                return
            buffer += chunk
            while (frame := decode_frame(buffer)) is not None:
                fin, opcode, masked, payload, size = frame
                del buffer[:size]
                if not masked:
                    self.owner._protocol_error("unmasked client frame")
                if opcode == _PING:
                    self.send(_PONG, payload)
                elif opcode == _PONG:
                    continue
                elif opcode == _CLOSE:
                    with contextlib.suppress(OSError):
                        self.send(_CLOSE, payload[:2])
                    return
                elif opcode in (_TEXT, _CONTINUATION):
                    message += payload
                    if fin:
                        self.owner._received(bytes(message).decode("utf-8", "replace"))
                        message.clear()


class FakeSocketMode:
    """Socket Mode stand-in: one listening socket on 127.0.0.1, a thread per client."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, ping_interval: float = 0.05
    ) -> None:
        self.host = host
        self.port = port
        self.ping_interval = ping_interval
        self.app_id = "A0BATON"
        self.ticket = str(uuid.uuid4())
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._connections: list[_Connection] = []  # accepted, oldest first
        self._acks: list[dict[str, Any]] = []
        self._protocol_errors: list[str] = []
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Listen and accept in a daemon thread; return self."""
        if self._listener is not None:
            return self
        self._stopping.clear()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(16)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._thread = threading.Thread(
            target=self._accept_loop, name=f"FakeSocketMode:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Say goodbye (close frame 1001) to every client, close every socket, join threads."""
        listener, thread = self._listener, self._thread
        if listener is None:
            return
        self._stopping.set()
        if thread is not None:
            thread.join(timeout=5)
        listener.close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            if conn.open:
                with contextlib.suppress(OSError):
                    conn.send(_CLOSE, struct.pack("!H", 1001))
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
        for conn in connections:
            conn.thread.join(timeout=5)
        self._listener = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Return the websocket URL FakeSlack hands out from apps.connections.open."""
        if self._listener is None:
            raise RuntimeError("FakeSocketMode is not started")
        return f"ws://{self.host}:{self.port}/link/?ticket={self.ticket}"

    # -- what tests look at ----------------------------------------------------------------

    @property
    def connections(self) -> int:
        """Return how many clients are connected (handshake done, not closed)."""
        with self._lock:
            return self._open_count()

    @property
    def protocol_errors(self) -> list[str]:
        """Return protocol problems seen: unmasked client frames, text that is not an ack."""
        with self._lock:
            return list(self._protocol_errors)

    def wait_for_connection(self, timeout: float = WAIT, count: int = 1) -> int:
        """Block until `count` clients are connected; return the number connected."""
        return self._wait(
            lambda: self._open_count() if self._open_count() >= count else None,
            timeout,
            f"{count} connection(s)",
        )

    def wait_for_ack(self, envelope_id: str, timeout: float = WAIT) -> dict[str, Any]:
        """Block until the client acks envelope_id; return its ack (maybe with a payload)."""
        ack = self._wait(
            lambda: next((a for a in self._acks if a["envelope_id"] == envelope_id), None),
            timeout,
            f"an ack of {envelope_id}",
        )
        return dict(ack)

    def _wait(self, found: Callable[[], Any], timeout: float, what: str) -> Any:
        """Return found() (called with the lock held) once it is not None."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while (value := found()) is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"FakeSocketMode: expected {what} within {timeout}s; "
                        f"{self._open_count()} connected, "
                        f"acks: {[a['envelope_id'] for a in self._acks]}"
                    )
                self._changed.wait(remaining)
            return value

    def _open_count(self) -> int:
        return sum(1 for c in self._connections if c.open)

    # -- what tests do ---------------------------------------------------------------------

    def send(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        accepts_response_payload: bool = False,
        *,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> str:
        """Deliver an envelope to the oldest connected client; return its envelope_id."""
        if envelope_type not in ENVELOPE_TYPES:
            raise ValueError(f"envelope_type must be one of {ENVELOPE_TYPES}")
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
        }
        self._send_json(envelope)
        return envelope_id

    def _send_json(self, message: dict[str, Any]) -> None:
        with self._lock:
            conn = next((c for c in self._connections if c.open), None)
        if conn is None:
            raise RuntimeError("FakeSocketMode: no client is connected")
        conn.send(_TEXT, json.dumps(message).encode())

    # -- internals -------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stopping.is_set():
            readable, _, _ = select.select([listener], [], [], 0.05)
            if not readable:
                continue
            try:
                sock, _ = listener.accept()
            except OSError:
                continue
            conn = _Connection(self, sock)
            with self._lock:
                self._connections.append(conn)
            conn.thread.start()

    def _opened(self, conn: _Connection) -> None:
        with self._changed:
            conn.open = True
            count = self._open_count()
            self._changed.notify_all()
        hello = {
            "type": "hello",
            "num_connections": count,
            "debug_info": {
                "host": "applink-standin",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.app_id},
        }
        conn.send(_TEXT, json.dumps(hello).encode())

    def _closed(self, conn: _Connection) -> None:
        with self._changed:
            conn.open = False
            if conn in self._connections:
                self._connections.remove(conn)
            self._changed.notify_all()

    def _received(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        with self._changed:
            if isinstance(message, dict) and message.get("envelope_id"):
                self._acks.append(message)
            else:
                self._protocol_errors.append(f"not an ack: {text[:80]!r}")
            self._changed.notify_all()

    def _protocol_error(self, problem: str) -> None:
        with self._lock:
            self._protocol_errors.append(problem)
