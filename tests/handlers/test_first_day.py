"""What a new team tripped over on its first day, as dialogs through the real app."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dialog import Customer, eventually, settle, shape
from tests.handlers.test_bridge import card_blocks_text

GENERAL = "C0123GENERAL"
CONFIG = """
business:
  name: Acme Dental
  country: US
  timezone: America/New_York
  hours: {mon-fri: "09:00-18:00"}
queues:
  - name: quick
    channel: C0123SALES
    keywords: [asap]
    response_targets: {first_response: 60s, next_response: 90s}
  - {name: general, channel: C0123GENERAL, default: true}
response_targets: {first_response: 15m, next_response: 1h, warn_at: 0.75}
accounts:
  - {phone: "+12127365000", owner: U0BLAIR, name: Sarah Lee}
templates:
  first_response: "Hi {first_name}, we will get back to you {timeframe}."
  after_hours: "Thanks for texting {business}. We're closed now and will reply after {opens_at}."
"""


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "baton.yml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def sarah(client) -> Customer:
    return Customer(client, "+12127365000", auth_token="twilio-test-auth-token")


def card_text(fake_slack, baton, number: int) -> str:
    conv = baton.conversations.get(number)
    return card_blocks_text(fake_slack.message(conv.channel, conv.card_ts))


def thread_texts(fake_slack, baton, number: int) -> list[str]:
    conv = baton.conversations.get(number)
    card = fake_slack.message(conv.channel, conv.card_ts) if conv.card_ts else None
    if card is None:
        return []  # the card is not posted (or not known to be) yet
    return [card["text"], *fake_slack.said(conv.channel, conv.card_ts)]


def owned_by(baton, number: int, user: str | None) -> None:
    eventually(lambda: baton.conversations.get(number).owner == user, message=f"not {user}'s")


# 1. The name from accounts: is on the card


def test_the_card_shows_the_name_the_config_knows_for_an_account(
    app, sarah, alex, baton, fake_slack
):
    sarah.texts("Hi, it's me again")
    alex.card_of(1)
    settle(app)
    assert "Sarah Lee (+1 212-736-5000)" in card_text(fake_slack, baton, 1)
    assert "*Sarah Lee (+1 212-736-5000):* Hi, it's me again" in thread_texts(fake_slack, baton, 1)


def test_a_name_kept_with_the_contact_shows_on_a_new_conversations_card(
    app, customer, alex, baton, fake_slack
):
    alex.runs('contact +15551234567 name "Robin Park"')
    customer.texts("Hello!")
    alex.card_of(1)
    settle(app)
    assert "Robin Park (+1 555-123-4567)" in card_text(fake_slack, baton, 1)


# 2. Opt-out words change the opt-out state only


def test_stop_on_a_closed_conversation_opts_out_without_reopening_it(
    app, customer, alex, baton, fake_slack
):
    customer.texts("Thanks, all sorted")
    alex.card_of(1)
    alex.clicks("claim", "1")
    owned_by(baton, 1, "U0ALEX")
    alex.clicks("resolve", "1")
    eventually(lambda: baton.conversations.get(1).status == "closed")

    customer.texts("STOP")
    settle(app)
    conv = baton.conversations.get(1)
    assert (conv.status, conv.opted_out, conv.awaiting) == ("closed", True, False)
    shown = card_text(fake_slack, baton, 1)
    assert "Closed" in shown and "Opted out" in shown
    assert any("opted out" in t for t in thread_texts(fake_slack, baton, 1))
    assert "reopened" not in [e.kind for e in baton.conversations.events(1)]


def test_start_opts_back_in_without_starting_a_reply_clock(app, customer, alex, baton, fake_slack):
    customer.texts("Can I book a cleaning?")
    alex.card_of(1)
    alex.clicks("claim", "1")
    owned_by(baton, 1, "U0ALEX")
    alex.says(1, "Sure, Tuesday at 10?")
    eventually(lambda: not baton.conversations.get(1).awaiting)
    customer.texts("STOP")
    customer.texts("START")
    settle(app)

    conv = baton.conversations.get(1)
    assert (conv.opted_out, conv.awaiting, conv.status) == (False, False, "open")
    assert baton.redis.zscore(baton.keys.wake, "1") is None, "no reminder may fire"
    assert "due" not in card_text(fake_slack, baton, 1)
    assert any("opted back in" in t for t in thread_texts(fake_slack, baton, 1))


def test_stop_on_a_pending_conversation_leaves_it_pending(app, customer, alex, baton):
    customer.texts("I'll check my calendar and get back to you")
    alex.card_of(1)
    alex.runs("pending #1")
    eventually(lambda: baton.conversations.get(1).status == "pending")
    customer.texts("STOP")
    settle(app)
    assert baton.conversations.get(1).status == "pending"


# 3. A follow-up text refreshes the card's due time at once


def test_a_follow_up_text_shows_its_due_time_on_the_card_at_once(
    app, customer, alex, baton, clock, fake_slack
):
    customer.texts("Do you have anything on Friday?")
    alex.card_of(1)
    alex.clicks("claim", "1")
    owned_by(baton, 1, "U0ALEX")
    alex.says(1, "Yes, 3pm works.")
    eventually(lambda: not baton.conversations.get(1).awaiting)
    settle(app)
    assert "due" not in card_text(fake_slack, baton, 1)

    clock.advance(60)
    customer.texts("Great, and can my son come too?")
    settle(app)  # no sweep runs here: only what the text itself queued
    assert "due in 1 h" in card_text(fake_slack, baton, 1)


# 5. Answers go where the person acted


def test_a_refused_release_from_the_thread_is_answered_in_the_thread(
    app, customer, alex, blair, baton, fake_slack
):
    customer.texts("Is my crown ready?")
    _channel, card_ts = alex.card_of(1)
    alex.clicks("claim", "1")
    owned_by(baton, 1, "U0ALEX")

    blair.clicks("release", "1", thread_ts=card_ts)
    settle(app)
    [answer] = blair.ephemerals()
    assert answer["text"] == "Only <@U0ALEX> (the owner) or an admin can release #1."
    assert answer["response_type"] == "ephemeral" and "response_url" in answer
    assert baton.conversations.get(1).owner == "U0ALEX"


def test_without_a_response_url_the_refusal_is_posted_in_the_thread_clicked_in(
    app, customer, alex, blair, baton, fake_slack
):
    customer.texts("Is my crown ready?")
    channel, card_ts = alex.card_of(1)
    alex.clicks("claim", "1")
    owned_by(baton, 1, "U0ALEX")

    click = shape("block_actions")  # as a click comes where Slack gives no response URL
    del click["response_url"]
    click["user"] = {"id": "U0BLAIR", "username": "blair", "team_id": "T0BATON"}
    click["container"]["thread_ts"] = card_ts
    click["actions"][0].update(action_id="release", value="1")
    blair.send_interaction(click)
    settle(app)
    [answer] = blair.ephemerals()
    assert (answer["channel"], answer["thread_ts"]) == (channel, card_ts)
    assert "can release #1" in answer["text"]


# 7. The hand-off form checks what the person typed, not its own {name}


def test_the_hand_off_form_does_not_blame_its_own_name_placeholder(app, customer, alex, baton):
    customer.texts("Can I book a cleaning?")
    alex.card_of(1)
    alex.clicks("claim", "1")
    owned_by(baton, 1, "U0ALEX")
    prefilled = "I'm looping in {name}, who handles general. They'll take it from here."

    errors = alex.submits_handoff(1, None, "", prefilled).get_json()["errors"]
    assert set(errors) == {"owner", "note"}, errors

    errors = alex.submits_handoff(1, None, "", "Hi {frist_name}, {name} will call").get_json()
    assert errors["errors"]["customer"] == (
        "Replace {frist_name} with words, or the customer gets it as typed."
    )
    assert baton.conversations.get(1).owner == "U0ALEX"


# 6. The channel's "Claim it?" post says who claimed it


def test_the_channels_claim_prompt_says_who_claimed_it(
    app, customer, alex, baton, clock, fake_slack
):
    customer.texts("Hello, anyone there?")
    channel, card_ts = alex.card_of(1)
    clock.advance(12 * 60)  # past the 75% reminder of the 15 min target
    assert baton.reminders.sweep().reminders == 1
    settle(app)
    [prompt] = [m for m in fake_slack.messages(GENERAL) if "Claim it?" in m["text"]]
    assert prompt.get("thread_ts") is None

    alex.clicks("claim", "1")
    owned_by(baton, 1, "U0ALEX")
    settle(app)
    answered = fake_slack.message(GENERAL, prompt["ts"])
    link = f"https://example.slack.com/archives/{channel}/p{card_ts.replace('.', '')}"
    assert (
        answered["text"]
        == f":white_check_mark: <@U0ALEX> claimed #1. <{link}|Open the conversation>"
    )
    assert [m for m in fake_slack.messages(GENERAL) if "Claim it?" in m["text"]] == []


# 8. The transcript names people, says what happened in words, and names the time zone


def test_the_transcript_names_people_and_events_in_plain_words(
    app, customer, alex, baton, fake_slack, fake_twilio
):
    customer.texts("Can I move my cleaning?")
    alex.card_of(1)
    alex.clicks("claim", "1")
    owned_by(baton, 1, "U0ALEX")
    alex.says(1, "Sure, which day suits you?")
    fake_twilio.wait_for("messages.create")
    settle(app)
    assert alex.submits_handoff(1, "U0BLAIR", "She prefers mornings").status_code == 200
    owned_by(baton, 1, "U0BLAIR")

    alex.runs("export #1")
    transcript = eventually(lambda: list(fake_slack.files.values()))[0]["data"].decode()
    lines = transcript.splitlines()
    assert lines[1] == "Times are in the business's time zone, America/New_York."
    body = lines[3:]
    assert body[0] == "2026-11-17 10:00:00 EST Customer: Can I move my cleaning?"
    for line in (
        "Customer started the conversation in general (no keyword matched, so the default queue)",
        "Alex claimed",
        "Alex: Sure, which day suits you?",
        "Alex handed off to Blair (She prefers mornings)",
    ):
        assert any(
            entry.endswith(f"EST {line}") or entry.endswith(f"EST * {line}") for entry in body
        ), line
    assert "U0" not in transcript and "[" not in transcript and "handed_off" not in transcript


# 4. Durations in words: rounded up in promises to customers, plurals right


def test_a_template_promises_a_humane_timeframe(app, client, alex, baton, fake_twilio):
    robin = Customer(client, "+15557654321", auth_token="twilio-test-auth-token")
    alex.runs('contact +15557654321 name "Robin Park"')
    robin.texts("Please call me asap")
    alex.card_of(1)
    alex.clicks("claim", "1")
    owned_by(baton, 1, "U0ALEX")
    alex.runs("reply #1 first_response")
    sent = fake_twilio.wait_for("messages.create")[0].params["Body"]
    assert sent == "Hi Robin, we will get back to you within 1 minute."

    settle(app)
    robin.texts("Still there? asap please")
    alex.runs("reply #1 first_response")
    sent = fake_twilio.wait_for("messages.create", count=2)[1].params["Body"]
    assert sent == "Hi Robin, we will get back to you within 2 minutes."  # 90 s, rounded up


def test_the_card_says_when_a_reply_is_due_in_plain_words(
    app, customer, alex, baton, clock, fake_slack
):
    customer.texts("Hello")
    alex.card_of(1)
    settle(app)
    due = int(clock.now()) + 15 * 60
    card = card_text(fake_slack, baton, 1)
    # 10. No "Reply: reply due in …"; 9. the time in each reader's own zone, the business's as fallback.
    assert (
        f"*Status:* Open  ·  Reply due in 15 minutes "
        f"(by <!date^{due}^{{date_short_pretty}} {{time}}|Tue Nov 17 10:15 EST>)" in card
    )


# 9. Times in Slack are shown in each reader's own time zone; texts name the business's


def test_away_and_on_call_times_are_slack_dates(app, alex, baton, clock):
    answer = alex.runs("away until 17:00 cover <@U0BLAIR>")["text"]
    five = int(clock.now()) + 7 * 3600
    assert answer == (
        f"You are away until <!date^{five}^{{date_short_pretty}} {{time}}|Tue Nov 17 17:00 EST>; "
        "<@U0BLAIR> gets your reminders and nothing new is assigned to you."
    )


def test_the_history_gives_each_change_a_slack_date(app, customer, alex, baton, clock):
    customer.texts("Hello")
    alex.card_of(1)
    history = alex.runs("history #1")["text"]
    now = int(clock.now())
    assert (
        f"<!date^{now}^{{date_short_pretty}} {{time}}|Tue Nov 17 10:00 EST> · customer" in history
    )


def test_the_after_hours_reply_names_the_business_time_zone(customer, clock):
    clock.advance(10 * 3600)  # Tuesday 20:00, closed
    answer = customer.texts("Are you open tomorrow?").get_data(as_text=True)
    assert "will reply after Wednesday 9:00 AM EST." in answer


# 10. Answers in plain, right words


def test_pending_and_tag_answers_say_what_is_now(app, customer, alex, baton):
    customer.texts("Hello")
    alex.card_of(1)
    assert alex.runs("pending #1")["text"] == "#1 is pending."
    assert alex.runs("tag #1 +billing -new")["text"] == "Tags of #1 now: `billing`."
    assert alex.runs("tag #1 -billing")["text"] == "#1 has no tags now."
