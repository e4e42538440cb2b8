"""Read and validate config/baton.yml: business, queues, response targets, reply policy."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
import yaml

from config.settings import ConfigError
from config.templates import BRACED, CSAT_FIELDS, TEMPLATE_FIELDS

DURATION = re.compile(r"^(\d+)([smhd])$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DEFAULT_TEMPLATES = {
    "first_response": "Hi {first_name}, this is {agent_name} from {business}. Thanks for your message: we're on it and will get back to you {timeframe}.",
    "handoff": "Hi {first_name}, I'm passing you to {agent_name} on our {team} team, who will take it from here.",
    "waiting": "Hi {first_name}, just checking in: we're waiting on your reply to go ahead. No rush!",
    "after_hours": "Thanks for texting {business}. We're closed now and will reply after {opens_at}.",
}
DEFAULT_CSAT_ASK = "Thanks for contacting {business}! How did we do? Reply 1 (poor) to 5 (great)."
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
SLACK_CHANNEL = re.compile(r"^[CG][A-Z0-9]{2,}$")


@dataclass(frozen=True)
class ResponseTargets:
    """How fast a human reply is due, and when to remind and escalate (seconds)."""

    first_response: int = 15 * 60
    next_response: int = 60 * 60
    urgent: int = 5 * 60
    warn_at: float = 0.75
    escalate_after: float = 2.0
    sweep_interval: int = 15


@dataclass(frozen=True)
class Shift:
    """A stretch of a weekly rota: on these days, from start to end, these people own new texts.

    An end at or before the start means the shift runs past midnight.
    """

    days: frozenset[int]
    start: time
    end: time
    users: tuple[str, ...]


@dataclass(frozen=True)
class Queue:
    """A team's inbox: a Slack channel, the words that route texts to it, and who is on duty."""

    name: str
    channel: str
    keywords: tuple[str, ...] = ()
    default: bool = False
    response_targets: ResponseTargets | None = None
    shifts: tuple[Shift, ...] = ()
    on_call: str | None = None


@dataclass(frozen=True)
class Account:
    """A customer the config gives an account owner (and a name)."""

    phone: str
    owner: str
    name: str | None = None


@dataclass(frozen=True)
class Business:
    """Who the business is and when it is open."""

    name: str = "Baton"
    country: str = "US"
    timezone: str = "UTC"
    # weekday (0 = Monday) -> list of (open, close); empty dict means always open.
    hours: dict[int, tuple[tuple[time, time], ...]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()


@dataclass(frozen=True)
class Csat:
    """Asking customers to rate a resolved conversation, by text, in its thread."""

    enabled: bool = False
    ask: str = DEFAULT_CSAT_ASK
    thanks: str | None = None  # texted after a rating; None sends nothing
    within: int = 24 * 3600  # how long after the question a reply may be a rating
    cooldown: int = 7 * 86400  # no second question to the same customer within this


@dataclass(frozen=True)
class DigestTime:
    """When the weekly digest is due: a weekday (0 = Monday) and a time, in the business's zone."""

    weekday: int
    at: time


@dataclass(frozen=True)
class ReportsConfig:
    """Where the weekly digest goes, and when (None: no digest)."""

    channel: str | None = None
    digest: DigestTime | None = None


@dataclass(frozen=True)
class BatonConfig:
    """The whole validated config file."""

    business: Business
    queues: tuple[Queue, ...]
    response_targets: ResponseTargets = field(default_factory=ResponseTargets)
    urgent_keywords: tuple[str, ...] = ("urgent",)
    reply_policy: str = "owner"
    note_prefix: str = "//"
    slash_command: str = "/sms"
    admins: frozenset[str] = frozenset()
    templates: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TEMPLATES))
    accounts: tuple[Account, ...] = ()
    # Seconds a closed conversation's texts are kept (None: kept until forgotten).
    retention: int | None = None
    csat: Csat = field(default_factory=Csat)
    reports: ReportsConfig = field(default_factory=ReportsConfig)

    @property
    def default_queue(self) -> Queue:
        """Return the queue that takes texts no keyword routes elsewhere."""
        return next(q for q in self.queues if q.default)

    def queue(self, name: str) -> Queue | None:
        """Return the queue with this name, if any."""
        return next((q for q in self.queues if q.name == name), None)

    def targets_for(self, queue_name: str) -> ResponseTargets:
        """Return the response targets in force for a queue."""
        queue = self.queue(queue_name)
        if queue is not None and queue.response_targets is not None:
            return queue.response_targets
        return self.response_targets


