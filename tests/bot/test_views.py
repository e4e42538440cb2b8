"""Every payload Baton renders is valid Block Kit, within Slack's limits, and escapes what it shows.

Messages are parsed with ``slack_sdk.models.blocks`` and views with
``slack_sdk.models.views``, whose validators know Slack's documented limits;
``check_limits`` adds the ones the SDK does not check (context text length,
an input's initial value longer than its max_length).
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot import views
from bot.contacts import Contact
from bot.markup import to_plain_text
from bot.templates import Filled
from bot.values import Conversation, Event
from sms.segments import count_segments

TZ = "America/New_York"
NOW = 1_794_927_600.0  # Tue 2026-11-17 10:00 New York
TEAM_URL = "https://acme.slack.com/"
ALEX, BLAIR, CASEY = "U0ALEX", "U0BLAIR", "U0CASEY"
NASTY_NAME = "Dr. O'Brien & Sons <b>*bold*</b> <!channel> <@U0ALEX> &amp;"
MESSAGE_TEXT_LIMIT = 40_000
TEXT_OBJECT_LIMIT = 3000


def conversation(number: int = 12, **changes: Any) -> Conversation:
    base: dict[str, Any] = {
        "number": number,
        "business_number": "+15550001111",
        "customer_number": "+12127365000",
        "queue": "general",
        "channel": "C0123GENERAL",
        "created_at": NOW,
    }
    return Conversation(**{**base, **changes})


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def check_limits(node: Any, path: str = "") -> None:
    """Check limits slack_sdk's validators leave out, anywhere in a payload."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            check_limits(item, f"{path}[{index}]")
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind in ("mrkdwn", "plain_text"):
        assert 0 < len(node["text"]) <= TEXT_OBJECT_LIMIT, f"{path}: {len(node['text'])} chars"
    if kind == "context":
        assert 1 <= len(node["elements"]) <= 10, path
    if kind == "plain_text_input" and "initial_value" in node and "max_length" in node:
        assert len(node["initial_value"]) <= node["max_length"], (
            f"{path}: initial_value of {len(node['initial_value'])} chars exceeds "
            f"max_length {node['max_length']}: Slack refuses to open the view"
        )
    for key, value in node.items():
        check_limits(value, f"{path}.{key}")


def check_blocks(blocks: list[dict[str, Any]], limit: int) -> None:
    assert 1 <= len(blocks) <= limit
    json.dumps(blocks)  # plain JSON, as the Web API sends it
    parsed = Block.parse_all(blocks)
    for raw, block in zip(blocks, parsed, strict=True):
        assert block is not None, f"slack_sdk does not know block {raw}"
        block.validate_json()
        assert block.to_dict()["type"] == raw["type"]
    check_limits(blocks)


def check_message(text: str, blocks: list[dict[str, Any]] | None = None) -> None:
    """Check a chat.postMessage/chat.update payload: fallback text and at most 50 blocks."""
    assert isinstance(text, str) and 0 < len(text) <= MESSAGE_TEXT_LIMIT
    if blocks is not None:
        check_blocks(blocks, 50)


def check_view(view: dict[str, Any]) -> View:
    """Check a views.open/views.publish payload: at most 100 blocks, every limit kept."""
    check_blocks(view["blocks"], 100)
    parsed = View(**view)
    parsed.validate_json()
    parsed.to_dict()
    check_limits(view)
    if view["type"] == "modal":
        assert len(view["title"]["text"]) <= 24
        assert len(view.get("private_metadata", "")) <= 3000
    return parsed


def texts_of(blocks: Any) -> list[str]:
    """Return every text object's text in blocks."""
    if isinstance(blocks, list):
        return [t for b in blocks for t in texts_of(b)]
    if isinstance(blocks, dict):
        found = [blocks["text"]] if blocks.get("type") in ("mrkdwn", "plain_text") else []
        return found + [t for v in blocks.values() for t in texts_of(v)]
    return []


