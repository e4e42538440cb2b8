"""The YAML config file: the shipped default loads, and every bad key is named by its path."""

from __future__ import annotations

import copy
from datetime import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.file import DEFAULT_TEMPLATES, BatonConfig, ResponseTargets, load_config, parse_config
from config.settings import ConfigError
from config.templates import BRACED, CSAT_FIELDS, PLACEHOLDER, TEMPLATE_FIELDS

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "baton.yml"

MINIMAL: dict[str, Any] = {
    "queues": [
        {"name": "sales", "channel": "C0123SALES", "keywords": ["price"]},
        {"name": "general", "channel": "C0123GENERAL", "default": True},
    ]
}


def config_with(**top: Any) -> dict[str, Any]:
    raw = copy.deepcopy(MINIMAL)
    raw.update(top)
    return raw


def problems_for(raw: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, "baton.yml")
    assert all(p.startswith("baton.yml: ") for p in caught.value.problems)
    assert all("\n" not in p for p in caught.value.problems)
    return caught.value.problems


def paths(problems: list[str]) -> list[str]:
    """Return the key path each problem names (the part after the source)."""
    return [p.split(": ", 2)[1] for p in problems]


# The shipped default


@pytest.fixture(scope="module")
def shipped() -> BatonConfig:
    return load_config(SHIPPED)


def test_shipped_config_has_three_queues_with_general_as_default(shipped: BatonConfig) -> None:
    assert [q.name for q in shipped.queues] == ["sales", "scheduling", "general"]
    assert shipped.default_queue.name == "general"
    assert shipped.default_queue.channel == "C0123GENERAL"
    assert shipped.queue("sales") is not None
    assert shipped.queue("sales").keywords == ("price", "quote", "estimate")  # type: ignore[union-attr]
    assert shipped.queue("scheduling").keywords == ("reschedule", "appointment", "time")  # type: ignore[union-attr]
    assert shipped.queue("billing") is None


def test_shipped_config_durations_are_seconds(shipped: BatonConfig) -> None:
    assert shipped.response_targets == ResponseTargets(
        first_response=15 * 60,
        next_response=60 * 60,
        urgent=5 * 60,
        warn_at=0.75,
        escalate_after=2.0,
        sweep_interval=15,
    )


def test_shipped_config_business_and_policies(shipped: BatonConfig) -> None:
    assert shipped.business.name == "Acme Dental"
    assert shipped.business.country == "US"
    assert shipped.business.timezone == "America/New_York"
    weekday = ((time(9, 0), time(18, 0)),)
    assert shipped.business.hours == {
        0: weekday,
        1: weekday,
        2: weekday,
        3: weekday,
        4: weekday,
        5: ((time(10, 0), time(14, 0)),),
    }
    assert shipped.urgent_keywords == ("urgent",)
    assert shipped.reply_policy == "owner"
    assert shipped.note_prefix == "//"
    assert shipped.slash_command == "/sms"
    assert shipped.admins == frozenset()


def test_minimal_config_gets_defaults() -> None:
    config = parse_config(MINIMAL)

    assert config.business.name == "Baton"
    assert config.business.country == "US"
    assert config.business.timezone == "UTC"
    assert config.business.hours == {}  # always open
    assert config.response_targets == ResponseTargets()
    assert config.reply_policy == "owner"
    assert config.slash_command == "/sms"


# Unknown keys, named with their path


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (config_with(colour="blue"), "colour"),
        (config_with(business={"name": "Acme", "colour": "blue"}), "business.colour"),
        (config_with(response_targets={"first_reply": "5m"}), "response_targets.first_reply"),
        (
            {
                "queues": [
                    {"name": "general", "channel": "C0123GENERAL", "default": True, "emoji": "x"}
                ]
            },
            "queues[0].emoji",
        ),
        (
            {
                "queues": [
                    {"name": "sales", "channel": "C0123SALES"},
                    {
                        "name": "general",
                        "channel": "C0123GENERAL",
                        "default": True,
                        "response_targets": {"urgnet": "1m"},
                    },
                ]
            },
            "queues[1].response_targets.urgnet",
        ),
    ],
)
def test_unknown_keys_are_named_with_their_path(raw: dict[str, Any], path: str) -> None:
    problems = problems_for(raw)

    assert paths(problems) == [path]
    assert "unknown key" in problems[0]


