"""FakeSocketMode against slack_sdk's built-in client and against a raw socket."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.response import SocketModeResponse

from standins import FakeSlack, FakeSocketMode
from standins.socket_mode import accept_key, decode_frame
from tests.dialog import eventually


@pytest.fixture
def server() -> Iterator[FakeSocketMode]:
    with FakeSocketMode() as fake:
        yield fake


def test_rfc_6455_sample_accept_key() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_slack_sdk_client_round_trips_a_large_envelope_and_closes_cleanly(
    server: FakeSocketMode,
) -> None:
    before = set(threading.enumerate())
    with FakeSlack() as slack:
        slack.socket_mode_url = server.url
        web = WebClient(token="xoxb-test", base_url=f"{slack.url}/api/")
        client = SocketModeClient("xapp-1-test", web_client=web)

        def answer(client: SocketModeClient, req) -> None:  # type: ignore[no-untyped-def]
            response = {"echo": len(req.payload["text"])}
            client.send_socket_mode_response(SocketModeResponse(req.envelope_id, response))

        client.socket_mode_request_listeners.append(answer)
        client.connect()
        assert server.wait_for_connection() == 1
        # 70 kB needs the 64-bit length form; the ack (>125 bytes) comes back masked.
        envelope = server.send("slash_commands", {"text": "x" * 70_000}, True)
        assert server.wait_for_ack(envelope) == {
            "envelope_id": envelope,
            "payload": {"echo": 70_000},
        }
        started = time.monotonic()
        client.close()
        assert time.monotonic() - started < 2  # the stand-in's pings unblock the client's recv
    assert server.protocol_errors == []
    eventually(lambda: not (set(threading.enumerate()) - before))
    assert server.connections == 0


def _masked(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", (0x80 if fin else 0) | opcode, 0x80 | len(payload)) + mask + body


def _read_frame(sock: socket.socket) -> tuple[int, bytes]:
    buffer = b""
    while (frame := decode_frame(buffer)) is None:
        buffer += sock.recv(4096)
    return frame[1], frame[3]  # opcode, payload


def test_raw_client_handshake_ping_fragments_and_goodbye() -> None:
    server = FakeSocketMode(ping_interval=0).start()  # no pings: frames arrive in a known order
    try:
        with pytest.raises(RuntimeError):
            server.send("events_api", {})
        host, port = server.url.removeprefix("ws://").split("/")[0].split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            key = base64.b64encode(os.urandom(16)).decode()
            sock.sendall(
                f"GET /link/?ticket={server.ticket} HTTP/1.1\r\nHost: {host}\r\n"
                f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n".encode()
            )
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(1)
            assert head.startswith(b"HTTP/1.1 101 ")
            assert f"Sec-WebSocket-Accept: {accept_key(key)}".encode() in head
            opcode, hello = _read_frame(sock)
            assert opcode == 0x1
            assert json.loads(hello)["type"] == "hello"
            assert json.loads(hello)["connection_info"] == {"app_id": "A0BATON"}

            sock.sendall(_masked(0x9, b"are you there"))
            assert _read_frame(sock) == (0xA, b"are you there")

            envelope = server.send("events_api", {"event": {}})
            opcode, sent = _read_frame(sock)
            assert json.loads(sent)["envelope_id"] == envelope
            ack = json.dumps({"envelope_id": envelope}).encode()
            sock.sendall(_masked(0x1, ack[:10], fin=False) + _masked(0x0, ack[10:]))
            assert server.wait_for_ack(envelope) == {"envelope_id": envelope}

            server.stop()
            assert _read_frame(sock) == (0x8, struct.pack("!H", 1001))
    finally:
        server.stop()


def test_a_plain_http_request_is_refused(server: FakeSocketMode) -> None:
    host, port = server.url.removeprefix("ws://").split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /link/ HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400 ")
    assert server.connections == 0