def action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [
        element["action_id"]
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def without_links_and_mentions(text: str) -> str:
    """Return mrkdwn with Baton's own <@U…> mentions and <url|label> links taken out."""
    return re.sub(r"<@[UW][A-Z0-9]+>|<https?://[^<>|]+\|[^<>]*>", "", text)


# The card


CARD_STATES = list(
    itertools.product(
        [None, ALEX],  # owner
        ["open", "pending", "closed"],  # status
        [False, True],  # opted out
    )
)


@pytest.mark.parametrize(("owner", "status", "opted_out"), CARD_STATES)
def test_every_card_state_is_valid_block_kit(owner, status, opted_out):
    index = CARD_STATES.index((owner, status, opted_out))
    tag_sets = [(), ("new",), ("urgent", "billing"), (*views.CARD_TAGS, "new", "vip")]
    conv = conversation(
        owner=owner,
        status=status,
        opted_out=opted_out,
        tags=tag_sets[index % len(tag_sets)],
        collaborators=(BLAIR, CASEY) if index % 2 else (),
        customer_name=NASTY_NAME if index % 3 == 0 else None,
        route_reason="keyword price → sales; account owner <@U0ALEX>" if index % 2 else "",
    )
    due = [None, "Reply due in 12 minutes", "Reply overdue by 4 minutes"]
    extras = views.CardExtras(due=due[index % 3], owner_note="away until Mon" if owner else None)

    text, blocks = views.card(conv, extras)

    check_message(text, blocks)
    actions = action_ids(blocks)
    assert ("claim" in actions) == (owner is None)
    assert ("release" in actions) == ("handoff" in actions) == (owner is not None)
    assert ("resolve" in actions) == (status != "closed")
    assert ("reopen" in actions) == (status == "closed")
    facts = "\n".join(texts_of(blocks))
    assert "*#12*" in facts
    assert f"*Owner:* {'<@U0ALEX>' if owner else 'Unclaimed'}" in facts
    assert f"*Status:* {status.title()}" in facts
    assert ("Opted out" in facts) == opted_out
    for tag in conv.tags:
        assert f"`{tag}`" in facts
    for user in conv.collaborators:
        assert f"<@{user}>" in facts
    if extras.due:
        assert f"*Status:* {status.title()}  ·  {extras.due}" in facts


def test_the_card_overflow_menu_offers_status_and_every_card_tag():
    _text, blocks = views.card(conversation(status="pending", tags=("billing",)))
    [menu] = [
        e
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "overflow"
    ]
    values = [option["value"] for option in menu["options"]]
    assert values == [
        "status:open:12",
        "tag:urgent:12",
        "untag:billing:12",
        "tag:appointment:12",
        "tag:followup-needed:12",
    ]


def test_a_customer_name_is_escaped_on_the_card():
    text, blocks = views.card(conversation(customer_name=NASTY_NAME))
    title = blocks[0]["text"]["text"]
    assert "Dr. O'Brien &amp; Sons &lt;b&gt;*bold*&lt;/b&gt; &lt;!channel&gt;" in title
    assert "&lt;@U0ALEX&gt; &amp;amp;" in title
    assert "<" not in title and ">" not in title
    assert "<!channel>" not in text and "<b>" not in text
    assert "(+1 212-736-5000)" in title


def test_a_very_long_customer_name_is_clipped_within_limits():
    name = "&<>" * 2000
    text, blocks = views.card(conversation(customer_name=name, tags=("x" * 200,) * 30))
    check_message(text, blocks)
    title = blocks[0]["text"]["text"]
    assert len(title) <= TEXT_OBJECT_LIMIT and title.endswith("…")
    assert "<" not in title and ">" not in title


def test_the_route_reason_keeps_mentions_but_escapes_the_rest():
    conv = conversation(route_reason="keyword <b> → sales; account owner <@U0ALEX> <!here>")
    _text, blocks = views.card(conv)
    why = next(t for t in texts_of(blocks) if t.startswith("_Why here:_"))
    assert "<@U0ALEX>" in why and "&lt;!here&gt;" in why and "&lt;b&gt;" in why


def test_moved_card():
    conv = conversation(queue="sales")
    text, blocks = views.moved_card(
        conv, "https://acme.slack.com/archives/C0123SALES/p1700000000000100"
    )
    check_message(text, blocks)
    assert "*sales*" in text and "|continue there>" in text


def test_unclaimed_note_offers_claim_and_send():
    held = views.held_value(12, "C0123GENERAL", "1700000000.000100")
    text, blocks = views.unclaimed_note(conversation(), held)
    check_message(text, blocks)
    [button] = blocks[1]["elements"]
    assert button["action_id"] == "claim_and_send"
    assert json.loads(button["value"]) == {
        "conversation": 12,
        "channel": "C0123GENERAL",
        "ts": "1700000000.000100",
    }


def test_not_owner_note_and_reminders_fit_a_message():
    for conv in (conversation(), conversation(owner=ALEX, customer_name=NASTY_NAME)):
        check_message(views.not_owner_note(conv))
        for level, due_at in itertools.product((1, 2, 3), (None, NOW - 240, NOW + 720)):
            check_message(views.reminder(conv, level, due_at, NOW))
    assert views.reminder(conversation(owner=ALEX), 3, NOW - 240, NOW).startswith(
        ":rotating_light: #12 is overdue by 4 minutes."
    )


# Modals and the Home tab


@pytest.mark.parametrize("number", [1, 12, 123456789])
def test_handoff_modal(number):
    conv = conversation(number=number, owner=ALEX, customer_name=NASTY_NAME)
    view = views.handoff_modal(conv)
    check_view(view)
    assert view["title"]["text"] == f"Hand off #{number}"
    assert view["private_metadata"] == str(number)
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert set(blocks) >= {"owner", "note", "customer"}
    initial = blocks["customer"]["element"]["initial_value"]
    assert initial == "I'm looping in {name}, who handles general. They'll take it from here."


def test_templates_modal_before_and_after_picking():
    conv = conversation(owner=ALEX)
    names = [f"template-{i}" for i in range(120)]
    check_view(views.templates_modal(conv, names, None))

    text = "Hi {first_name}, your crown is ready. " + "x" * 2000
    filled = Filled("template-3", text, ("first_name",), count_segments(text))
    view = views.templates_modal(conv, names, filled)
    check_view(view)
    assert view["submit"]["text"] == "Send"


def test_contact_modal_with_and_without_a_contact():
    conv = conversation()
    check_view(views.contact_modal(conv, Contact("+12127365000")))
    full = Contact("+12127365000", name="Sarah Lee", notes="Prefers mornings", owner=ALEX)
    check_view(views.contact_modal(conv, full))


def test_contact_modal_opens_for_a_name_longer_than_its_input_allows():
    contact = Contact("+12127365000", name="Anne-Marie " * 10)  # 110 chars, set by slash command
    check_view(views.contact_modal(conversation(), contact))


def listed(count: int, *, name: str | None = None) -> list[views.Listed]:
    items = []
    for number in range(1, count + 1):
        conv = conversation(
            number=number,
            customer_number=f"+1917555{number:04d}",
            customer_name=name,
            owner=ALEX if number % 2 else None,
            status="pending" if number % 5 == 0 else "open",
            tags=("urgent", "billing") if number % 3 == 0 else (),
            card_ts=f"1700000000.{number:06d}",
        )
        items.append(views.Listed(conv, "overdue by 2 h 5 min (was due Tue 08:00)"))
    return items


def test_home_with_nothing():
    view = views.home(views.my_lists([], [], [], TEAM_URL))
    check_view(view)
    shown = "\n".join(texts_of(view["blocks"]))
    assert "Nothing is yours right now." in shown and "Nothing unclaimed." in shown


def test_home_with_two_hundred_conversations_stays_within_limits():
    items = listed(200, name=NASTY_NAME)
    view = views.home(views.my_lists(items, items, items, TEAM_URL))
    check_view(view)
    shown = texts_of(view["blocks"])
    assert all(len(t) <= TEXT_OBJECT_LIMIT for t in shown)
    assert len(view["blocks"]) <= 100


def test_lists_show_at_most_list_limit_items_and_say_how_many_more():
    blocks = views.conversation_list("Mine", listed(200), TEAM_URL, "none")
    body = blocks[1]["text"]["text"]
    assert body.count("• ") == views.LIST_LIMIT
    assert body.endswith(f"…and {200 - views.LIST_LIMIT} more")
    assert "<https://acme.slack.com/archives/C0123GENERAL/p1700000000000001|#1>" in body


def test_clipped_lists_keep_whole_lines():
    name = "Dr. Anne-Marie O'Brien & Partners <billing> & Co & Family & Friends"
    blocks = views.conversation_list("Mine", listed(200, name=name), TEAM_URL, "none")
    body = blocks[1]["text"]["text"]
    assert len(body) <= TEXT_OBJECT_LIMIT
    for line in body.splitlines():
        assert line.count("<") == line.count(">"), line
        assert not re.search(r"&(?!amp;|lt;|gt;)", line), line
    assert re.search(r"…and \d+ more$", body)


def test_queue_lists():
    items = listed(40, name=NASTY_NAME)
    for unclaimed, overdue in (([], []), (items, items[:3])):
        blocks = views.queue_lists("scheduling", unclaimed, overdue, TEAM_URL)
        check_message("Queue scheduling", blocks)
        check_view(views.home(blocks))  # the same blocks also fit a view


def test_a_listed_customer_name_is_escaped():
    blocks = views.conversation_list("Mine", listed(3, name=NASTY_NAME), TEAM_URL, "none")
    body = blocks[1]["text"]["text"]
    assert "<!channel>" not in body and "<b>" not in body
    assert without_links_and_mentions(body).count("<") == 0


# Thread texts


def test_history_of_a_hundred_events_fits_a_message():
    kinds = [
        ("created", "customer", "", "general"),
        ("claimed", ALEX, "", ALEX),
        ("released", ALEX, ALEX, ""),
        ("handed_off", ALEX, ALEX, BLAIR),
        ("looped_in", ALEX, "", CASEY),
        ("transferred", ALEX, "general", "sales"),
        ("status", BLAIR, "open", "closed"),
        ("reopened", "customer", "closed", "open"),
        ("tagged", BLAIR, "", ""),
        ("opted_out", "customer", "", ""),
        ("opted_in", "customer", "", ""),
        ("assigned", "baton", "", ALEX),
    ]
    events = [
        Event(kind, who, NOW + i * 60, before, after, note=f"note {i} <!channel> & " + "x" * 500)
        for i, (kind, who, before, after) in enumerate(kinds[i % len(kinds)] for i in range(100))
    ]
    text = views.history(conversation(), events, TZ)
    check_message(text)
    assert text.startswith("*History of #12*")
    assert "note 99 &lt;!channel&gt; &amp;" in text, "the latest event is shown"
    assert "<!channel>" not in text


def at(seconds: int, clock: str) -> str:
    """Return how Slack is told a moment NOW + seconds: each reader's own time, else the business's."""
    return f"<!date^{int(NOW) + seconds}^{{date_short_pretty}} {{time}}|Tue Nov 17 {clock} EST>"


def test_history_wording():
    events = [
        Event("created", "customer", NOW, after="general"),
        Event("claimed", ALEX, NOW + 60, after=ALEX),
        Event("handed_off", ALEX, NOW + 120, ALEX, BLAIR, "She wants Friday 3pm"),
        Event("status", BLAIR, NOW + 180, "open", "pending"),
        Event("tagged", BLAIR, NOW + 240, note="+billing -new"),
    ]
    lines = views.history(conversation(), events, TZ).splitlines()
    assert lines[1:] == [
        f"• {at(0, '10:00')} · customer · started the conversation in general",
        f"• {at(60, '10:01')} · <@U0ALEX> · claimed",
        f"• {at(120, '10:02')} · <@U0ALEX> · handed off to <@U0BLAIR> — She wants Friday 3pm",
        f"• {at(180, '10:03')} · <@U0BLAIR> · changed the status from Open to Pending",
        f"• {at(240, '10:04')} · <@U0BLAIR> · changed the tags: +billing -new",
    ]


def test_history_says_when_older_events_are_left_out():
    events = [Event("claimed", ALEX, NOW + i, after=ALEX) for i in range(100)]
    text = views.history(conversation(), events, TZ)
    assert text.count("\n• ") == 100 or "60 earlier" in text


def test_history_of_a_shift_handover_back_to_the_queue_names_the_queue():
    event = Event("handed_off", "baton", NOW, ALEX, "", note="shift change in general")
    line = views.history(conversation(), [event], TZ).splitlines()[1]
    assert "handed off to  " not in line and "handed off to —" not in line
    assert "queue" in line


def test_customer_text_with_a_long_body_and_ten_media():
    body = "<!channel> & <https://evil.example|click> " + "é" * 1550
    media = [
        (f"https://api.twilio.com/2010-04-01/Media/ME{i:032d}", "image/jpeg") for i in range(10)
    ]
    text = views.customer_text(conversation(customer_name=NASTY_NAME), body, media)
    check_message(text)
    assert text.count(":paperclip:") == 10
    assert "|attachment 10> (image/jpeg)" in text
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in text
    links = re.findall(r"<([^<>|]+)\|attachment \d+>", text)
    assert links == [url for url, _type in media]
    assert without_links_and_mentions(text).count("<") == 0


def test_customer_text_without_a_body():
    text = views.customer_text(conversation(), "", [("https://api.twilio.com/m/1", "image/png")])
    check_message(text)
    assert text.startswith("*+1 212-736-5000:*\n:paperclip:")


def test_transfer_summary_of_many_long_texts():
    messages = [
        {
            "direction": "in" if i % 2 else "out",
            "author": ALEX,
            "body": f"text {i}\n<!channel> " + "y" * 1600,
        }
        for i in range(30)
    ]
    summary = views.transfer_summary(conversation(), messages)
    check_message(summary)
    assert len(summary) <= TEXT_OBJECT_LIMIT
    assert summary.startswith("*Summary of #12 so far* (30 texts):")
    assert summary.count("\n• ") == 8
    assert "• Customer: text 29 &lt;!channel&gt;" in summary
    assert "• <@U0ALEX>: text 28" in summary
    assert "<!channel>" not in summary


def test_transfer_summary_names_an_auto_reply_without_a_broken_mention():
    messages = [
        {"direction": "in", "body": "Are you open?"},
        {"direction": "out", "author": "baton", "body": "Thanks for texting Acme Dental."},
    ]
    assert "<@baton>" not in views.transfer_summary(conversation(), messages)


def test_outbound_notice_and_direct_message():
    check_message(views.outbound_notice(ALEX, "Line one\n<b>two</b> & three\n" + "z" * 1600))
    assert views.outbound_notice(ALEX, "a\n<b>").endswith(">a\n>&lt;b&gt;")
    check_message(views.direct_message("x" * 50_000, "https://acme.slack.com/archives/C1/p1"))


# Due phrases


def monday_1435() -> float:
    return datetime(2026, 11, 16, 14, 35, tzinfo=ZoneInfo(TZ)).timestamp()


def test_due_phrase_wording():
    due = monday_1435()
    conv = conversation(awaiting=True, waiting_since=due - 900)
    by = f"<!date^{int(due)}^{{date_short_pretty}} {{time}}|Mon Nov 16 14:35 EST>"
    assert views.due_phrase(conv, due, due - 12 * 60, TZ) == f"Reply due in 12 minutes (by {by})"
    overdue = views.due_phrase(conv, due, due + 4 * 60, TZ)
    assert overdue == f"Reply overdue by 4 minutes (was due {by})"
    assert views.due_phrase(conv, due, due - 90 * 60, TZ).startswith(
        "Reply due in 1 hour 30 minutes"
    )
    assert views.due_phrase(conv, due, due + 3 * 86400, TZ).startswith("Reply overdue by 3 days (")
    assert views.due_phrase(conv, due, due - 10, TZ).startswith("Reply due in 10 seconds")
    assert views.due_phrase(conv, due, due - 60, TZ).startswith("Reply due in 1 minute (")


def test_due_phrase_when_nothing_is_awaited():
    pending = conversation(status="pending", awaiting=True)
    assert views.due_phrase(pending, None, NOW, TZ) == "Waiting on customer"
    assert views.due_phrase(conversation(replied=True), None, NOW, TZ) is None
    assert views.due_phrase(conversation(status="closed"), None, NOW, TZ) is None


# Escaping


@given(st.text())
def test_escape_leaves_no_markup_and_round_trips(text):
    escaped = views.escape(text)
    assert "<" not in escaped and ">" not in escaped
    assert unescape(escaped) == text
    # What Slack sends back for an escaped text turns into the same plain text.
    assert to_plain_text(escaped, lambda user: user) == text


@given(st.text(alphabet=st.sampled_from("<>&@!#|UW0AZ ab;")))
def test_escape_keep_mentions_keeps_only_baton_mentions(text):
    kept = views.escape_keep_mentions(text)
    assert re.sub(r"<@[UW][A-Z0-9]+>", "", kept).count("<") == 0
    assert ">" not in re.sub(r"<@[UW][A-Z0-9]+>", "", kept)
