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

from bot.store import Keys
from bot.values import FORGOTTEN, Conversation, Status
from sms.numbers import InvalidNumber, normalise

WORD = re.compile(r"\w+")
LONGEST_WORD = 40  # longer runs (a pasted link's path, a code) are not worth a term each
MOST_WORDS = 300  # distinct words indexed per text; an SMS of 1600 characters has fewer
STATUSES: tuple[Status, ...] = ("open", "pending", "closed")
FILTERS = ("tag", "status", "queue", "owner")
MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
PHONE_PART = re.compile(r"^[+\d().-]+$")
BLOCK = 512  # conversation numbers per block of a few-valued term: Redis's default intset limit
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
    return keys.find_block(term, number // BLOCK) if in_blocks(term) else keys.find_term(term)


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
    return Query(tuple(dict.fromkeys(parts)))


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


# Answer a query in the index's slot, in one step: KEYS[1] is the last-activity
# set, KEYS[2] the result's scratch key, then each part's keys: its one term's
# set, or a scratch key for the union followed by the terms' sets. ARGV[1] is how
# many to return, then each part's number of terms. Returns the total and the
# numbers, newest first.
_FIND = """
local sets, weights, scratch, k = {KEYS[1]}, {'1'}, {KEYS[2]}, 3
for i = 2, #ARGV do
  local n = tonumber(ARGV[i])
  if n == 1 then
    sets[#sets + 1] = KEYS[k]
    k = k + 1
  else
    local united, terms = KEYS[k], {}
    for j = 1, n do terms[j] = KEYS[k + j] end
    redis.call('SUNIONSTORE', united, unpack(terms))
    sets[#sets + 1] = united
    scratch[#scratch + 1] = united
    k = k + 1 + n
  end
  weights[#weights + 1] = '0'
end
local args = {'ZINTERSTORE', KEYS[2], #sets}
for _, key in ipairs(sets) do args[#args + 1] = key end
args[#args + 1] = 'WEIGHTS'
for _, weight in ipairs(weights) do args[#args + 1] = weight end
local total = redis.call(unpack(args))
local numbers = redis.call('ZREVRANGE', KEYS[2], 0, tonumber(ARGV[1]) - 1)
redis.call('DEL', unpack(scratch))
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

        One script in the index's slot: each part's terms (and a few-valued
        term's blocks) are united, the parts intersected with the last-activity
        set (whose scores order the result), smallest set first, so the cost
        follows the rarest term.
        """
        if not query.parts:
            return Found((), 0)
        # The blocks a conversation can be in so far: up to the newest one's number.
        blocks = range(int(self.redis.get(self.keys.sequence) or 0) // BLOCK + 1)
        token = uuid.uuid4().hex
        keys = [self.keys.find_latest, self.keys.find_scratch(token, "result")]
        counts = []
        for i, part in enumerate(query.parts):
            sets = []
            for term in part:
                sets.append(self.keys.find_term(term))
                if in_blocks(term):
                    sets += [self.keys.find_block(term, block) for block in blocks]
            if len(sets) > 1:
                keys.append(self.keys.find_scratch(token, str(i)))
            keys += sets
            counts.append(len(sets))
        total, numbers = self._find(keys=keys, args=[limit, *counts])
        return Found(tuple(int(n) for n in numbers), int(total))
