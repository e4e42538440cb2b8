"""Reply templates: filled for a person to review, or filled by Baton for a text it sends itself."""

from __future__ import annotations

from dataclasses import replace

from bot.calendar import BusinessCalendar
from bot.contacts import Contact
from bot.templates import Templates, fill, values_for
from bot.values import Conversation
from config.templates import TEMPLATE_FIELDS
from tests.bot.domain import CALENDAR, CONFIG
from tests.dialog import TestClock

CONV = Conversation(
    number=3,
    business_number="+15550001111",
    customer_number="+12127365000",
    queue="general",
    channel="C0123GENERAL",
)


def templates(after_hours: str, contact: Contact | None = None) -> Templates:
    config = replace(CONFIG, templates={**CONFIG.templates, "after_hours": after_hours})
    return Templates(
        config,
        CALENDAR,
        lambda phone: contact or Contact(phone),
        lambda _user: "Alex",
        TestClock(),
    )


def test_an_automatic_text_never_sends_a_placeholder_as_typed():
    clock = TestClock()
    clock.advance(10 * 3600)  # Tue 20:00, closed
    filled = templates("Hi {first_name}, {business} opens {opens_at}.").automatic(
        CONV, "after_hours", clock.now()
    )
    assert filled == "Hi there, Acme Dental opens Wednesday 9:00 AM EST."


def test_an_automatic_text_uses_what_is_known():
    clock = TestClock()
    contact = Contact("+12127365000", name="Sarah Lee")
    text = templates("Hi {first_name}, {agent_name} will reply.", contact).automatic(
        replace(CONV, owner="U0ALEX"), "after_hours", clock.now()
    )
    assert text == "Hi Sarah, Alex will reply."


def test_a_template_for_a_person_shows_what_is_missing():
    filled = templates("Hi {first_name}").filled(CONV, "after_hours", "U0ALEX")
    assert filled.missing == ("first_name",) and filled.text == "Hi {first_name}"
    assert not filled.ready


def test_values_are_given_for_exactly_the_placeholders_the_config_accepts() -> None:
    values = values_for(
        CONV,
        Contact("+15551234567", name="Sam Rivera"),
        "Alex",
        CONFIG,
        BusinessCalendar(),
        1_794_927_600.0,
    )

    assert set(values) == set(TEMPLATE_FIELDS)


def test_every_placeholder_the_config_accepts_is_filled() -> None:
    text = " ".join("{" + name + "}" for name in TEMPLATE_FIELDS)

    filled = fill("everything", text, dict.fromkeys(TEMPLATE_FIELDS, "x"))

    assert filled.ready
    assert filled.text == " ".join("x" for _ in TEMPLATE_FIELDS)


def test_a_placeholder_without_a_value_stays_visible_and_is_listed() -> None:
    filled = fill("greeting", "Hi {first_name}, {business} here.", {"business": "Acme"})

    assert not filled.ready
    assert filled.missing == ("first_name",)
    assert filled.text == "Hi {first_name}, Acme here."
