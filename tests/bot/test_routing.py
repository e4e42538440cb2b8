"""Routing, assignment and the rota as pure functions: role, person, shift, and their blend."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.calendar import BusinessCalendar
from bot.rota import duty_key, next_duty, on_duty
from bot.routing import assign, route
from config import ConfigError
from config.file import parse_config
from tests.dialog import ny

NY = ZoneInfo("America/New_York")
BLEND = """
business:
  name: Acme Dental
  timezone: America/New_York
  hours: {mon-fri: "09:00-18:00"}
queues:
  - name: sales
    channel: C0123SALES
    keywords: [price, quote, estimate, "/\\\\bx-?rays?\\\\b/"]
    shifts:
      - {days: mon-fri, hours: "09:00-13:00", users: [U0ALEX, U0BLAIR]}
      - {days: mon-fri, hours: "13:00-18:00", users: [U0CASEY]}
  - name: scheduling
    channel: C0123SCHED
    keywords: [reschedule, appointment, time]
    on_call: U0DANA
    shifts:
      - {days: "fri,sat", hours: "22:00-06:00", users: [U0EVE]}
  - name: general
    channel: C0123GENERAL
    default: true
accounts:
  - {phone: "+12127365000", owner: U0ALEX, name: Sarah Lee}
"""


@pytest.fixture
def config():
    return parse_config(yaml.safe_load(BLEND), "blend.yml")


@pytest.fixture
def calendar(config):
    return BusinessCalendar(
        config.business.timezone, config.business.hours, config.business.holidays
    )


def nobody_away(_user: str) -> bool:
    return False


def no_load(_user: str) -> int:
    return 0


@pytest.mark.parametrize(
    ("text", "queue", "rule"),
    [
        ("What's the PRICE of a crown?", "sales", "price"),
        ("Can I get quotes for two fillings", "sales", "quote"),
        ("I need an X-ray", "sales", "/\\bx-?rays?\\b/"),
        ("xrays please", "sales", "/\\bx-?rays?\\b/"),
        ("I'd like to reschedule", "scheduling", "reschedule"),
        ("Appointments available?", "scheduling", "appointment"),
        ("priceless smile thanks", "general", None),
        ("What time and what price?", "sales", "price"),  # first matching rule in file order
        ("hello", "general", None),
    ],
)
def test_keywords_match_whole_words_any_case_with_plurals(config, text, queue, rule):
    result = route(text, config)
    assert (result.queue.name, result.rule) == (queue, rule)


def test_the_reason_names_the_rule(config):
    assert route("price?", config).reason == "keyword price → sales"
    assert route("hi", config).reason == "no keyword matched, so the default queue"


def test_an_account_owner_gets_their_customer_while_available(config, calendar):
    at = ny(2026, 11, 17, 10, 0)
    result = assign(
        "hi", config, calendar, at, account_owner="U0ALEX", is_away=nobody_away, load=no_load
    )
    assert (result.owner, result.how, result.reason) == (
        "U0ALEX",
        "account",
        "account owner <@U0ALEX>",
    )


def test_an_away_account_owner_falls_back_to_the_shift(config, calendar):
    at = ny(2026, 11, 17, 10, 0)
    result = assign(
        "price?",
        config,
        calendar,
        at,
        account_owner="U0ALEX",
        is_away=lambda u: u == "U0ALEX",
        load=no_load,
    )
    assert (result.owner, result.how) == ("U0BLAIR", "shift")
    assert result.reason == "account owner <@U0ALEX> is away; on shift"


def test_off_hours_account_owner_falls_back_to_the_queue(config, calendar):
    at = ny(2026, 11, 17, 20, 0)
    result = assign(
        "hi", config, calendar, at, account_owner="U0ALEX", is_away=nobody_away, load=no_load
    )
    assert (result.owner, result.how) == (None, "queue")
    assert result.reason == "account owner <@U0ALEX> is off hours; unclaimed"


def test_the_shift_takes_new_texts_least_loaded_first(config, calendar):
    at = ny(2026, 11, 17, 10, 0)
    loads = {"U0ALEX": 3, "U0BLAIR": 1}
    result = assign(
        "quote?", config, calendar, at, account_owner=None, is_away=nobody_away, load=loads.get
    )
    assert result.owner == "U0BLAIR"
    afternoon = assign(
        "quote?",
        config,
        calendar,
        ny(2026, 11, 17, 14, 0),
        account_owner=None,
        is_away=nobody_away,
        load=no_load,
    )
    assert afternoon.owner == "U0CASEY"


def test_no_one_on_shift_leaves_it_to_the_queue(config, calendar):
    result = assign(
        "quote?",
        config,
        calendar,
        ny(2026, 11, 17, 19, 0),
        account_owner=None,
        is_away=nobody_away,
        load=no_load,
    )
    assert (result.owner, result.reason) == (None, "no one is on shift; unclaimed")
    everyone_away = assign(
        "quote?",
        config,
        calendar,
        ny(2026, 11, 17, 10, 0),
        account_owner=None,
        is_away=lambda u: True,
        load=no_load,
    )
    assert everyone_away.reason == "everyone on shift is away; unclaimed"


def test_rota_across_midnight_and_weekends(config):
    scheduling = config.queue("scheduling")
    tz = config.business.timezone
    assert on_duty(scheduling, ny(2026, 11, 20, 23, 0), tz).users == ("U0EVE",)  # Friday night
    assert on_duty(scheduling, ny(2026, 11, 21, 5, 59), tz).users == ("U0EVE",)  # into Saturday
    assert on_duty(scheduling, ny(2026, 11, 21, 6, 0), tz) is None
    assert on_duty(scheduling, ny(2026, 11, 22, 3, 0), tz).users == (
        "U0EVE",
    )  # Saturday night into Sunday
    assert on_duty(scheduling, ny(2026, 11, 23, 3, 0), tz) is None  # Sunday night: no shift
    upcoming = next_duty(scheduling, ny(2026, 11, 23, 12, 0), tz)
    assert upcoming.start == ny(2026, 11, 27, 22, 0)


def test_rota_across_dst_changes(config):
    sales = config.queue("sales")
    tz = config.business.timezone
    # Monday after the spring-forward Sunday (2027-03-14) and after fall-back (2026-11-01).
    for day in ((2027, 3, 15), (2026, 11, 2)):
        duty = on_duty(sales, ny(*day, 9, 30), tz)
        assert duty.users == ("U0ALEX", "U0BLAIR")
        assert duty.end - duty.start == 4 * 3600
    # A night shift over the fall-back night is an hour longer in real time.
    eve = on_duty(config.queue("scheduling"), ny(2026, 10, 31, 23, 0), tz)
    assert eve.end - eve.start == 9 * 3600


def test_duty_key_changes_exactly_when_the_shift_does(config):
    sales = config.queue("sales")
    tz = config.business.timezone
    morning = duty_key(on_duty(sales, ny(2026, 11, 17, 9, 5), tz))
    assert duty_key(on_duty(sales, ny(2026, 11, 17, 12, 55), tz)) == morning
    assert duty_key(on_duty(sales, ny(2026, 11, 17, 13, 5), tz)) != morning
    assert duty_key(on_duty(sales, ny(2026, 11, 17, 19, 0), tz)) == "none"


@pytest.mark.parametrize(
    ("shifts", "problem"),
    [
        (
            [
                {"days": "mon", "hours": "09:00-12:00", "users": ["U0A1"]},
                {"days": "mon", "hours": "11:00-13:00", "users": ["U0A2"]},
            ],
            "shifts overlap",
        ),
        (
            [
                {"days": "sun", "hours": "22:00-06:00", "users": ["U0A1"]},
                {"days": "mon", "hours": "05:00-09:00", "users": ["U0A2"]},
            ],
            "shifts overlap",
        ),
        (
            [{"days": "mon", "hours": "02:30-08:00", "users": ["U0A1"]}],
            "02:30 does not exist on DST change days",
        ),
        ([{"days": "mon", "hours": "09:00-12:00", "users": ["alex"]}], "must list Slack user IDs"),
        ([{"days": "funday", "hours": "09:00-12:00", "users": ["U0A1"]}], "unknown days"),
        ([{"days": "mon", "hours": "9-5", "users": ["U0A1"]}], "bad time"),
    ],
)
def test_bad_rotas_are_start_up_errors(shifts, problem):
    raw = yaml.safe_load(BLEND)
    raw["queues"][0]["shifts"] = shifts
    with pytest.raises(ConfigError) as error:
        parse_config(raw, "blend.yml")
    assert any(problem in line for line in error.value.problems), error.value.problems


def test_other_bad_routing_config_is_named():
    raw = yaml.safe_load(BLEND)
    raw["queues"][0]["keywords"] = ["/([a-z/"]
    raw["queues"][1]["on_call"] = "dana"
    raw["accounts"] = [
        {"phone": "banana", "owner": "U0ALEX"},
        {"phone": "+12127365000", "owner": "alex"},
    ]
    raw["templates"] = {"greeting": "Hi {firstname}!"}
    with pytest.raises(ConfigError) as error:
        parse_config(raw, "blend.yml")
    text = "\n".join(error.value.problems)
    for expected in (
        "queues[0].keywords: bad regular expression",
        "queues[1].on_call: 'dana' is not a Slack user ID",
        "accounts[0].phone: 'banana' is not a phone number",
        "accounts[1].owner: 'alex' is not a Slack user ID",
        "templates.greeting: unknown placeholder {firstname}",
    ):
        assert expected in text