def test_unknown_key_lists_the_allowed_keys() -> None:
    (problem,) = problems_for(config_with(business={"colour": "blue"}))

    assert "expected one of: country, holidays, hours, name, timezone" in problem


def test_unknown_keys_at_several_levels_are_all_reported() -> None:
    raw = config_with(
        colour="blue",
        business={"nmae": "Acme"},
        response_targets={"first": "5m"},
    )
    raw["queues"][0]["chanel"] = "C0123X"

    assert sorted(paths(problems_for(raw))) == sorted(
        ["colour", "business.nmae", "response_targets.first", "queues[0].chanel"]
    )


@pytest.mark.parametrize("raw", ["just text", ["a", "list"], 42])
def test_top_level_must_be_a_mapping(raw: Any) -> None:
    problems = problems_for(raw)

    assert any("must be a mapping" in p for p in problems)


# Durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1h", 3600), ("2d", 172800), (" 5m ", 300)],
)
def test_durations_in_s_m_h_d(text: str, seconds: int) -> None:
    config = parse_config(config_with(response_targets={"first_response": text}))

    assert config.response_targets.first_response == seconds


@pytest.mark.parametrize("bad", ["15", 15, "1w", "0m", "abc", "1.5h", "-5m", "15 m", "m", "", True])
def test_bad_durations_name_the_key(bad: Any) -> None:
    problems = problems_for(config_with(response_targets={"urgent": bad}))

    assert paths(problems) == ["response_targets.urgent"]
    assert "bad duration" in problems[0]
    assert repr(bad) in problems[0]


@pytest.mark.parametrize("key", ["first_response", "next_response", "urgent", "sweep_interval"])
def test_every_duration_key_is_checked(key: str) -> None:
    assert paths(problems_for(config_with(response_targets={key: "1w"}))) == [
        f"response_targets.{key}"
    ]


@pytest.mark.parametrize("value", [0, 0.0, -0.5, 1.01, 2, "0.5", True])
def test_warn_at_must_be_a_fraction_above_0_and_at_most_1(value: Any) -> None:
    problems = problems_for(config_with(response_targets={"warn_at": value}))

    assert paths(problems) == ["response_targets.warn_at"]


@pytest.mark.parametrize("value", [0.01, 0.5, 1, 1.0])
def test_warn_at_in_range(value: float) -> None:
    config = parse_config(config_with(response_targets={"warn_at": value}))

    assert config.response_targets.warn_at == pytest.approx(value)


@pytest.mark.parametrize("value", [1, 1.0, 0.5, 0, 100.5, "2", False])
def test_escalate_after_must_be_above_1_and_at_most_100(value: Any) -> None:
    problems = problems_for(config_with(response_targets={"escalate_after": value}))

    assert paths(problems) == ["response_targets.escalate_after"]


@pytest.mark.parametrize("value", [1.5, 2, 100])
def test_escalate_after_in_range(value: float) -> None:
    config = parse_config(config_with(response_targets={"escalate_after": value}))

    assert config.response_targets.escalate_after == pytest.approx(value)


# Queues


def test_default_queue_flag_must_be_a_boolean() -> None:
    raw = config_with()
    raw["queues"][1]["default"] = "general"

    problems = problems_for(raw)

    assert "queues[1].default" in paths(problems)
    assert "queues" in paths(problems)  # and so there is no default queue left


def test_two_default_queues_are_refused() -> None:
    raw = config_with()
    raw["queues"][0]["default"] = True

    (problem,) = problems_for(raw)

    assert paths([problem]) == ["queues"]
    assert "sales, general" in problem


def test_no_default_queue_is_refused() -> None:
    raw = config_with()
    del raw["queues"][1]["default"]

    (problem,) = problems_for(raw)

    assert paths([problem]) == ["queues"]
    assert "no default queue" in problem


@pytest.mark.parametrize("queues", [None, [], "general", {"name": "general"}])
def test_queues_must_be_a_non_empty_list(queues: Any) -> None:
    problems = problems_for({"queues": queues})

    assert "queues" in paths(problems)


