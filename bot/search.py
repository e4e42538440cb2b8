"""Finding conversations: the terms a conversation is indexed by, and the queries people type.

The index is a small inverted index in Redis: one set of conversation numbers
per term, written by the commit engine in the same transaction as the texts and
fields the terms come from (see ``bot.commit``), so a stored text is findable
at once and an erasure takes its words with it. Terms are namespaced, so a word
of a text and a word of the customer's name can be removed apart:

- ``w:crown``: a word of a text, either direction;
- ``n:sarah``: a word of the customer's name;
- ``p:+12127365000``: the customer's number, E.164;
- ``tag:billing``, ``status:pending``, ``owner:U0ALEX``, ``queue:sales``.

A few-valued term (a status, queue, tag or owner) names a large share of all
conversations: its numbers are kept in blocks of ``BLOCK`` consecutive ones,
a set each, which Redis stores as an array of small integers (an intset, up
to ``set-max-intset-entries``, 512 by default): a few bytes a conversation
instead of the ~80 of a member of one large set. A query unites a term's
blocks. Such a term's set from before the blocks is still read, and left
by a change, so a conversation an older Baton indexed is found as before.

Words are Unicode word runs of the text after NFKC normalisation and
casefolding, so ``Crown``, ``CROWN`` and ``crown`` are one term and ``Zoë``
matches ``zoë``; whole words only (``appoint`` does not find ``appointment``).
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import redis

from bot.store import BLOCK, Keys, block_of, blocks_through, newest_number
from bot.values import FORGOTTEN, Conversation, Status
from sms.numbers import InvalidNumber, normalise

WORD = re.compile(r"\w+")
LONGEST_WORD = 40  # longer runs (a pasted link's path, a code) are not worth a term each
MOST_WORDS = 300  # distinct words indexed per text; an SMS of 1600 characters has fewer
STATUSES: tuple[Status, ...] = ("open", "pending", "closed")
FILTERS = ("tag", "status", "queue", "owner")
MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
PHONE_PART = re.compile(r"^[+\d().-]+$")
MOST_PARTS = 30  # words and filters in one query: each is a set the query's script reads
BLOCKED = ("status:", "queue:", "tag:", "owner:")


def words(text: str) -> set[str]:
    """Return the distinct words of text, casefolded."""
    found: set[str] = set()
    for word in WORD.findall(unicodedata.normalize("NFKC", text or "").casefold()):
        if len(word) <= LONGEST_WORD:
            found.add(word)
            if len(found) >= MOST_WORDS:
                break
    return found


def text_terms(body: str) -> set[str]:
    """Return the index terms of a text's body."""
    return {f"w:{w}" for w in words(body)}


def field_terms(conv: Conversation | None) -> set[str]:
    """Return the index terms of a conversation's own fields (none once its customer is erased)."""
    if conv is None or conv.customer_number == FORGOTTEN:
        return set()
    terms = {
        f"p:{conv.customer_number}",
        f"status:{conv.status}",
        f"queue:{conv.queue}",
        *(f"tag:{t}" for t in conv.tags),
        *(f"n:{w}" for w in words(conv.customer_name or "")),
    }
    if conv.owner:
        terms.add(f"owner:{conv.owner}")
    return terms


def in_blocks(term: str) -> bool:
    """Tell whether term is a few-valued one, whose numbers are kept in blocks."""
    return term.startswith(BLOCKED)


def term_key(keys: Keys, term: str, number: int) -> str:
    """Return the key that indexes conversation number under term."""
    return keys.find_block(term, block_of(number)) if in_blocks(term) else keys.find_term(term)


def is_text_term(term: str) -> bool:
    """Tell whether term comes from a text's words (what retention erases)."""
    return term.startswith("w:")


class BadQuery(ValueError):
    """A query the person typed wrong: which kind of mistake (filter, status, queue, person) and the word."""

    def __init__(self, kind: str, word: str) -> None:
        super().__init__(f"{kind}: {word}")
        self.kind = kind
        self.word = word


@dataclass(frozen=True)
class Query:
    """What to find: each part is a set of terms, any of which matches; every part must match."""

    parts: tuple[tuple[str, ...], ...]


