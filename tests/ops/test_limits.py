"""The web worker's refusal of a request that arrived whole while it is over capacity."""

from __future__ import annotations

import socket

from ops.limits import MAX_REQUEST_BYTES, _refused_whole

TEXT = b"Body=hi&From=%2B15551234567"
POST = (
    b"POST /twilio/sms HTTP/1.1\r\nHost: baton\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\n"
    b"Content-Length: %d\r\n\r\n" % len(TEXT)
)


def pair() -> tuple[socket.socket, socket.socket]:
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname(), timeout=5)
    server, _ = listener.accept()
    listener.close()
    return client, server


def test_a_post_that_arrived_whole_is_answered_503_and_closed() -> None:
    client, server = pair()
    client.sendall(POST + TEXT)
    client.shutdown(socket.SHUT_WR)

    assert _refused_whole(server)
    answer = client.recv(1024)
    assert answer.startswith(b"HTTP/1.1 503 ")
    assert b"\r\nRetry-After: 1\r\n" in answer
    assert b"\r\nConnection: close\r\n" in answer
    assert client.recv(1024) == b""  # closed, and cleanly: not reset
    client.close()


def test_a_request_not_yet_whole_or_not_a_post_is_left_to_a_thread() -> None:
    for sent in (b"", POST, POST + TEXT[:-1], b"GET /healthz HTTP/1.1\r\nHost: baton\r\n\r\n"):
        client, server = pair()
        if sent:
            client.sendall(sent)
        assert not _refused_whole(server)
        # Nothing was read: the thread that takes it finds it all.
        server.settimeout(1)
        assert server.recv(MAX_REQUEST_BYTES, socket.MSG_PEEK) == sent if sent else True
        client.close()
        server.close()