@pytest.mark.parametrize("channel", ["#general", "general", "c0123general", "D0123DM", "C1", 123])
def test_bad_channel_id_names_the_queue(channel: Any) -> None:
    raw = config_with()
    raw["queues"][0]["channel"] = channel

    problems = problems_for(raw)

    assert paths(problems) == ["queues[0].channel"]


@pytest.mark.parametrize("channel", ["C0123SALES", "G0PRIVATE1"])
def test_public_and_private_channel_ids_accepted(channel: str) -> None:
    raw = config_with()
    raw["queues"][0]["channel"] = channel

    assert parse_config(raw).queue("sales").channel == channel  # type: ignore[union-attr]


def test_duplicate_queue_names_are_refused() -> None:
    raw = config_with()
    raw["queues"].append({"name": "sales", "channel": "C0123OTHER"})

    problems = problems_for(raw)

    assert paths(problems) == ["queues[2].name"]
    assert "'sales' is defined twice" in problems[0]


@pytest.mark.parametrize("missing", ["name", "channel"])
def test_a_queue_without_name_or_channel_is_refused(missing: str) -> None:
    # A queue missing its name or channel must not be silently dropped:
    # texts its keywords should route would quietly land in the default queue.
    raw = config_with()
    del raw["queues"][0][missing]

    problems = problems_for(raw)

    assert f"queues[0].{missing}" in paths(problems)


def test_queues_all_missing_names_are_refused() -> None:
    problems = problems_for({"queues": [{"channel": "C0123GENERAL", "default": True}]})

    assert "queues[0].name" in paths(problems)


def test_keywords_must_be_a_list_of_words() -> None:
    raw = config_with()
    raw["queues"][0]["keywords"] = "price"

    assert paths(problems_for(raw)) == ["queues[0].keywords"]


def test_keywords_are_lowercased_and_trimmed() -> None:
    raw = config_with()
    raw["queues"][0]["keywords"] = ["  Price ", "QUOTE"]

    assert parse_config(raw).queue("sales").keywords == ("price", "quote")  # type: ignore[union-attr]


# Business hours, timezone, country


@pytest.mark.parametrize(
    ("hours", "fragment"),
    [
        ({"mon-fri": "18:00-09:00"}, "closing time 09:00 is not after opening time 18:00"),
        ({"mon": "09:00-09:00"}, "is not after"),
        ({"funday": "09:00-17:00"}, "unknown day"),
        ({"mon-funday": "09:00-17:00"}, "unknown day"),
        ({"fri-mon": "09:00-17:00"}, "backwards"),
        ({"mon-fri": "9-5"}, "bad time '9'"),
        ({"mon-fri": "09:00"}, "bad hours"),
        ({"mon-fri": "25:00-26:00"}, "bad time"),
        ({"mon-fri": "09:60-17:00"}, "bad time"),
        ({"mon-fri": "09:00-24:30"}, "bad time"),
    ],
)
def test_bad_hours_name_the_day_key(hours: dict[str, str], fragment: str) -> None:
    problems = problems_for(config_with(business={"hours": hours}))

    (day,) = hours
    assert set(paths(problems)) == {f"business.hours.{day}"}
    assert any(fragment in p for p in problems)


def test_hours_must_be_a_mapping() -> None:
    assert paths(problems_for(config_with(business={"hours": "09:00-18:00"}))) == ["business.hours"]


def test_hours_with_several_spans_and_midnight_close() -> None:
    config = parse_config(
        config_with(business={"hours": {"Mon": "13:00-17:00, 08:00-12:00", "sun": "20:00-24:00"}})
    )

    assert config.business.hours[0] == ((time(8), time(12)), (time(13), time(17)))
    assert config.business.hours[6][0][0] == time(20)
    assert config.business.hours[6][0][1] > time(23, 59)
    assert set(config.business.hours) == {0, 6}


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "EST5", "../etc/passwd", "New York"])
def test_bad_timezone(zone: str) -> None:
    problems = problems_for(config_with(business={"timezone": zone}))

    assert paths(problems) == ["business.timezone"]
    assert "unknown time zone" in problems[0]


