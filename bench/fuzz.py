"""Fuzz run: malformed requests to every route of Baton under gunicorn, signed and unsigned.

Run from the repository root::

    .venv/bin/python -m bench.fuzz                   # 12,000 requests (about 4 minutes)
    .venv/bin/python -m bench.fuzz --requests 2000 --seed 7

One run starts a fresh embedded Redis, a FakeSlack and a FakeTwilio in this
process and Baton under gunicorn (2 gthread workers, as ``bench.inbound``),
texts once so conversation #1 and its card exist, sends every shape as Slack
and Twilio send it (each must be accepted), then sends ``--requests`` requests
made by ``standins.malformed.Fuzzer`` from a seeded ``random.Random``, over one
keep-alive connection (a new one only where Baton said ``Connection: close``).

It counts, per route and signed or not: the answers by status, any 5xx, any
request refused (4xx) after which Redis (every key of the run's prefix) or the
stand-ins' call logs had changed, and connections Baton dropped without saying
``Connection: close``. Then it reads gunicorn's log (LOG_LEVEL=INFO) for
tracebacks, ERROR lines and full phone numbers.

Exit status 0 when all of those are zero, 1 otherwise, 2 when the bench could not run.
"""

from __future__ import annotations

import argparse
import http.client
import re
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from random import Random
from urllib.parse import quote, urlencode

import redis

from bench.inbound import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    BUSINESS_NUMBER,
    HOST,
    ROOT,
    Baton,
    BenchError,
    baton_env,
    free_port,
    machine,
    start_redis,
    tree,
)
from standins.actors import inbound_form
from standins.malformed import Fuzzer, Request, Target, snapshot

CUSTOMER = "+15557650123"
# A full number in a log line: 10 digits or more, with or without its +, not inside
# a longer token (a MessageSid's hex digits).
FULL_NUMBER = re.compile(r"(?<![\w+])\+?\d{10,15}\b")
SIGNING_SECRET = "x"  # what bench.inbound.baton_env gives Baton


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fuzz", description=__doc__.split("\n\n")[0]
    )
    add = parser.add_argument
    add("--requests", type=int, default=12_000, help="fuzzed requests to send (12000)")
    add("--seed", type=int, default=1, help="random seed (1)")
    add("--workers", type=int, default=2, help="gunicorn workers (2)")
    add("--threads", type=int, default=8, help="gunicorn gthread threads per worker (8)")
    add("--delivery-threads", type=int, default=2, help="BATON_DELIVERY_THREADS (2)")
    add("--log-level", default="INFO", help="Baton's LOG_LEVEL (INFO, as in production)")
    add("--show", type=int, default=5, help="examples of each problem to print (5)")
    args = parser.parse_args(argv)
    # What bench.inbound's helpers read.
    args.redis_url, args.hours, args.gunicorn_args = None, "always-open", ""
    return args


class Connection:
    """One keep-alive connection to Baton, opened again only where Baton closed it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None
        self.dropped = 0  # closed by Baton without a Connection: close first

    def send(self, request: Request) -> tuple[int, bytes]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        # As a client sends them: header values as UTF-8 bytes, whatever they hold.
        headers = {
            k: v.encode() if isinstance(v, str) else v
            for k, v in request.headers.items()
            if k.lower() != "content-length"
        }
        try:
            path = quote(request.path, safe="/?&=%+:;,@!$'()*~")  # as a client encodes it
            self.conn.request(request.method, path, body=request.body, headers=headers)
            response = self.conn.getresponse()
            body = response.read()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.dropped += 1
            self.conn.close()
            self.conn = None
            return self.send(request)
        if (response.getheader("Connection") or "").lower() == "close":
            self.conn.close()
            self.conn = None
        return response.status, body


def settled(client: redis.Redis, prefix: str, stand_ins: tuple, limit: float = 5.0) -> tuple:
    """Return (Redis snapshot, stand-in call counts) once two looks 100 ms apart agree."""
    deadline = time.monotonic() + limit
    last = (snapshot(client, prefix), tuple(len(s.calls) for s in stand_ins))
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = (snapshot(client, prefix), tuple(len(s.calls) for s in stand_ins))
        if now == last:
            return now
        last = now
    return last


# What changes on its own time: a job Slack refused (a fuzzed channel) is retried
# for minutes, each attempt noting its state and counting a retry, then dead-lettered;
# a channel's cached member list expires after a few minutes. A refused request is
# judged on everything else.
RETRY_BOOKKEEPING = re.compile(
    r".*:(\{[^}]+\}:(sms-)?delivery|\{[a-z]+-dead\}:letters|metrics|channel-members:\{[^}]+\})$"
)


def changed_keys(before: dict, after: dict) -> list[str]:
    """Return the keys whose value differs, but the outbox workers' own bookkeeping."""
    keys = set(before) | set(after)
    return sorted(
        k for k in keys if before.get(k) != after.get(k) and not RETRY_BOOKKEEPING.match(k)
    )


