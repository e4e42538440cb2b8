"""Role, person and shift ownership through the real app, with away cover, templates, export and erasure."""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.dialog import Customer, eventually, ny, settle
from tests.handlers.test_bridge import card_blocks_text

NY = ZoneInfo("America/New_York")
SALES = "C0123SALES"
CONFIG = """
business:
  name: Acme Dental
  timezone: America/New_York
  hours: {mon-fri: "09:00-18:00"}
queues:
  - name: sales
    channel: C0123SALES
    keywords: [price, quote, estimate]
    on_call: U0CASEY
    shifts:
      - {days: mon-fri, hours: "09:00-13:00", users: [U0ALEX]}
      - {days: mon-fri, hours: "13:00-18:00", users: [U0BLAIR]}
  - {name: general, channel: C0123GENERAL, default: true}
response_targets: {first_response: 10m, warn_at: 0.5}
accounts:
  - {phone: "+12127365000", owner: U0BLAIR}
admins: [U0CASEY]
"""


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "baton.yml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def sarah(client) -> Customer:
    return Customer(client, "+12127365000", auth_token="twilio-test-auth-token")


def test_a_known_customer_goes_straight_to_their_account_owner(sarah, alex, baton, fake_slack):
    sarah.texts("Hi, it's Sarah")
    channel, card_ts = alex.card_of(1)
    conv = baton.conversations.get(1)
    assert (conv.owner, conv.assigned_by, conv.queue) == ("U0BLAIR", "account", "general")
    shown = card_blocks_text(fake_slack.message(channel, card_ts))
    assert "account owner <@U0BLAIR>" in shown and "no keyword matched" in shown
    told = eventually(lambda: fake_slack.messages("DU0BLAIR"))
    assert told[0]["text"].startswith("#1 in general is yours: account owner <@U0BLAIR>.\n")
    assert [e.kind for e in baton.conversations.events(1)] == ["created", "assigned"]


def test_shift_takes_new_texts_and_hands_over_at_the_change(
    customer, alex, baton, clock, fake_slack
):
    assert baton.shifts.tick() == []  # the first tick records who is on
    customer.texts("How much is a quote for whitening?")
    channel, card_ts = alex.card_of(1)
    conv = baton.conversations.get(1)
    assert (conv.queue, conv.owner, conv.assigned_by) == ("sales", "U0ALEX", "shift")
    assert "keyword quote → sales; on shift" in card_blocks_text(
        fake_slack.message(channel, card_ts)
    )

    clock.current = ny(2026, 11, 17, 13, 1)
    assert baton.shifts.tick() == ["sales"]
    assert baton.shifts.tick() == []  # exactly once
    summary = eventually(
        lambda: [m for m in fake_slack.messages(SALES) if "Shift change in sales" in m["text"]]
    )[0]
    assert (
        "Now on shift: <@U0BLAIR>" in summary["text"]
        and "#1" in summary["text"]
        and "whitening" in summary["text"]
    )
    eventually(lambda: baton.conversations.get(1).owner == "U0BLAIR")
    handover = baton.conversations.events(1)[-1]
    assert (handover.kind, handover.who, handover.before, handover.after) == (
        "handed_off",
        "baton",
        "U0ALEX",
        "U0BLAIR",
    )


def test_the_shift_summary_waits_out_a_slack_outage_and_is_posted_once(baton, clock, fake_slack):
    def summaries() -> list[dict]:
        return [m for m in fake_slack.messages(SALES) if "Shift change in sales" in m["text"]]

    baton.shifts.tick()
    fake_slack.set_down(True)
    clock.current = ny(2026, 11, 17, 13, 1)
    assert baton.shifts.tick() == ["sales"]
    eventually(lambda: fake_slack.calls_to("chat.postMessage"), message="no try in the outage")
    assert summaries() == []
    assert baton.delivery.backlog() == 1
    # Back, but the first post lands without its answer reaching Baton.
    fake_slack.fail_next("chat.postMessage", 500, after_effect=True)
    fake_slack.set_down(False)
    eventually(lambda: summaries() and baton.delivery.backlog() == 0, timeout=20)
    [summary] = summaries()
    assert "Now on shift: <@U0BLAIR>" in summary["text"]
    assert summary["metadata"]["event_type"] == "baton_shift_summary"
    # One try in the outage, one that landed unanswered; then the retry found it.
    assert [c.status for c in fake_slack.calls_to("chat.postMessage")] == [503, 500]
    assert fake_slack.calls_to("conversations.history")[-1].status == 200