@pytest.mark.parametrize("country", ["XX", "USA", "UK", "1"])
def test_bad_country(country: str) -> None:
    problems = problems_for(config_with(business={"country": country}))

    assert paths(problems) == ["business.country"]


def test_country_is_uppercased() -> None:
    assert parse_config(config_with(business={"country": "gb"})).business.country == "GB"


# Policies, slash command, admins


@pytest.mark.parametrize("policy", ["everyone", "Owner", "", 1])
def test_reply_policy_must_be_owner_or_anyone(policy: Any) -> None:
    assert paths(problems_for(config_with(reply_policy=policy))) == ["reply_policy"]


def test_reply_policy_anyone() -> None:
    assert parse_config(config_with(reply_policy="anyone")).reply_policy == "anyone"


@pytest.mark.parametrize("command", ["sms", "/SMS", "/", "/sms now", "/" + "x" * 32, 5])
def test_bad_slash_command(command: Any) -> None:
    assert paths(problems_for(config_with(slash_command=command))) == ["slash_command"]


def test_custom_slash_command() -> None:
    assert parse_config(config_with(slash_command="/text-us")).slash_command == "/text-us"


@pytest.mark.parametrize("admins", [["alex"], ["<@U0ALEX>"], ["C0123SALES"], "U0ALEX"])
def test_admins_must_be_slack_user_ids(admins: Any) -> None:
    assert "admins" in paths(problems_for(config_with(admins=admins)))


def test_admins_are_user_ids_in_upper_case() -> None:
    config = parse_config(config_with(admins=["U0ALEX", "w0blair"]))

    assert config.admins == frozenset({"U0ALEX", "W0BLAIR"})


# Reading files


def test_invalid_yaml_is_one_line_with_its_line_number(tmp_path: Path) -> None:
    path = tmp_path / "baton.yml"
    path.write_text("business:\n  name: Acme\nqueues: [\n  - name: x\n", encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}: not valid YAML at line ")
    assert int(problem.rsplit(" ", 1)[1]) >= 3


def test_tab_indentation_reports_its_line(tmp_path: Path) -> None:
    path = tmp_path / "baton.yml"
    path.write_text("business:\n\tname: Acme\n", encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert caught.value.problems == [f"{path}: not valid YAML at line 2"]


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yml"

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}: cannot read the config file")
    assert "No such file" in problem