def quiet_config(workdir: Path) -> Path:
    """Return the shipped config, always open and with no reminder due during the run.

    Otherwise the clock's own work (a reminder falling due, its card refresh)
    would change Redis while a refused request is being judged.
    """
    import yaml

    config = yaml.safe_load((ROOT / "config" / "baton.yml").read_text())
    config.get("business", {}).pop("hours", None)
    config["response_targets"] = {"first_response": "7d", "next_response": "7d", "urgent": "7d"}
    path = workdir / "fuzz.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def route(request: Request) -> str:
    return f"{request.path.split('?')[0]} {'signed' if request.signed else 'unsigned'}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from standins import FakeSlack, FakeTwilio

    run = uuid.uuid4().hex[:12]
    prefix = f"bench-fuzz-{run}"
    workdir = Path(tempfile.mkdtemp(prefix="baton-fuzz-"))
    slack = FakeSlack().start()
    slack.add_channel("C0123GENERAL", "general")
    slack.add_channel("C0123SALES", "sales")
    slack.add_channel("C0123SCHED", "scheduling")
    slack.add_user("U0ALEX", "alex", real_name="Alex Rivera", display_name="Alex")
    twilio = FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN).start()
    twilio.add_number(BUSINESS_NUMBER)
    server = None
    baton: Baton | None = None
    try:
        redis_url, server, _pid = start_redis(args, workdir)
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        port = free_port()
        public_url = f"http://{HOST}:{port}"
        env = baton_env(args, port, slack.url, twilio.url, redis_url, prefix, workdir)
        env["BATON_CONFIG"] = str(quiet_config(workdir))
        baton = Baton(args, env, port, workdir / "gunicorn.log")
        baton.wait_healthy()
        print(f"fuzz: {tree()} on {machine()}; Baton on :{port}, seed {args.seed}", flush=True)

        # Conversation #1 with its card, for the requests to aim at.
        fuzzer = Fuzzer(
            slack_signing_secret=SIGNING_SECRET,
            twilio_auth_token=AUTH_TOKEN,
            public_url=public_url,
            business_number=BUSINESS_NUMBER,
        )
        form = inbound_form(CUSTOMER, BUSINESS_NUMBER, "hello from the fuzz run")
        signature = fuzzer.twilio.compute_signature(f"{public_url}/twilio/sms", form)
        first = Request(
            "POST",
            "/twilio/sms",
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
            },
            urlencode(form).encode(),
            "first text",
            True,
        )
        connection = Connection(port)
        status, _ = connection.send(first)
        if status != 200:
            raise BenchError(f"the first text got {status}")
        deadline = time.monotonic() + 30
        while not (
            cards := [
                m
                for m in slack.messages("C0123GENERAL")
                if "thread_ts" not in m or m.get("thread_ts") in (None, m["ts"])
            ]
        ):
            if time.monotonic() > deadline:
                raise BenchError("the first card was not posted in 30 s\n" + baton.tail())
            time.sleep(0.1)
        fuzzer.target = Target(
            channel="C0123GENERAL",
            card_ts=cards[0]["ts"],
            response_url=f"{slack.url}/respond/fuzz",
        )
        refused_as_sent = [
            (r.what, s) for r in fuzzer.as_sent() if (s := connection.send(r)[0]) // 100 != 2
        ]

        stand_ins = (slack, twilio)
        answers: dict[str, Counter[int]] = defaultdict(Counter)
        problems: dict[str, list[str]] = defaultdict(list)
        rng = Random(args.seed)
        state = settled(client, prefix, stand_ins)
        started = time.monotonic()
        for index in range(args.requests):
            request = fuzzer.request(rng)
            status, body = connection.send(request)
            answers[route(request)][status] += 1
            said = f"{status} for {route(request)}: {request.what[:120]} -> {body[:120]!r}"
            if status >= 500:
                problems["5xx"].append(said)
            if 400 <= status < 500:
                now = settled(client, prefix, stand_ins)
                changed = changed_keys(state[0], now[0])
                if changed:
                    problems["refused, yet Redis changed"].append(f"{said} {changed}")
                if now[1] != state[1]:
                    problems["refused, yet Slack or Twilio was called"].append(said)
                state = now
            else:
                state = settled(client, prefix, stand_ins)
            if (index + 1) % 2000 == 0:
                print(f"fuzz: {index + 1} sent", flush=True)
        seconds = time.monotonic() - started

        log = (workdir / "gunicorn.log").read_text(errors="replace").splitlines()
        for line in log:
            if "Traceback" in line:
                problems["traceback in the log"].append(line[:200])
            elif " ERROR " in line or '"level": "ERROR"' in line:
                problems["ERROR in the log"].append(line[:200])
            if FULL_NUMBER.search(line.replace(BUSINESS_NUMBER, "")):
                problems["full number in the log"].append(line[:200])
        if connection.dropped:
            problems["connection dropped without Connection: close"].append(
                f"{connection.dropped} times"
            )
        for what, status in refused_as_sent:
            problems["a request as sent was refused"].append(f"{status} for {what}")

        print(f"\n{args.requests:,} requests in {seconds:.0f} s, seed {args.seed}\n")
        print(f"| {'route':<28} | {'sent':>6} | {'2xx':>5} | {'4xx':>5} | {'5xx':>3} | answers")
        print(f"|{'-' * 30}|{'-' * 8}|{'-' * 7}|{'-' * 7}|{'-' * 5}|---------")
        for name in sorted(answers):
            counts = answers[name]

            def by(c: int, counts: Counter[int] = counts) -> int:
                return sum(n for s, n in counts.items() if s // 100 == c)

            spread = ", ".join(f"{s}: {n}" for s, n in sorted(counts.items()))
            print(
                f"| {name:<28} | {sum(counts.values()):>6} | {by(2):>5} | {by(4):>5} "
                f"| {by(5):>3} | {spread}"
            )
        print(
            f"\nlog lines read: {len(log)}; connections reopened after Connection: close: "
            f"{sum(c.get(413, 0) for c in answers.values())} 413s"
        )
        kinds = [
            "5xx",
            "refused, yet Redis changed",
            "refused, yet Slack or Twilio was called",
            "connection dropped without Connection: close",
            "traceback in the log",
            "ERROR in the log",
            "full number in the log",
            "a request as sent was refused",
        ]
        for kind in kinds:
            print(f"{kind}: {len(problems[kind])}")
            for example in problems[kind][: args.show]:
                print(f"    {example}")
        failed = any(problems[kind] for kind in kinds)
        print("\ntarget: every count above is 0 —", "NOT MET" if failed else "met")
        return 1 if failed else 0
    except BenchError as exc:
        print(f"fuzz: {exc}", file=sys.stderr)
        return 2
    finally:
        if baton is not None:
            baton.stop()
        slack.stop()
        twilio.stop()
        if server is not None:
            server.shutdown()


if __name__ == "__main__":
    sys.exit(main())