class _Reader:
    """Collect problems while walking the YAML tree, naming each key by its path."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{self.source}: {path}: {message}")

    def mapping(self, path: str, value: Any, allowed: set[str]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, "must be a mapping of keys to values")
            return {}
        for key in value:
            if key not in allowed:
                self.fail(
                    f"{path}.{key}" if path else str(key),
                    f"unknown key (expected one of: {', '.join(sorted(allowed))})",
                )
        return value

    def text(self, path: str, value: Any, default: str) -> str:
        if value is None:
            return default
        if not isinstance(value, str) or not value.strip():
            self.fail(path, f"must be a non-empty string, got {value!r}")
            return default
        return value

    def words(self, path: str, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(w, str) and w.strip() for w in value):
            self.fail(path, "must be a list of words, like [price, quote]")
            return ()
        return tuple(w.strip().lower() for w in value)

    def duration(self, path: str, value: Any, default: int) -> int:
        if value is None:
            return default
        match = DURATION.match(str(value).strip())
        if not match or int(match.group(1)) == 0:
            self.fail(
                path, f"bad duration {value!r} (use a number and s, m, h or d, like 90s or 15m)"
            )
            return default
        return int(match.group(1)) * UNIT_SECONDS[match.group(2)]

    def fraction(self, path: str, value: Any, default: float, low: float, high: float) -> float:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or not low < value <= high:
            self.fail(path, f"must be a number above {low} and at most {high}, got {value!r}")
            return default
        return float(value)


def _targets(r: _Reader, path: str, raw: Any, base: ResponseTargets) -> ResponseTargets:
    keys = {
        "first_response",
        "next_response",
        "urgent",
        "warn_at",
        "escalate_after",
        "sweep_interval",
    }
    data = r.mapping(path, raw, keys)
    return ResponseTargets(
        first_response=r.duration(
            f"{path}.first_response", data.get("first_response"), base.first_response
        ),
        next_response=r.duration(
            f"{path}.next_response", data.get("next_response"), base.next_response
        ),
        urgent=r.duration(f"{path}.urgent", data.get("urgent"), base.urgent),
        warn_at=r.fraction(f"{path}.warn_at", data.get("warn_at"), base.warn_at, 0.0, 1.0),
        escalate_after=r.fraction(
            f"{path}.escalate_after", data.get("escalate_after"), base.escalate_after, 1.0, 100.0
        ),
        sweep_interval=r.duration(
            f"{path}.sweep_interval", data.get("sweep_interval"), base.sweep_interval
        ),
    )


def _clock_time(r: _Reader, path: str, text: str) -> time | None:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not match or int(match.group(1)) > 24 or int(match.group(2)) > 59:
        r.fail(path, f"bad time {text!r} (use HH:MM)")
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour == 24:
        if minute:
            r.fail(path, f"bad time {text!r} (use HH:MM)")
            return None
        return time(23, 59, 59, 999999)
    return time(hour, minute)


def _holidays(r: _Reader, raw: Any) -> frozenset[date]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list):
        r.fail("business.holidays", 'must list dates, like ["2026-12-25"]')
        return frozenset()
    days = set()
    for item in raw:
        try:
            days.add(item if isinstance(item, date) else date.fromisoformat(str(item)))
        except ValueError:
            r.fail("business.holidays", f"bad date {item!r} (use YYYY-MM-DD)")
    return frozenset(days)


def _templates(r: _Reader, raw: Any) -> dict[str, str]:
    templates = dict(DEFAULT_TEMPLATES)
    if raw is None:
        return templates
    if not isinstance(raw, dict):
        r.fail("templates", "must map template names to texts")
        return templates
    for name, text in raw.items():
        path = f"templates.{name}"
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", str(name)):
            r.fail(path, "template names use lowercase letters, digits and _")
            continue
        if not isinstance(text, str) or not text.strip():
            r.fail(path, "must be a non-empty text")
            continue
        _placeholders(r, path, text, TEMPLATE_FIELDS)
        templates[str(name)] = text
    return templates


def _placeholders(r: _Reader, path: str, text: str, known: tuple[str, ...]) -> None:
    """Check a template's placeholders by name: a known one may still lack a value when filled."""
    for placeholder in dict.fromkeys(BRACED.findall(text)):
        if placeholder not in known:
            names = ", ".join("{" + p + "}" for p in known)
            r.fail(path, f"unknown placeholder {{{placeholder}}} (known: {names})")


