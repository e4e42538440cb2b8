"""What a change writes outside its conversation's slot, beside the report aggregates.

The find index and the retention index (in the index's slot), and the open
conversations, the reminder schedule and the counters (in the directory's).
The commit engine (bot.commit) takes these as part of the change's writes:
applied in its commit on a single Redis, as its derived entry on a cluster.
bot.aggregates does the same for the reports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot import search
from bot.change import Change
from bot.clock import Clock
from bot.metrics import Counters
from bot.store import Keys, block_of
from bot.values import FORGOTTEN, Conversation
from bot.writes import Writes

Schedule = Callable[[Conversation, Any], None]


class Derived:
    """The writes a change makes to the indexes and the directory."""

    def __init__(self, keys: Keys, clock: Clock, schedule: Schedule, counters: Counters) -> None:
        self.keys = keys
        self.clock = clock
        self.schedule = schedule  # keeps the reminder schedule current, in each commit
        self.counters = counters

    def indexes(
        self,
        writes: Writes,
        number: int,
        conv: Conversation,
        change: Change,
        before: Conversation | None,
        stored: list[dict[str, str]],
    ) -> None:
        """Keep the find index and the retention index with the conversation, in its commit."""
        keys = self.keys
        had, has = search.field_terms(before), search.field_terms(conv)
        stored_words = set().union(*(search.text_terms(m.get("body", "")) for m in stored))
        removed, added = (had | change.unindex) - has, has - had
        if change.reindex:
            added = has | stored_words
        if change.erase or change.expire:
            removed |= stored_words
        if conv.customer_number != FORGOTTEN:
            for message in change.messages:
                added |= search.text_terms(message.get("body", ""))
        for term in sorted(removed - added):
            writes.call("SREM", search.term_key(keys, term, number), number)
            if search.in_blocks(term):  # and from the set an older Baton kept it in
                writes.call("SREM", keys.find_term(term), number)
        for term in sorted(added):
            writes.call("SADD", search.term_key(keys, term, number), number)
            if change.reindex and search.in_blocks(term):
                # The backfill moves a term an older Baton kept in one set into its blocks.
                writes.call("SREM", keys.find_term(term), number)
        times = [float(m["at"]) for m in change.messages if m.get("at")]
        if change.erase:
            writes.call("ZREM", keys.find_latest, number)
        elif times:
            writes.call("ZADD", keys.find_latest, max(times), number)
        elif before is None or change.reindex:
            latest = [float(m["at"]) for m in stored if m.get("at")]
            writes.call("ZADD", keys.find_latest, max(latest, default=conv.created_at), number)

        was_closed = before is not None and before.status == "closed"
        if change.erase or change.expire or (was_closed and conv.status != "closed"):
            writes.call("ZREM", keys.texts_kept, number)
        elif conv.status == "closed" and conv.customer_number != FORGOTTEN:
            if not was_closed:
                writes.call("ZADD", keys.texts_kept, self.clock.now(), number)
            elif change.reindex:
                # Closed before retention existed: counted from now, never from a guess.
                writes.call("ZADD", keys.texts_kept, "NX", self.clock.now(), number)

    def directory(self, conv: Conversation, change: Change, pipe: Any) -> None:
        """Keep the open conversations, the reminder schedule and the counters with it.

        pipe takes these as pipeline calls (a Recorder of the change's writes).
        """
        # Lists read the open conversations and then each conversation itself.
        block = self.keys.active_block(block_of(conv.number))
        if conv.status == "closed":
            pipe.srem(block, conv.number)
            pipe.zrem(self.keys.active, conv.number)  # where an older Baton kept it
        else:
            # An older Baton's entry stays until it closes: brought back, that Baton
            # still lists what was open before the upgrade.
            pipe.sadd(block, conv.number)
        self.schedule(conv, pipe)
        for name in change.counted:
            self.counters.add(name, pipe=pipe)
