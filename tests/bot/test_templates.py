"""Reply templates: every placeholder the config accepts is one Baton fills."""

from __future__ import annotations

from bot.calendar import BusinessCalendar
from bot.contacts import Contact
from bot.conversations import Conversation
from bot.templates import fill, values_for
from config.file import parse_config
from config.templates import TEMPLATE_FIELDS

CONFIG = parse_config({"queues": [{"name": "general", "channel": "C0123GENERAL", "default": True}]})
CONVERSATION = Conversation(
    number=1,
    business_number="+15550001111",
    customer_number="+15551234567",
    queue="general",
    channel="C0123GENERAL",
)


def test_values_are_given_for_exactly_the_placeholders_the_config_accepts() -> None:
    values = values_for(
        CONVERSATION,
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