def test_a_claimed_conversation_stays_with_its_claimer_at_the_shift_change(
    client, alex, baton, clock
):
    baton.shifts.tick()
    clock.current = ny(2026, 11, 17, 19, 0)  # nobody on shift: unclaimed
    Customer(client, "+15551230001", auth_token="twilio-test-auth-token").texts("price list?")
    alex.card_of(1)
    alex.runs("claim #1")
    clock.current = ny(2026, 11, 18, 9, 1)
    baton.shifts.tick()
    assert baton.conversations.get(1).owner == "U0ALEX"


def test_oncall_shows_now_and_next(alex):
    answer = alex.runs("oncall sales")["text"]
    assert "On shift now: <@U0ALEX>" in answer
    assert "On call: <@U0CASEY>" in answer
    one = int(ny(2026, 11, 17, 13, 0))
    assert (
        f"Next shift: <@U0BLAIR> from <!date^{one}^{{date_short_pretty}} {{time}}|Tue Nov 17 13:00 EST>"
        in answer
    )
    assert "There is no queue 'nope'" in alex.runs("oncall nope")["text"]


def test_away_cover_receives_the_reminders(app, customer, alex, blair, baton, clock, fake_slack):
    customer.texts("quote please")
    channel, card_ts = alex.card_of(1)
    assert baton.conversations.get(1).owner == "U0ALEX"
    answer = alex.runs("away until 17:00 cover <@U0BLAIR>")["text"]
    assert answer.startswith("You are away until <!date^")
    assert "|Tue Nov 17 17:00 EST>; <@U0BLAIR> gets your reminders" in answer
    eventually(
        lambda: (
            "away, covered by <@U0BLAIR>" in card_blocks_text(fake_slack.message(channel, card_ts))
        )
    )
    clock.advance(5 * 60)
    assert baton.reminders.sweep().reminders == 1
    reminder = eventually(lambda: fake_slack.messages("DU0BLAIR"))[0]["text"]
    assert ":alarm_clock: A reply to #1" in reminder
    settle(app)
    assert not any(":alarm_clock:" in m["text"] for m in fake_slack.messages("DU0ALEX"))
    # New texts are not assigned to someone away.
    Customer(alex.client, "+15551230009", auth_token="twilio-test-auth-token").texts("price?")
    alex.card_of(2)
    assert baton.conversations.get(2).owner is None
    assert "on shift is away" in baton.conversations.get(2).route_reason
    # Away ends by itself.
    clock.current = ny(2026, 11, 17, 17, 1)
    assert baton.availability.ended() == ["U0ALEX"]
    assert not baton.availability.is_away("U0ALEX")
    assert alex.runs("back")["text"] == "You were not away."
    assert "can't read" in alex.runs("away until whenever")["text"]


def test_reply_template_with_a_missing_placeholder_is_not_sent(
    app, customer, alex, baton, fake_twilio
):
    customer.texts("quote?")
    alex.card_of(1)
    answer = alex.runs("reply #1 first_response")["text"]
    assert answer.startswith("Not sent: {first_name} has no value for #1.")
    settle(app)
    assert fake_twilio.calls_to("messages.create") == []
    alex.runs('contact (555) 123-4567 name "Sam Rivera"')
    answer = alex.runs("reply #1 first_response")["text"]
    assert answer.startswith("Texting #1 the first_response template (")
    body = fake_twilio.wait_for("messages.create")[0].params["Body"]
    assert body == (
        "Hi Sam, this is Alex from Acme Dental. Thanks for your message: we're on it and will get back to you within 10 minutes."
    )
    assert "{" not in body


