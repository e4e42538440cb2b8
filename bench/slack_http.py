"""What a Slack Web API call costs the calling process: slack_sdk's client against Baton's.

The Slack stand-in runs in a process of its own (so its work is not counted), over TLS with
a throwaway certificate by default, as slack.com is reached; `--plain` for plain HTTP. One
thread makes `--calls` calls to chat.postMessage with each client in turn, `--rounds` times:
slack_sdk's WebClient (urllib: a connection, and a TLS handshake, per call) and Baton's
KeepAliveWebClient (slack/client.py: urllib3's pool, one connection kept). Printed per
client: the median over rounds of CPU and wall time per call in this process.

    .venv/bin/python -m bench.slack_http
    .venv/bin/python -m bench.slack_http --plain
"""

from __future__ import annotations

import argparse
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from slack_sdk import WebClient

from slack.client import KeepAliveWebClient

SERVER = """
import ssl, sys, time
from standins import FakeSlack
port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
slack = FakeSlack(port=port).start()
slack.add_channel("C0BENCH", "bench")
if cert:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    slack._httpd.socket = context.wrap_socket(slack._httpd.socket, server_side=True)
print("ready", flush=True)
time.sleep(3600)
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _certificate(workdir: Path) -> tuple[Path, Path]:
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _time(client: WebClient, calls: int) -> tuple[float, float]:
    client.chat_postMessage(channel="C0BENCH", text="warm up")
    cpu, wall = time.process_time(), time.monotonic()
    for n in range(calls):
        client.chat_postMessage(channel="C0BENCH", text=f"call {n}")
    return (time.process_time() - cpu) / calls, (time.monotonic() - wall) / calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.slack_http", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--plain", action="store_true", help="plain HTTP instead of TLS")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="baton-slack-http-") as tmp:
        cert, key = ("", "") if args.plain else _certificate(Path(tmp))
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(port), str(cert), str(key)],
            cwd=root,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None and server.stdout.readline().strip() == "ready"
            scheme = "http" if args.plain else "https"
            url = f"{scheme}://127.0.0.1:{port}/api/"
            context = None if args.plain else ssl.create_default_context(cafile=str(cert))
            clients = {
                "slack_sdk WebClient (a connection per call)": WebClient,
                "KeepAliveWebClient (one kept-alive connection)": KeepAliveWebClient,
            }
            figures: dict[str, list[tuple[float, float]]] = {name: [] for name in clients}
            for _round in range(args.rounds):
                for name, kind in clients.items():
                    client = kind(token="xoxb-bench", base_url=url, ssl=context)
                    figures[name].append(_time(client, args.calls))
        finally:
            server.kill()
            server.wait()
    print(
        f"{args.calls} chat.postMessage calls x {args.rounds} rounds, "
        f"{'plain HTTP' if args.plain else 'TLS'}, stand-in in its own process; medians"
    )
    for name, runs in figures.items():
        cpu = statistics.median(c for c, _w in runs) * 1000
        wall = statistics.median(w for _c, w in runs) * 1000
        print(f"  {name:<48} {cpu:6.3f} ms CPU   {wall:6.3f} ms wall   per call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