def still_matches(query: Query, conv: Conversation) -> bool:
    """Tell whether conv still has each status, queue, tag or owner query asks for.

    The index follows a change right after its commit (on a cluster, a moment
    after), and an older Baton running beside this one keeps only the sets it
    knew: a conversation found that no longer has a filter's value is not shown.
    """
    has = field_terms(conv)
    return all(
        not all(in_blocks(term) for term in part) or has.intersection(part) for part in query.parts
    )


def filters(query: Query) -> set[str]:
    """Return the statuses, queues, tags and owners query asks for."""
    return {term for part in query.parts for term in part if in_blocks(term)}


def parse_query(text: str, region: str, queues: Iterable[str]) -> Query:
    """Read what a person typed after find into a Query; BadQuery says what was wrong."""
    queue_names = set(queues)
    tokens = (text or "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").split()
    parts: list[tuple[str, ...]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        mention = MENTION.match(token)
        if mention:
            parts.append((f"owner:{mention.group(1)}",))
            i += 1
            continue
        if token.startswith("@"):
            raise BadQuery("person", token)
        name, colon, value = token.partition(":")
        if colon and name.isalpha() and value and not token.startswith("<"):
            parts.append(_filter(name.lower(), value, queue_names))
            i += 1
            continue
        phone, used = _phone(tokens, i, region)
        if phone:
            parts.append((f"p:{phone}",))
            i += used
            continue
        for word in sorted(words(token)):
            parts.append((f"w:{word}", f"n:{word}"))
        i += 1
    query = Query(tuple(dict.fromkeys(parts)))
    if len(query.parts) > MOST_PARTS:
        raise BadQuery("long", str(MOST_PARTS))
    return query


def _filter(name: str, value: str, queues: set[str]) -> tuple[str, ...]:
    if name not in FILTERS:
        raise BadQuery("filter", f"{name}:")
    if name == "owner":
        mention = MENTION.match(value)
        if not mention:
            raise BadQuery("person", value)
        return (f"owner:{mention.group(1)}",)
    value = value.lower()
    if name == "status" and value not in STATUSES:
        raise BadQuery("status", value)
    if name == "queue" and value not in queues:
        raise BadQuery("queue", value)
    return (f"{name}:{value}",)


def _phone(tokens: list[str], start: int, region: str) -> tuple[str | None, int]:
    """Return the phone number tokens[start:] begins with (up to five words) and how many words it took."""
    for count in range(min(5, len(tokens) - start), 0, -1):
        chunk = tokens[start : start + count]
        if not all(PHONE_PART.match(t) for t in chunk):
            continue
        candidate = " ".join(chunk)
        if sum(c.isdigit() for c in candidate) < 7:
            continue
        try:
            return normalise(candidate, region, strict=False), count
        except InvalidNumber:
            continue
    return None, 0


@dataclass(frozen=True)
class Found:
    """The newest conversations a query matched (their numbers, newest first) and how many matched."""

    numbers: tuple[int, ...]
    total: int


# Answer a query in the index's slot, in one step. KEYS[1] is the last-activity
# set, KEYS[2] the result's scratch key, then for each part a scratch key for its
# union and its terms' keys: a term's set, and after it a few-valued term's blocks.
# ARGV[1] is how many to return, ARGV[2] the numbers per block, ARGV[3] how many
# blocks a few-valued term has; then each part's number of terms, each followed by
# '1' for a few-valued term, else '0'.
#
# The cost follows the rarest part: the parts are intersected with the
# last-activity set (whose scores order the result), smallest first, in Redis's
# own commands (a part of several sets, or of blocks, united first); a part much
# larger than the smallest (a status most conversations have beside a phone
# number) is not united: each number found is looked up in it instead (a
# few-valued term in its set and in the number's block). Returns the total and
# the numbers, newest first.
_FIND = """
local limit, per_block, blocks = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local LOOKED_UP = 8 -- a part this many times the smallest's size is looked up, not united
local parts, k, a = {}, 3, 4
while a <= #ARGV do
  local part = {scratch = KEYS[k], terms = {}, size = 0}
  k = k + 1
  for j = 1, tonumber(ARGV[a]) do
    local blocked = ARGV[a + j] == '1'
    local term = {first = k, count = blocked and 1 + blocks or 1, blocked = blocked}
    for i = term.first, term.first + term.count - 1 do
      part.size = part.size + redis.call('SCARD', KEYS[i])
    end
    part.terms[j] = term
    k = k + term.count
  end
  parts[#parts + 1] = part
  a = a + 1 + #part.terms
end
local function united(part)
  local terms = part.terms
  if #terms == 1 and not terms[1].blocked then return KEYS[terms[1].first] end
  for _, term in ipairs(terms) do
    for first = term.first, term.first + term.count - 1, 5000 do
      local chunk = {}
      for i = first, math.min(first + 4999, term.first + term.count - 1) do
        chunk[#chunk + 1] = KEYS[i]
      end
      redis.call('SUNIONSTORE', part.scratch, part.scratch, unpack(chunk))
    end
  end
  return part.scratch
end
local function holds(part, number)
  for _, term in ipairs(part.terms) do
    if redis.call('SISMEMBER', KEYS[term.first], number) == 1 then return true end
    if term.blocked then
      local block = math.floor(tonumber(number) / per_block)
      if block < blocks and redis.call('SISMEMBER', KEYS[term.first + 1 + block], number) == 1 then
        return true
      end
    end
  end
  return false
end
local by_size = {}
for i, part in ipairs(parts) do by_size[i] = part end
table.sort(by_size, function(x, y) return x.size < y.size end)
local least = math.max(by_size[1].size, 1)
local sets, weights, looked_up = {KEYS[1]}, {1}, {}
for _, part in ipairs(by_size) do
  if #sets > 1 and part.size > LOOKED_UP * least then
    looked_up[#looked_up + 1] = part
  else
    sets[#sets + 1] = united(part)
    weights[#weights + 1] = 0
  end
end
local intersect = {'ZINTERSTORE', KEYS[2], #sets}
for _, key in ipairs(sets) do intersect[#intersect + 1] = key end
intersect[#intersect + 1] = 'WEIGHTS'
for _, weight in ipairs(weights) do intersect[#intersect + 1] = weight end
redis.call(unpack(intersect))
if #looked_up > 0 then
  for _, number in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    for _, part in ipairs(looked_up) do
      if not holds(part, number) then
        redis.call('ZREM', KEYS[2], number)
        break
      end
    end
  end
end
local total = redis.call('ZCARD', KEYS[2])
local numbers = redis.call('ZREVRANGE', KEYS[2], 0, limit - 1)
redis.call('DEL', KEYS[2])
for _, part in ipairs(parts) do redis.call('DEL', part.scratch) end
return {total, numbers}
"""


class Index:
    """Answer queries from the inverted index the commit engine keeps."""

    def __init__(self, redis_client: redis.Redis, keys: Keys) -> None:
        self.redis = redis_client
        self.keys = keys
        self._find = redis_client.register_script(_FIND)

    def find(self, query: Query, limit: int) -> Found:
        """Return the newest (latest text first) conversations that match every part of query.

        One script in the index's slot (_FIND), whose cost follows the rarest part.
        """
        if not query.parts:
            return Found((), 0)
        # The blocks a conversation can be in so far: up to the newest one's number.
        blocks = blocks_through(newest_number(self.redis, self.keys))
        token = uuid.uuid4().hex
        keys = [self.keys.find_latest, self.keys.find_scratch(token, "result")]
        args: list[int | str] = [limit, BLOCK, len(blocks)]
        for i, part in enumerate(query.parts):
            keys.append(self.keys.find_scratch(token, str(i)))
            args.append(len(part))
            for term in part:
                keys.append(self.keys.find_term(term))
                if in_blocks(term):
                    keys += [self.keys.find_block(term, block) for block in blocks]
                args.append("1" if in_blocks(term) else "0")
        total, numbers = self._find(keys=keys, args=args)
        return Found(tuple(int(n) for n in numbers), int(total))