def test_templates_modal_previews_and_refuses_unfilled_placeholders(
    customer, alex, baton, fake_slack, fake_twilio
):
    customer.texts("quote?")
    alex.card_of(1)
    alex.clicks("templates", "1", channel="C0123SALES")
    opened = fake_slack.wait_for("views.open")[0].params["view"]
    assert opened["callback_id"] == "templates"
    view = {**opened, "id": "V0TEMPLATES", "hash": "1.x", "state": {"values": {}}}
    pick = {
        "type": "static_select",
        "block_id": "template",
        "selected_option": {"value": "first_response"},
    }
    alex.picks_in_view("template_pick", pick, view)
    updated = fake_slack.wait_for("views.update")[0].params["view"]
    text_block = next(b for b in updated["blocks"] if b.get("block_id", "").startswith("text-"))
    assert text_block["element"]["initial_value"].startswith("Hi {first_name}, this is Alex")
    notes = updated["blocks"][-1]["elements"][0]["text"]
    assert "No value for {first_name}" in notes and "segment" in notes

    answer = alex.submits_view(
        updated,
        {
            text_block["block_id"]: {
                "text": {
                    "type": "plain_text_input",
                    "value": text_block["element"]["initial_value"],
                }
            }
        },
    ).get_json()
    assert (
        answer["response_action"] == "errors"
        and "{first_name}" in answer["errors"][text_block["block_id"]]
    )
    response = alex.submits_view(
        updated,
        {
            text_block["block_id"]: {
                "text": {"type": "plain_text_input", "value": "Hi there, a quote is on its way."}
            }
        },
    )
    assert response.status_code == 200 and not response.data
    assert (
        fake_twilio.wait_for("messages.create")[0].params["Body"]
        == "Hi there, a quote is on its way."
    )


def test_contact_modal_sets_name_and_owner(customer, alex, baton, fake_slack):
    customer.texts("hello")
    channel, card_ts = alex.card_of(1)
    alex.clicks("contact", "1")
    view = fake_slack.wait_for("views.open")[0].params["view"]
    assert view["callback_id"] == "contact"
    alex.submits_view(
        view,
        {
            "name": {"name": {"type": "plain_text_input", "value": "Sam Rivera"}},
            "owner": {"owner": {"type": "users_select", "selected_user": "U0BLAIR"}},
            "notes": {"notes": {"type": "plain_text_input", "value": "Prefers texts after 5pm"}},
        },
    )
    eventually(lambda: "Sam Rivera" in card_blocks_text(fake_slack.message(channel, card_ts)))
    contact = baton.contacts.get("+15551234567")
    assert (contact.name, contact.owner, contact.notes) == (
        "Sam Rivera",
        "U0BLAIR",
        "Prefers texts after 5pm",
    )
    shown = alex.runs("contact +1 555 123 4567")["text"]
    assert "Sam Rivera" in shown and "<@U0BLAIR>" in shown and "Prefers texts after 5pm" in shown


def test_export_uploads_the_transcript_to_my_dms(customer, alex, baton, fake_slack):
    customer.texts("quote for a bridge?")
    alex.card_of(1)
    assert alex.runs("export #1")["text"] == "The transcript of #1 is in your DMs with Baton."
    files = eventually(lambda: list(fake_slack.files.values()))
    assert files[0]["channel_id"] == "DU0ALEX"
    transcript = files[0]["data"].decode()
    assert (
        "Customer: quote for a bridge?" in transcript
        and "Conversation #1 with +1 555-123-4567" in transcript
    )