def _csat(r: _Reader, raw: Any) -> Csat:
    data = r.mapping("csat", raw, {"enabled", "ask", "thanks", "within", "cooldown"})
    enabled = data.get("enabled", False)
    if not isinstance(enabled, bool):
        r.fail("csat.enabled", f"must be true or false, got {enabled!r}")
        enabled = False
    texts: dict[str, str | None] = {"ask": DEFAULT_CSAT_ASK, "thanks": None}
    for key in ("ask", "thanks"):
        text = data.get(key)
        if text is None:
            continue
        if not isinstance(text, str) or not text.strip():
            r.fail(f"csat.{key}", f"must be a non-empty text, got {text!r}")
            continue
        _placeholders(r, f"csat.{key}", text, CSAT_FIELDS)
        texts[key] = text
    return Csat(
        enabled=enabled,
        ask=texts["ask"] or DEFAULT_CSAT_ASK,
        thanks=texts["thanks"],
        within=r.duration("csat.within", data.get("within"), Csat.within),
        cooldown=r.duration("csat.cooldown", data.get("cooldown"), Csat.cooldown),
    )


def _digest_time(r: _Reader, raw: Any, timezone: str) -> DigestTime | None:
    if raw is None:
        return None
    day, _, wall = str(raw).strip().lower().partition(" ")
    at = re.fullmatch(r"(\d{1,2}):(\d{2})", wall.strip())
    if day not in DAYS or not at or int(at.group(1)) > 23 or int(at.group(2)) > 59:
        r.fail(
            "reports.digest",
            f"bad time {raw!r} (use a day and a 24-hour time in the business's time zone, "
            'like "mon 09:00")',
        )
        return None
    moment = time(int(at.group(1)), int(at.group(2)))
    if _nonexistent(timezone, moment):
        r.fail(
            "reports.digest",
            f"{moment:%H:%M} does not exist on DST change days in {timezone}; pick a time outside the skipped hour",
        )
        return None
    return DigestTime(DAYS.index(day), moment)


def _reports(r: _Reader, raw: Any, timezone: str) -> ReportsConfig:
    data = r.mapping("reports", raw, {"channel", "digest"})
    channel = data.get("channel")
    if channel is not None and not (isinstance(channel, str) and SLACK_CHANNEL.match(channel)):
        r.fail("reports.channel", f"must be a Slack channel ID like C0123ABCD, got {channel!r}")
        channel = None
    digest = _digest_time(r, data.get("digest"), timezone)
    if "digest" in data and "channel" not in data:
        r.fail("reports.channel", "is required when reports.digest is set: the digest's channel ID")
    return ReportsConfig(channel=channel, digest=digest)


