"""A conversation's history: its texts and its events, oldest first, in its own slot.

Each is a Redis list of JSON objects (an entry's fields). Nothing reads them
through a consumer group, so a list does: a stream costs a node of
``stream-node-max-bytes`` (512 on the embedded server, 4 KB by default) even
for one entry, a short list a few dozen bytes. Baton before this kept them as
streams; those are read as they are and turned into lists by the
conversation's next commit (``LOG_AS_LIST``), so nothing needs migrating.
"""

from __future__ import annotations

import json

import redis

from bot.store import Keys
from bot.values import Event

# Lua: the entries of a history, a list or a stream an older Baton wrote, as JSON
# objects; and turning a stream into the list of its entries, in place, in order.
LOG_AS_LIST = """
local function log_entries(key)
  if redis.call('TYPE', key)['ok'] ~= 'stream' then return redis.call('LRANGE', key, 0, -1) end
  local entries = {}
  for _, entry in ipairs(redis.call('XRANGE', key, '-', '+')) do
    local fields, object = entry[2], {}
    for i = 1, #fields, 2 do object[fields[i]] = fields[i + 1] end
    entries[#entries + 1] = cjson.encode(object)
  end
  return entries
end
local function log_as_list(key)
  if redis.call('TYPE', key)['ok'] ~= 'stream' then return end
  local entries = log_entries(key)
  redis.call('DEL', key)
  for first = 1, #entries, 1000 do
    redis.call('RPUSH', key, unpack(entries, first, math.min(first + 999, #entries)))
  end
end
"""

_READ = LOG_AS_LIST + "return log_entries(KEYS[1])"


def encode(entry: dict[str, str]) -> str:
    """Return an entry as a history stores it."""
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))


class History:
    """Read conversations' texts and events."""

    def __init__(self, redis_client: redis.Redis, keys: Keys) -> None:
        self.keys = keys
        self._read = redis_client.register_script(_READ)

    def messages(self, number: int) -> list[dict[str, str]]:
        """Return the conversation's texts in both directions, oldest first."""
        return self._entries(self.keys.messages(number))

    def events(self, number: int) -> list[Event]:
        """Return the conversation's ownership and status events, oldest first."""
        return [Event.from_fields(fields) for fields in self._entries(self.keys.events(number))]

    def _entries(self, key: str) -> list[dict[str, str]]:
        return [json.loads(entry) for entry in self._read(keys=[key])]