def test_load_config_names_problems_by_file(tmp_path: Path) -> None:
    path = tmp_path / "baton.yml"
    path.write_text(yaml.safe_dump(config_with(reply_policy="everyone")), encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert caught.value.problems == [
        f"{path}: reply_policy: must be owner or anyone, got 'everyone'"
    ]


# Per-queue response targets


def test_queue_response_targets_override_and_inherit() -> None:
    raw = config_with(response_targets={"first_response": "30m", "next_response": "2h"})
    raw["queues"][0]["response_targets"] = {"first_response": "5m", "warn_at": 0.5}

    config = parse_config(raw)

    sales = config.targets_for("sales")
    assert sales.first_response == 300
    assert sales.warn_at == 0.5
    assert sales.next_response == 7200  # inherited from the top level, not the built-in 1h
    assert sales.urgent == ResponseTargets().urgent
    general = config.targets_for("general")
    assert general == config.response_targets
    assert general.first_response == 1800
    assert config.targets_for("no-such-queue") == config.response_targets


def test_bad_queue_response_target_names_the_queue_path() -> None:
    raw = config_with()
    raw["queues"][1]["response_targets"] = {"urgent": "0m"}

    assert paths(problems_for(raw)) == ["queues[1].response_targets.urgent"]


# Reply templates


def test_unknown_placeholder_names_the_template_and_the_known_ones() -> None:
    (problem,) = problems_for(config_with(templates={"greeting": "Hi {firstname}!"}))

    assert paths([problem]) == ["templates.greeting"]
    assert "unknown placeholder {firstname}" in problem
    assert (
        "known: {first_name}, {agent_name}, {team}, {business}, {timeframe}, {opens_at}" in problem
    )


@pytest.mark.parametrize(
    "typed", ["{First_Name}", "{first name}", "{ first_name }", "{}", "{business.name}", "{0}"]
)
def test_a_mistyped_placeholder_is_unknown_too(typed: str) -> None:
    (problem,) = problems_for(config_with(templates={"greeting": f"Hi {typed}, thanks!"}))

    assert paths([problem]) == ["templates.greeting"]
    assert f"unknown placeholder {typed}" in problem


def test_the_after_hours_template_is_checked_like_the_others() -> None:
    raw = config_with(templates={"after_hours": "Closed. Back {opens_at}, {customer}!"})

    (problem,) = problems_for(raw)

    assert paths([problem]) == ["templates.after_hours"]
    assert "unknown placeholder {customer}" in problem


def test_the_after_hours_template_may_use_every_known_placeholder() -> None:
    # Only names are checked: a contact nobody named has no first_name when a text
    # arrives after hours, and the filling, not the config, deals with that.
    text = "Hi {first_name}, {business} ({team}) is closed; {agent_name} replies {opens_at}."

    config = parse_config(config_with(templates={"after_hours": text}))

    assert config.templates["after_hours"] == text


def test_every_known_placeholder_is_accepted() -> None:
    text = " ".join("{" + name + "}" for name in TEMPLATE_FIELDS)

    assert parse_config(config_with(templates={"everything": text})).templates["everything"] == text


def test_each_template_with_unknown_placeholders_is_reported_once_per_name() -> None:
    raw = config_with(
        templates={
            "first_response": "Hi {name}, {name} again, from {company}.",
            "waiting": "Still there, {first_name}?",
            "after_hours": "Closed until {opens}.",
        }
    )

    problems = problems_for(raw)

    assert paths(problems) == [
        "templates.first_response",
        "templates.first_response",
        "templates.after_hours",
    ]
    assert "unknown placeholder {name}" in problems[0]
    assert "unknown placeholder {company}" in problems[1]
    assert "unknown placeholder {opens}" in problems[2]


def test_the_default_and_shipped_templates_use_only_known_placeholders(
    shipped: BatonConfig,
) -> None:
    for text in [*DEFAULT_TEMPLATES.values(), *shipped.templates.values()]:
        assert set(PLACEHOLDER.findall(text)) <= set(TEMPLATE_FIELDS), text
        assert BRACED.findall(text) == PLACEHOLDER.findall(text), text


def test_retention_is_kept_forever_unless_set_in_days() -> None:
    assert parse_config(config_with()).retention is None
    assert parse_config(config_with(retention="180d")).retention == 180 * 86400
    assert problems_for(config_with(retention="180m")) == [
        "baton.yml: retention: '180m' is less than a day (m is minutes); give days, like 180d, "
        "or omit retention to keep texts"
    ]
    assert problems_for(config_with(retention="six months")) == [
        "baton.yml: retention: bad duration 'six months' (use a number and s, m, h or d, like 90s or 15m)"
    ]


# CSAT


def test_csat_is_off_by_default_with_a_question_and_no_thanks() -> None:
    csat = parse_config(config_with()).csat
    assert (csat.enabled, csat.thanks, csat.within, csat.cooldown) == (False, None, 86400, 604800)
    assert "Reply 1 (poor) to 5 (great)" in csat.ask
    assert set(PLACEHOLDER.findall(csat.ask)) <= set(CSAT_FIELDS)


def test_csat_keys_are_read() -> None:
    csat = parse_config(
        config_with(
            csat={
                "enabled": True,
                "ask": "Hi {first_name}, rate {agent_name} at {business}: 1-5?",
                "thanks": "Thank you!",
                "within": "2h",
                "cooldown": "30d",
            }
        )
    ).csat
    assert csat.enabled and csat.thanks == "Thank you!"
    assert csat.ask == "Hi {first_name}, rate {agent_name} at {business}: 1-5?"
    assert (csat.within, csat.cooldown) == (7200, 30 * 86400)


@pytest.mark.parametrize(
    ("csat", "path", "fragment"),
    [
        ({"enabled": "yes"}, "csat.enabled", "must be true or false, got 'yes'"),
        ({"ask": ""}, "csat.ask", "must be a non-empty text"),
        ({"thanks": 5}, "csat.thanks", "must be a non-empty text, got 5"),
        ({"ask": "Rate {team}?"}, "csat.ask", "unknown placeholder {team}"),
        ({"thanks": "Thanks {First_Name}"}, "csat.thanks", "unknown placeholder {First_Name}"),
        ({"within": "a day"}, "csat.within", "bad duration 'a day'"),
        ({"cooldown": "0d"}, "csat.cooldown", "bad duration '0d'"),
        ({"survey": True}, "csat.survey", "unknown key"),
        ("on", "csat", "must be a mapping"),
    ],
)
def test_bad_csat_values_name_the_key(csat: Any, path: str, fragment: str) -> None:
    problems = problems_for(config_with(csat=csat))
    assert paths(problems) == [path]
    assert fragment in problems[0]


def test_an_unknown_csat_placeholder_lists_the_ones_it_may_use() -> None:
    (problem,) = problems_for(config_with(csat={"ask": "{opens_at}"}))
    assert problem.endswith("(known: {business}, {first_name}, {agent_name})")


def test_the_digest_is_off_unless_set() -> None:
    reports = parse_config(config_with()).reports
    assert (reports.channel, reports.digest) == (None, None)


def test_the_digest_time_and_channel_are_read() -> None:
    reports = parse_config(
        config_with(reports={"channel": "C0123MANAGERS", "digest": "Mon 9:00"})
    ).reports
    assert reports.channel == "C0123MANAGERS"
    assert reports.digest is not None
    assert (reports.digest.weekday, reports.digest.at) == (0, time(9, 0))
    friday = parse_config(config_with(reports={"channel": "G0PRIVATE1", "digest": "fri 17:30"}))
    assert friday.reports.digest is not None
    assert (friday.reports.digest.weekday, friday.reports.digest.at) == (4, time(17, 30))


@pytest.mark.parametrize(
    ("reports", "problem"),
    [
        (
            {"channel": "C0123MANAGERS", "digest": "monday 9am"},
            "reports.digest: bad time 'monday 9am' (use a day and a 24-hour time in the "
            'business\'s time zone, like "mon 09:00")',
        ),
        (
            {"channel": "C0123MANAGERS", "digest": "mon 24:00"},
            "reports.digest: bad time 'mon 24:00' (use a day and a 24-hour time in the "
            'business\'s time zone, like "mon 09:00")',
        ),
        (
            {"channel": "C0123MANAGERS", "digest": "09:00"},
            "reports.digest: bad time '09:00' (use a day and a 24-hour time in the "
            'business\'s time zone, like "mon 09:00")',
        ),
        (
            {"digest": "mon 09:00"},
            "reports.channel: is required when reports.digest is set: the digest's channel ID",
        ),
        (
            {"channel": "#managers", "digest": "mon 09:00"},
            "reports.channel: must be a Slack channel ID like C0123ABCD, got '#managers'",
        ),
        (
            {"channel": "C0123MANAGERS", "every": "week"},
            "reports.every: unknown key (expected one of: channel, digest)",
        ),
        ("weekly", "reports: must be a mapping of keys to values"),
    ],
)
def test_bad_reports_keys_are_named(reports: Any, problem: str) -> None:
    assert problems_for(config_with(reports=reports)) == [f"baton.yml: {problem}"]


def test_a_digest_time_that_dst_skips_is_refused() -> None:
    raw = config_with(
        business={"timezone": "America/New_York"},
        reports={"channel": "C0123MANAGERS", "digest": "sun 02:30"},
    )
    assert problems_for(raw) == [
        "baton.yml: reports.digest: 02:30 does not exist on DST change days in "
        "America/New_York; pick a time outside the skipped hour"
    ]


def test_the_shipped_files_commented_reports_example_loads(tmp_path: Path) -> None:
    text = SHIPPED.read_text()
    start = text.index("# reports:")
    example = "\n".join(line[2:] for line in text[start:].splitlines() if line.startswith("# "))
    path = tmp_path / "baton.yml"
    path.write_text(text[:start] + example + "\n")
    reports = load_config(path).reports
    assert reports.channel == "C0123MANAGERS" and reports.digest is not None