def _hours(r: _Reader, raw: Any) -> dict[int, tuple[tuple[time, time], ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        r.fail("business.hours", 'must map days to times, like mon-fri: "09:00-18:00"')
        return {}
    hours: dict[int, list[tuple[time, time]]] = {}
    for days, spans in raw.items():
        path = f"business.hours.{days}"
        first, _, last = str(days).lower().partition("-")
        if first not in DAYS or (last and last not in DAYS):
            r.fail(path, "unknown day (use mon … sun, or a range like mon-fri)")
            continue
        start_day, end_day = DAYS.index(first), DAYS.index(last or first)
        if end_day < start_day:
            r.fail(path, "day range runs backwards (write it like mon-fri)")
            continue
        for span in str(spans).split(","):
            opens, sep, closes = span.partition("-")
            start, end = _clock_time(r, path, opens), _clock_time(r, path, closes) if sep else None
            if not sep:
                r.fail(path, f'bad hours {spans!r} (use "09:00-18:00")')
            if start is None or end is None:
                continue
            if end <= start:
                r.fail(
                    path, f"closing time {closes.strip()} is not after opening time {opens.strip()}"
                )
                continue
            for day in range(start_day, end_day + 1):
                hours.setdefault(day, []).append((start, end))
    for day, spans in hours.items():
        spans.sort()
        for (_, first_end), (second_start, _) in itertools.pairwise(spans):
            if second_start < first_end:
                r.fail("business.hours", f"opening hours overlap on {DAYS[day]}")
                break
    return {day: tuple(spans) for day, spans in hours.items()}


def _business(r: _Reader, raw: Any) -> Business:
    data = r.mapping("business", raw, {"name", "country", "timezone", "hours", "holidays"})
    country = r.text("business.country", data.get("country"), "US").upper()
    if country not in phonenumbers.SUPPORTED_REGIONS:
        r.fail(
            "business.country", f"unknown country code {country!r} (use two letters, like US or GB)"
        )
    timezone = r.text("business.timezone", data.get("timezone"), "UTC")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        r.fail(
            "business.timezone",
            f"unknown time zone {timezone!r} (use a name like America/New_York)",
        )
        timezone = "UTC"
    return Business(
        name=r.text("business.name", data.get("name"), "Baton"),
        country=country,
        timezone=timezone,
        hours=_hours(r, data.get("hours")),
        holidays=_holidays(r, data.get("holidays")),
    )


def _keywords(r: _Reader, path: str, raw: Any) -> tuple[str, ...]:
    """Return keyword rules: words (lowercased) and /regular expressions/ (kept as typed)."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(w, str) and w.strip() for w in raw):
        r.fail(path, "must be a list of words or /regular expressions/, like [price, quote]")
        return ()
    rules = []
    for rule in raw:
        rule = rule.strip()
        if len(rule) > 2 and rule.startswith("/") and rule.endswith("/"):
            try:
                re.compile(rule[1:-1])
            except re.error as exc:
                r.fail(path, f"bad regular expression {rule} ({exc})")
                continue
            rules.append(rule)
        else:
            rules.append(rule.lower())
    return tuple(rules)


def _days(r: _Reader, path: str, raw: Any) -> frozenset[int]:
    days: set[int] = set()
    for part in str(raw or "").lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            r.fail(
                path,
                f"unknown days {raw!r} (use mon … sun, ranges like mon-fri, or lists like sat,sun)",
            )
            return frozenset()
        start, end = DAYS.index(first), DAYS.index(last or first)
        days.update(
            range(start, end + 1) if end >= start else [*range(start, 7), *range(0, end + 1)]
        )
    return frozenset(days)


def _nonexistent(timezone: str, wall: time) -> bool:
    """Tell whether wall-clock time `wall` is skipped on some DST change day in timezone."""
    zone = ZoneInfo(timezone)
    for year in (2026, 2027, 2028):
        for month in range(1, 13):
            for day in range(1, 32):
                try:
                    moment = datetime(year, month, day, wall.hour, wall.minute, tzinfo=zone)
                except ValueError:
                    continue
                back = datetime.fromtimestamp(moment.timestamp(), zone)
                if (back.hour, back.minute) != (wall.hour, wall.minute):
                    return True
    return False


def _shifts(r: _Reader, path: str, raw: Any, timezone: str) -> tuple[Shift, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        r.fail(
            path,
            'must list shifts, like - {days: mon-fri, hours: "09:00-17:00", users: [U0123ABCD]}',
        )
        return ()
    shifts: list[Shift] = []
    for index, item in enumerate(raw):
        where = f"{path}[{index}]"
        data = r.mapping(where, item, {"days", "hours", "users"})
        days = _days(r, f"{where}.days", data.get("days"))
        opens, sep, closes = str(data.get("hours") or "").partition("-")
        start = _clock_time(r, f"{where}.hours", opens) if sep else None
        end = _clock_time(r, f"{where}.hours", closes) if sep else None
        if not sep:
            r.fail(f"{where}.hours", 'must be like "09:00-17:00" (or "22:00-06:00" past midnight)')
        users = data.get("users")
        if (
            not isinstance(users, list)
            or not users
            or not all(isinstance(u, str) and SLACK_USER.match(u) for u in users)
        ):
            r.fail(f"{where}.users", "must list Slack user IDs, like [U0123ABCD]")
            users = []
        for wall in (start, end):
            if wall is not None and _nonexistent(timezone, wall):
                r.fail(
                    f"{where}.hours",
                    f"{wall:%H:%M} does not exist on DST change days in {timezone}; pick a time outside the skipped hour",
                )
        if days and start is not None and end is not None and users:
            shifts.append(Shift(days, start, end, tuple(users)))
    for first_index, first in enumerate(shifts):
        for second in shifts[first_index + 1 :]:
            if _overlap(first, second):
                r.fail(path, f"shifts overlap ({_describe(first)} and {_describe(second)})")
    return tuple(shifts)


def _minutes(shift: Shift) -> list[tuple[int, int]]:
    """Return the shift's spans as minutes of the week (0 = Monday 00:00)."""
    start = shift.start.hour * 60 + shift.start.minute
    end = shift.end.hour * 60 + shift.end.minute
    length = end - start if end > start else end + 1440 - start
    return [(day * 1440 + start, day * 1440 + start + length) for day in shift.days]


def _overlap(first: Shift, second: Shift) -> bool:
    week = 7 * 1440
    for a_start, a_end in _minutes(first):
        for b_start, b_end in _minutes(second):
            for shift_by in (-week, 0, week):
                if a_start < b_end + shift_by and b_start + shift_by < a_end:
                    return True
    return False


def _describe(shift: Shift) -> str:
    days = ",".join(DAYS[d] for d in sorted(shift.days))
    return f"{days} {shift.start:%H:%M}-{shift.end:%H:%M}"


def _e164(text: str, country: str) -> str | None:
    """Return a phone number written in the config as E.164, or None if it is not one."""
    # config/ stands on libraries only; sms.numbers reads numbers people type the same way.
    try:
        number = phonenumbers.parse(text.strip(), country)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _accounts(r: _Reader, raw: Any, country: str) -> tuple[Account, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        r.fail("accounts", 'must list accounts, like - {phone: "+12127365000", owner: U0123ABCD}')
        return ()
    accounts = []
    for index, item in enumerate(raw):
        path = f"accounts[{index}]"
        data = r.mapping(path, item, {"phone", "owner", "name"})
        phone = _e164(str(data.get("phone") or ""), country)
        if phone is None:
            r.fail(f"{path}.phone", f"{data.get('phone')!r} is not a phone number")
            continue
        owner = data.get("owner")
        if not isinstance(owner, str) or not SLACK_USER.match(owner):
            r.fail(f"{path}.owner", f"{owner!r} is not a Slack user ID (like U0123ABCD)")
            continue
        name = data.get("name")
        accounts.append(Account(phone, owner, str(name) if name else None))
    return tuple(accounts)


def _queues(
    r: _Reader, raw: Any, base: ResponseTargets, timezone: str = "UTC"
) -> tuple[Queue, ...]:
    if not isinstance(raw, list) or not raw:
        r.fail("queues", "must list at least one queue, each with a name and a channel")
        return ()
    queues: list[Queue] = []
    for index, item in enumerate(raw):
        path = f"queues[{index}]"
        data = r.mapping(
            path,
            item,
            {"name", "channel", "keywords", "default", "response_targets", "shifts", "on_call"},
        )
        for required in ("name", "channel"):
            if isinstance(item, dict) and data.get(required) is None:
                r.fail(f"{path}.{required}", "is required")
        name = r.text(f"{path}.name", data.get("name"), "")
        channel = r.text(f"{path}.channel", data.get("channel"), "")
        if channel and not SLACK_CHANNEL.match(channel):
            r.fail(f"{path}.channel", f"must be a Slack channel ID like C0123ABCD, got {channel!r}")
        if name and any(q.name == name for q in queues):
            r.fail(f"{path}.name", f"queue {name!r} is defined twice")
        default = data.get("default", False)
        if not isinstance(default, bool):
            r.fail(f"{path}.default", "must be true or false")
            default = False
        targets = None
        if data.get("response_targets") is not None:
            targets = _targets(r, f"{path}.response_targets", data["response_targets"], base)
        on_call = data.get("on_call")
        if on_call is not None and not (isinstance(on_call, str) and SLACK_USER.match(on_call)):
            r.fail(f"{path}.on_call", f"{on_call!r} is not a Slack user ID (like U0123ABCD)")
            on_call = None
        if name and channel:
            queues.append(
                Queue(
                    name,
                    channel,
                    _keywords(r, f"{path}.keywords", data.get("keywords")),
                    default,
                    targets,
                    _shifts(r, f"{path}.shifts", data.get("shifts"), timezone),
                    on_call,
                )
            )
    defaults = [q.name for q in queues if q.default]
    if queues and not defaults:
        r.fail("queues", "no default queue: mark one queue with default: true")
    if len(defaults) > 1:
        r.fail("queues", f"only one queue may be the default, found {', '.join(defaults)}")
    return tuple(queues)


def _retention(r: _Reader, raw: Any) -> int | None:
    """Return how long closed conversations' texts are kept, or None to keep them."""
    if raw is None:
        return None
    seconds = r.duration("retention", raw, 0)
    if seconds and seconds < UNIT_SECONDS["d"]:
        # 180m is three hours, not six months: a unit mistake would erase texts at once.
        r.fail(
            "retention",
            f"{raw!r} is less than a day (m is minutes); give days, like 180d, or omit "
            "retention to keep texts",
        )
    return seconds or None


def parse_config(raw: Any, source: str = "config") -> BatonConfig:
    """Validate an already-parsed YAML document, raising ConfigError naming each bad key."""
    r = _Reader(source)
    top = r.mapping(
        "",
        raw,
        {
            "business",
            "queues",
            "response_targets",
            "urgent_keywords",
            "reply_policy",
            "note_prefix",
            "slash_command",
            "admins",
            "templates",
            "accounts",
            "retention",
            "csat",
            "reports",
        },
    )
    targets = _targets(r, "response_targets", top.get("response_targets"), ResponseTargets())
    reply_policy = r.text("reply_policy", top.get("reply_policy"), "owner")
    if reply_policy not in ("owner", "anyone"):
        r.fail("reply_policy", f"must be owner or anyone, got {reply_policy!r}")
    slash_command = r.text("slash_command", top.get("slash_command"), "/sms")
    if not re.fullmatch(r"/[a-z0-9_-]{1,31}", slash_command):
        r.fail(
            "slash_command",
            f"must look like /sms (a slash, then lowercase letters), got {slash_command!r}",
        )
    admins = r.words("admins", top.get("admins"))
    for admin in admins:
        if not SLACK_USER.match(admin.upper()):
            r.fail("admins", f"{admin!r} is not a Slack user ID (like U0123ABCD)")
    business = _business(r, top.get("business"))
    retention = _retention(r, top.get("retention"))
    config = BatonConfig(
        business=business,
        queues=_queues(r, top.get("queues"), targets, business.timezone),
        accounts=_accounts(r, top.get("accounts"), business.country),
        response_targets=targets,
        urgent_keywords=r.words("urgent_keywords", top.get("urgent_keywords")) or ("urgent",),
        reply_policy=reply_policy,
        note_prefix=r.text("note_prefix", top.get("note_prefix"), "//"),
        slash_command=slash_command,
        admins=frozenset(a.upper() for a in admins),
        templates=_templates(r, top.get("templates")),
        retention=retention,
        csat=_csat(r, top.get("csat")),
        reports=_reports(r, top.get("reports"), business.timezone),
    )
    if r.problems:
        raise ConfigError(r.problems)
    return config


def load_config(path: Path) -> BatonConfig:
    """Read and validate the YAML config file at path."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the config file ({exc.strerror})"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError([f"{path}: not valid YAML{where}"]) from None
    return parse_config(raw, str(path))