def test_forget_erases_texts_and_contact_for_admins_only(
    customer, alex, casey_admin, baton, fake_slack
):
    customer.texts("my secret medical question")
    alex.card_of(1)
    alex.runs('contact +15551234567 name "Sam Rivera"')
    assert alex.runs("forget +15551234567")["text"].startswith("Only an admin")
    answer = casey_admin.runs("forget (555) 123-4567")["text"]
    assert (
        answer
        == "Erased +1 555-123-4567: #1, and the contact. An audit event without the content remains."
    )
    assert baton.conversations.messages(1) == []
    assert baton.conversations.get(1).in_sid == "", "the sid names the text in Twilio's logs"
    assert baton.contacts.get("+15551234567").name is None
    audit = baton.conversations.events(1)[-1]
    assert (audit.kind, audit.who) == ("forgotten", "U0CASEY") and "secret" not in audit.note
    customer.texts("hello again")
    alex.card_of(2)
    assert baton.conversations.get(2).customer_number == "+15551234567"
    stored = "".join(
        str(baton.redis.hgetall(k))
        for k in baton.redis.scan_iter(match=f"{baton.keys.prefix}:*")
        if baton.redis.type(k) == "hash"
    )
    assert "secret" not in stored


@pytest.fixture
def casey_admin(client, fake_slack, baton):
    from tests.dialog import Teammate

    return Teammate(
        client, fake_slack, baton, "U0CASEY", signing_secret="slack-test-signing-secret"
    )


def test_urgent_text_after_hours_pages_the_on_call_person(client, alex, baton, clock, fake_slack):
    clock.current = ny(2026, 11, 17, 22, 0)
    Customer(client, "+15551230002", auth_token="twilio-test-auth-token").texts(
        "URGENT: need a price now"
    )
    alex.card_of(1)
    page = eventually(lambda: fake_slack.messages("DU0CASEY"))[0]["text"]
    assert "Urgent text after hours in #1" in page and "You are on call" in page


def test_forget_right_after_a_transfer_erases_the_old_card_too(
    customer, alex, casey_admin, baton, fake_slack, app
):
    customer.texts("my number is on this card")
    channel, card_ts = alex.card_of(1)
    alex.runs("help")  # Baton has met Slack before the outage
    fake_slack.set_down(True)
    assert "Moved #1 to the sales queue" in alex.runs("transfer #1 sales")["text"]
    casey_admin.runs("forget +15551234567")  # before the old card was retired
    fake_slack.set_down(False)
    settle(app)

    old = fake_slack.message(channel, card_ts)
    assert "erased" in old["text"]
    assert not [b for b in old.get("blocks") or [] if b["type"] == "actions"]
    assert "555-123" not in json.dumps(old) and "5551234567" not in json.dumps(old)


def test_forget_drops_what_was_still_queued_and_leaves_a_card_without_buttons(
    customer, alex, casey_admin, baton, fake_slack, fake_twilio, app
):
    customer.texts("first secret")
    channel, card_ts = alex.card_of(1)
    alex.clicks("claim", "1")
    eventually(lambda: baton.conversations.get(1).owner == "U0ALEX")
    alex.runs("handoff #1 <@U0CASEY> she asked about her MRI results")
    settle(app)
    fake_slack.set_down(True)
    customer.texts("second secret, never shown")

    casey_admin.runs("forget +15551234567")
    fake_slack.set_down(False)
    settle(app)

    everything = json.dumps(fake_slack.messages(channel)) + json.dumps(
        fake_slack.thread(channel, card_ts)
    )
    assert "second secret" not in everything
    card = fake_slack.message(channel, card_ts)
    assert "erased" in card["text"]
    assert not [b for b in card.get("blocks") or [] if b["type"] == "actions"]
    assert any(
        "erased this customer's data" in m["text"] for m in fake_slack.thread(channel, card_ts)
    )
    notes = [e.note for e in baton.conversations.events(1) if e.kind != "forgotten"]
    assert not any("MRI" in note for note in notes)
    assert [e.kind for e in baton.conversations.events(1)][-1] == "forgotten"

    alex.says(1, "Hello? Still there?", thread=(channel, card_ts))
    settle(app)
    assert fake_twilio.sent == []
    assert any("data was erased" in e["text"] for e in alex.ephemerals())
