"""Free local ports for the servers a test starts (gunicorn, Redis, cluster nodes).

A port the kernel hands out with bind(port 0) comes from its ephemeral range
(Linux: 32,768 to 60,999), where any process's next outgoing connection may
take it between the test closing it and its server binding it, and where a
cluster node cannot run (its bus port, 10,000 higher, would pass 65,535).
These come from below that range instead, checked free when chosen.
"""

from __future__ import annotations

import random
import socket

LOWEST, HIGHEST = 10_000, 22_000


def free_port(*, also: int | None = None) -> int:
    """Return a free port from LOWEST to HIGHEST; with also, port + also is free too."""
    chooser = random.SystemRandom()
    for _attempt in range(200):
        port = chooser.randint(LOWEST, HIGHEST)
        wanted = [port] if also is None else [port, port + also]
        sockets = [socket.socket() for _ in wanted]
        try:
            for sock, number in zip(sockets, wanted, strict=True):
                sock.bind(("127.0.0.1", number))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return port
    pair = "" if also is None else f" with port + {also} free too"
    raise AssertionError(f"no free port from {LOWEST} to {HIGHEST}{pair}")
