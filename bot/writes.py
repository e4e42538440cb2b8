"""A change's writes as a commit script applies them, and the derived entries for other slots.

A conversation's commit is one script in its slot. Writes records each Redis command a change
makes: those on keys of the conversation's slot go to the script as arguments (RUN_WRITES
runs them there), those on keys of other slots are kept apart by slot, as the change's
derived entry, applied once in each of those slots (bot.commit).
"""

from __future__ import annotations

import json
from itertools import chain
from typing import Any

from bot import history

# Run writes given as ARGV from index i on: each is its key's KEYS index, how many
# more arguments it has, the command and those arguments. Two commands are not
# Redis's: LOG adds its arguments to a history (bot.history), turning a stream
# an older Baton wrote into a list first; BLANK empties the named fields of every
# entry of a history, keeping the entries and their order.
RUN_WRITES = (
    history.LOG_AS_LIST
    + """
-- A record of ids seen (Twilio's sids of a conversation's texts, the Slack messages
-- decided on) is a hash of id to '': a short one is a listpack of a few bytes an id,
-- where a set of strings is a hash table of ~100 bytes from its first member (before
-- Redis 7.2). An older Baton kept a set under another name, still consulted (either
-- type is read), so that an older Baton running beside this one, or brought back,
-- finds its own set as it left it.
local function seen(key, id)
  if redis.call('TYPE', key)['ok'] == 'set' then return redis.call('SISMEMBER', key, id) == 1 end
  return redis.call('HEXISTS', key, id) == 1
end
local function seen_in_any(indexes, id)
  for index in string.gmatch(indexes, '%d+') do
    if seen(KEYS[tonumber(index)], id) then return true end
  end
  return false
end
local function blank(key, names)
  log_as_list(key)
  for i, entry in ipairs(redis.call('LRANGE', key, 0, -1)) do
    local object = cjson.decode(entry)
    for name in pairs(names) do
      if object[name] ~= nil then object[name] = '' end
    end
    redis.call('LSET', key, i - 1, cjson.encode(object))
  end
end
local function run(i)
  while i <= #ARGV do
    local count = tonumber(ARGV[i + 1])
    local key = KEYS[tonumber(ARGV[i])]
    if ARGV[i + 2] == 'BLANK' then
      local names = {}
      for j = 1, count do names[ARGV[i + 2 + j]] = true end
      blank(key, names)
    elseif ARGV[i + 2] == 'LOG' then
      log_as_list(key)
      redis.call('RPUSH', key, unpack(ARGV, i + 3, i + 2 + count))
    else
      local command = {ARGV[i + 2], key}
      for j = 1, count do command[j + 2] = ARGV[i + 2 + j] end
      redis.call(unpack(command))
    end
    i = i + 3 + count
  end
end
"""
)


class Writes:
    """The writes of one change, as a script applies them: all or none.

    Writes on keys of the home slot (the first key's) go to the script itself;
    writes on keys of other slots are kept apart, by slot, for a derived entry.
    """

    def __init__(self, *home_keys: str) -> None:
        self.home = hash_tag(home_keys[0])
        self.keys = list(home_keys)
        self._indexes = {key: str(i) for i, key in enumerate(home_keys, 1)}
        self.args: list[str] = []
        self.elsewhere: dict[str, list[list[str]]] = {}

    def _index(self, key: str) -> str:
        if key not in self._indexes:
            self.keys.append(key)
            self._indexes[key] = str(len(self.keys))
        return self._indexes[key]

    def call(self, command: str, key: str, *args: Any) -> None:
        """Add one Redis write command on key."""
        tag = hash_tag(key)
        if tag != self.home:
            self.elsewhere.setdefault(tag, []).append([command, key, *map(str, args)])
            return
        self.args += [self._index(key), str(len(args)), command, *map(str, args)]

    def here(self, command: str, key: str, *args: Any) -> None:
        """Add one Redis write command on key to the script itself, whatever key's slot.

        Only for a single server: on a cluster, key may be on another node.
        """
        self.args += [self._index(key), str(len(args)), command, *map(str, args)]

    def hset(self, key: str, mapping: dict[str, str]) -> None:
        """Set hash fields."""
        self.call("HSET", key, *chain.from_iterable(mapping.items()))

    def xadd(self, key: str, entry: dict[str, str]) -> None:
        """Append an entry to a stream."""
        self.call("XADD", key, "*", *chain.from_iterable(entry.items()))

    def append(self, key: str, entry: dict[str, str]) -> None:
        """Append an entry to a conversation's history (bot.history)."""
        self.call("LOG", key, history.encode(entry))

    def blank(self, key: str, fields: tuple[str, ...]) -> None:
        """Empty these fields in every entry of a history, keeping its entries and their order."""
        self.call("BLANK", key, *fields)

    def seen(self, key: str, id_: str) -> None:
        """Add id_ to the record of ids seen at key (a hash of id to "", which guard() reads)."""
        self.call("HSET", key, id_, "")

    def guard(self, keys: list[str], id_: str) -> list[str]:
        """Return the commit arguments that refuse the change when id_ is in any record of keys."""
        return [",".join(self._index(key) for key in keys), id_]

    def derived(self, number: int, version: int) -> str:
        """Return the derived entry of the writes on other slots ('' when there are none)."""
        if not self.elsewhere:
            return ""
        return json.dumps({"n": number, "v": version, "w": self.elsewhere}, separators=(",", ":"))


class Recorder:
    """Take the pipeline calls of the schedule and counters as writes of a change."""

    def __init__(self, writes: Writes) -> None:
        self.writes = writes

    def zadd(self, key: str, mapping: dict[str, float]) -> None:
        for member, score in mapping.items():
            self.writes.call("ZADD", key, repr(float(score)), member)

    def zrem(self, key: str, *members: Any) -> None:
        self.writes.call("ZREM", key, *members)

    def sadd(self, key: str, *members: Any) -> None:
        self.writes.call("SADD", key, *members)

    def srem(self, key: str, *members: Any) -> None:
        self.writes.call("SREM", key, *members)

    def hincrby(self, key: str, field: str, amount: int = 1) -> None:
        self.writes.call("HINCRBY", key, field, amount)


def hash_tag(key: str) -> str:
    """Return what Redis Cluster hashes of key: its first non-empty {…}, else all of it."""
    start = key.find("{")
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key
