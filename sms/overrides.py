"""Twilio's webhook connection overrides: the ones Baton asks for, and reading them from a URL.

Twilio reads them from the webhook URL's fragment, for example
``https://baton.example.com/twilio/sms#ct=2000&rt=5000&tt=15000&rc=5&rp=5xx,ct,rt``
(https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides). A
fragment never reaches the server, so Baton cannot learn it from a request:
``RETRIES`` here is the one statement of what the number's SMS URL carries, which
``python -m bot webhooks`` sets, ``doctor`` checks and the signature check knows.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

# What rp may name; "all" stands for every one of them.
POLICIES = ("4xx", "5xx", "ct", "rt")
# Twilio's defaults where the fragment is silent (the page above).
DEFAULT_RETRY_COUNT = 1
DEFAULT_TOTAL_TIME_MS = 15000


@dataclass(frozen=True)
class ConnectionOverrides:
    """Twilio's connection overrides for one webhook URL; None or () means Twilio's default."""

    connect_timeout_ms: int | None = None  # ct: 100 to 10000, default 5000
    read_timeout_ms: int | None = None  # rt: 100 to 15000, default 15000
    total_time_ms: int | None = None  # tt: 100 to 15000, default 15000, caps every attempt together
    retry_count: int | None = None  # rc: 0 to 5, default 1
    retry_policy: tuple[str, ...] = ()  # rp: failures worth a retry, among POLICIES or "all"

    @classmethod
    def of(cls, url: str) -> ConnectionOverrides:
        """Return the overrides in url's fragment (all defaults when it has none)."""
        fields = dict(parse_qsl(url.partition("#")[2], keep_blank_values=True))
        policy = fields.get("rp", "")
        return cls(
            connect_timeout_ms=_number(fields.get("ct")),
            read_timeout_ms=_number(fields.get("rt")),
            total_time_ms=_number(fields.get("tt")),
            retry_count=_number(fields.get("rc")),
            retry_policy=tuple(p.strip() for p in policy.split(",") if p.strip()),
        )

    @property
    def fragment(self) -> str:
        """Return the overrides as Twilio reads them after '#', in the order its page lists them."""
        pairs = [
            ("ct", self.connect_timeout_ms),
            ("rt", self.read_timeout_ms),
            ("tt", self.total_time_ms),
            ("rc", self.retry_count),
        ]
        fields = [f"{key}={value}" for key, value in pairs if value is not None]
        if self.retry_policy:
            fields.append("rp=" + ",".join(self.retry_policy))
        return "&".join(fields)

    def on(self, url: str) -> str:
        """Return url (without any fragment it had) carrying these overrides."""
        address = url.partition("#")[0]
        return f"{address}#{self.fragment}" if self.fragment else address

    def shortfalls(self, wanted: ConnectionOverrides) -> list[str]:
        """Return how these overrides retry less than wanted does, one phrase each.

        Only what decides whether a failed attempt is retried counts: the retry
        count, the policy and the total time. Shorter or longer timeouts are a
        matter of taste, not weaker.
        """
        missing = []
        count = _or(self.retry_count, DEFAULT_RETRY_COUNT)
        if count < _or(wanted.retry_count, DEFAULT_RETRY_COUNT):
            missing.append(f"rc={count} retries fewer times than rc={wanted.retry_count}")
        have = _expanded(self.retry_policy)
        needed = [p for p in _expanded(wanted.retry_policy) if p not in have]
        if not self.retry_policy:
            # Twilio's default policy covers failed connections, never an HTTP
            # answer; which timeouts exactly it leaves out, its page does not say.
            answers = [p for p in needed if p in ("4xx", "5xx")]
            if answers:
                missing.append(f"no rp, so Twilio does not retry on {', '.join(answers)}")
        elif needed:
            missing.append(
                f"rp={','.join(self.retry_policy)} does not retry on {', '.join(needed)}"
            )
        total = _or(self.total_time_ms, DEFAULT_TOTAL_TIME_MS)
        if total < _or(wanted.total_time_ms, DEFAULT_TOTAL_TIME_MS):
            missing.append(
                f"tt={total} gives all attempts less time than tt={wanted.total_time_ms}"
            )
        return missing


# Baton answers 503 while it cannot store a text (Redis unreachable), so Twilio
# must retry 5xx answers as well as failed connections (ct) and answers that
# never came (rt). Never 4xx: a 403 (forged) or 400 (malformed) answer would be
# the same on every attempt. rc=5 is the most Twilio allows and tt=15000 its
# largest budget for all attempts together. ct=2000 allows one lost SYN (resent
# after 1 s) yet keeps six failed connects inside tt; rt=5000 is far above
# Baton's usual answer (milliseconds), and a read timeout is retried as well.
# A text stored by an attempt Twilio gave up on is not posted twice: every
# attempt carries the same MessageSid.
# Twilio documents no pause between attempts, so they outlast a Redis outage
# only as far as Baton's failing attempts last; spreading six over tt takes
# about 2.5 s each before the 503. With REDIS_URL, Baton answers at once today
# (README, "Connect Slack and Twilio").
RETRIES = ConnectionOverrides(
    connect_timeout_ms=2000,
    read_timeout_ms=5000,
    total_time_ms=15000,
    retry_count=5,
    retry_policy=("5xx", "ct", "rt"),
)


def _number(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _expanded(policy: tuple[str, ...]) -> tuple[str, ...]:
    return POLICIES if "all" in policy else policy
