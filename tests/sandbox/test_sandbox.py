"""The sandbox through its JSON API: the phone, the workspace, the replayed day, reset and restart."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis

from sandbox import Sandbox
from sandbox.__main__ import main
from sandbox.replay import ALEX_REPLY, BLAIR_REPLY, HANDOFF_NOTE

T = TypeVar("T")
GENERAL = "C0123GENERAL"
SALES = "C0123SALES"


def api(sandbox: Sandbox, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """Call the sandbox page's API over HTTP; return (status, JSON answer)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        sandbox.url + path.lstrip("/"), data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def state(sandbox: Sandbox, user: str = "U0ALEX") -> dict[str, Any]:
    status, answer = api(sandbox, f"/api/state?user={user}")
    assert status == 200
    return answer


def until(check: Callable[[], T | None], timeout: float = 8.0, message: str = "") -> T:
    """Poll check until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(message or "condition not met in time")
        time.sleep(0.1)


def card(sandbox: Sandbox, number: int, user: str = "U0ALEX") -> dict[str, Any] | None:
    """Return conversation number's card as the page shows it, with its channel."""
    for channel in state(sandbox, user)["slack"]["channels"]:
        for message in channel["messages"]:
            if message["conversation"] == number:
                return {**message, "channel": channel["id"]}
    return None


def card_text(message: dict[str, Any]) -> str:
    parts = []
    for block in message["blocks"]:
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        parts += [e.get("text", "") for e in block.get("elements", []) if e.get("type") == "mrkdwn"]
    return "\n".join(parts)


def first_text(message: dict[str, Any] | None) -> str:
    """Return the first text a card shows under it (its attachments), or ""."""
    attachments = (message or {}).get("attachments") or []
    return "\n".join(card_text(a) for a in attachments)


def control(message: dict[str, Any], action_id: str) -> tuple[dict[str, Any], str]:
    """Return (element, block_id) of a card's button or menu."""
    for block in message["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return element, block.get("block_id", "")
    raise AssertionError(f"no {action_id} on the card")


def click(sandbox: Sandbox, user: str, message: dict[str, Any], action_id: str) -> None:
    element, block_id = control(message, action_id)
    status, _ = api(
        sandbox,
        "/api/click",
        {
            "user": user,
            "channel": message["channel"],
            "message_ts": message["ts"],
            "element": element,
            "block_id": block_id,
        },
    )
    assert status == 200


def texts_on_phone(sandbox: Sandbox, number: str) -> list[dict[str, Any]]:
    return [t for t in state(sandbox)["phones"]["texts"] if t["number"] == number]


def start_conversation(sandbox: Sandbox, text: str = "Hi, can I book a cleaning?") -> dict:
    status, sent = api(sandbox, "/api/text", {"number": "(212) 736-5000", "body": text})
    assert status == 200, sent
    assert sent["number"] == "+12127365000"
    return until(lambda: card(sandbox, 1), message="no card for #1")


def test_a_text_from_the_phone_becomes_a_card_in_its_queue(sandbox: Sandbox) -> None:
    posted = start_conversation(sandbox)
    assert posted["channel"] == GENERAL
    assert "+1 212-736-5000" in card_text(posted)
    assert "*Owner:* Unclaimed" in card_text(posted)
    assert "Hi, can I book a cleaning?" in first_text(posted)  # one post: the card shows it
    assert texts_on_phone(sandbox, "+12127365000")[0]["direction"] == "in"

    api(sandbox, "/api/text", {"number": "+1 415 555 0123", "body": "What's the price of a crown?"})
    sales = until(lambda: card(sandbox, 2))
    assert sales["channel"] == SALES


def test_claim_shows_the_owner_and_the_owners_reply_reaches_the_phone_delivered(
    sandbox: Sandbox,
) -> None:
    posted = start_conversation(sandbox)
    click(sandbox, "U0ALEX", posted, "claim")
    until(lambda: "*Owner:* <@U0ALEX>" in card_text(card(sandbox, 1) or {"blocks": []}))

    status, _ = api(
        sandbox,
        "/api/reply",
        {"user": "U0ALEX", "channel": GENERAL, "thread_ts": posted["ts"], "text": "Yes! Tuesday?"},
    )
    assert status == 200
    delivered = until(
        lambda: [
            t
            for t in texts_on_phone(sandbox, "+12127365000")
            if t["direction"] == "out" and t["status"] == "delivered"
        ],
        message="the reply never showed as delivered on the phone",
    )
    assert delivered[0]["body"] == "Yes! Tuesday?"

    # Twilio's "delivered" callback reached Baton, which marks the Slack message.
    def reacted() -> bool:
        replies = (card(sandbox, 1) or {}).get("replies", [])
        mine = [r for r in replies if r["text"] == "Yes! Tuesday?"]
        return bool(mine) and any(r["name"] == "white_check_mark" for r in mine[0]["reactions"])

    until(reacted, message="no ✅ on the texted message")


def test_the_replayed_day_plays_every_step_within_40_seconds(sandbox: Sandbox) -> None:
    began = time.monotonic()
    status, answer = api(sandbox, "/api/replay", {})
    assert status == 200 and answer["started"]
    assert api(sandbox, "/api/replay", {})[1]["started"] is False  # one at a time

    finished = until(
        lambda: (lambda r: r if not r["running"] else None)(state(sandbox)["replay"]),
        timeout=40,
        message="the replay did not finish within 40 s",
    )
    assert time.monotonic() - began < 40
    assert [s["state"] for s in finished["steps"]] == ["done"] * 7, finished
    assert finished["error"] == ""

    where = finished["conversation"]
    shown = card(sandbox, where["number"], "U0BLAIR")
    assert "*Status:* Closed" in card_text(shown)
    thread = "\n".join(r["text"] for r in shown["replies"])
    assert "claimed" in thread and ALEX_REPLY in thread and BLAIR_REPLY in thread
    assert "handed" in thread and HANDOFF_NOTE in thread and "resolved" in thread

    blair = state(sandbox, "U0BLAIR")
    dms = [m["text"] for m in blair["slack"]["dm"]["messages"]]
    assert any(":alarm_clock:" in t and f"#{where['number']}" in t for t in dms), dms
    phone = [t for t in blair["phones"]["texts"] if t["number"] == where["phone"]]
    assert [t["body"] for t in phone if t["direction"] == "out" and t["status"] == "delivered"][
        :1
    ] == [ALEX_REPLY]


def test_a_slash_command_answers_as_a_note_only_its_author_sees(sandbox: Sandbox) -> None:
    status, note = api(
        sandbox, "/api/command", {"user": "U0BLAIR", "channel": GENERAL, "text": "/sms help"}
    )
    assert status == 200
    assert "claim <ref>" in note["answer"]
    notes = state(sandbox, "U0BLAIR")["slack"]["ephemerals"]
    assert [n["command"] for n in notes] == ["/sms help"]
    assert state(sandbox, "U0ALEX")["slack"]["ephemerals"] == []

    status, answer = api(
        sandbox, "/api/command", {"user": "U0BLAIR", "channel": GENERAL, "text": "hello"}
    )
    assert status == 200 and answer["ok"] is False and "/sms help" in answer["error"]


def command(sandbox: Sandbox, user: str, text: str) -> dict[str, Any]:
    """Run a slash command from the page's command box; return the note it answered with."""
    status, note = api(sandbox, "/api/command", {"user": user, "channel": GENERAL, "text": text})
    assert status == 200 and "error" not in note, note
    return note


def test_typed_mentions_work_as_in_slack(sandbox: Sandbox) -> None:
    posted = start_conversation(sandbox)
    click(sandbox, "U0ALEX", posted, "claim")
    until(lambda: "*Owner:* <@U0ALEX>" in card_text(card(sandbox, 1) or {"blocks": []}))

    # The README's own examples, typed as a person types them.
    assert "<@U0CASEY>" in command(sandbox, "U0ALEX", "/sms loop #1 @casey")["answer"]
    command(sandbox, "U0ALEX", "/sms handoff #1 @Blair She wants Friday 3pm")
    until(lambda: "*Owner:* <@U0BLAIR>" in card_text(card(sandbox, 1) or {"blocks": []}))
    away = command(sandbox, "U0ALEX", "/sms away until 17:00 cover @blair")["answer"]
    assert "<@U0BLAIR>" in away
    command(sandbox, "U0CASEY", "/sms contact 212-736-5000 owner @alex")
    shown = command(sandbox, "U0CASEY", "/sms contact 212-736-5000")
    assert "<@U0ALEX>" in json.dumps(shown), shown

    # In a thread too; an unknown name and an e-mail address stay as typed.
    status, _ = api(
        sandbox,
        "/api/reply",
        {
            "user": "U0BLAIR",
            "channel": GENERAL,
            "thread_ts": posted["ts"],
            "text": "@alex thanks! cc @nobody, mail pat@example.com",
        },
    )
    assert status == 200
    said = until(
        lambda: [r for r in (card(sandbox, 1) or {}).get("replies", []) if "thanks" in r["text"]]
    )
    assert said[0]["text"] == "<@U0ALEX> thanks! cc @nobody, mail pat@example.com"


def test_a_post_from_another_site_is_refused_and_does_nothing(sandbox: Sandbox) -> None:
    def post(headers: dict[str, str]) -> tuple[int, Any]:
        request = urllib.request.Request(sandbox.url + "api/replay", data=b"", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    # A form on any web page: the browser names that page in Origin and Sec-Fetch-Site.
    for headers in (
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "same-site"},
        {"Host": "rebound.example:8000"},  # a name rebound to 127.0.0.1
    ):
        status, answer = post(headers)
        assert status == 403, headers
        assert "another site" in answer["error"] and "nothing was done" in answer["error"]
    replay = state(sandbox)["replay"]
    assert replay["running"] is False and replay["runs"] == 0

    # The page itself, and tools that send neither header, may act.
    own = sandbox.url.rstrip("/")
    status, answer = post({"Origin": own, "Sec-Fetch-Site": "same-origin"})
    assert status == 200 and answer["started"] is True


def test_hand_off_form_shows_errors_next_to_fields_then_hands_off(sandbox: Sandbox) -> None:
    posted = start_conversation(sandbox)
    click(sandbox, "U0ALEX", posted, "claim")
    posted = until(lambda: (lambda c: c if "<@U0ALEX>" in card_text(c) else None)(card(sandbox, 1)))
    click(sandbox, "U0ALEX", posted, "handoff")
    modal = until(lambda: state(sandbox)["slack"]["modal"], message="the form never opened")
    assert modal["callback_id"] == "handoff"
    assert state(sandbox, "U0BLAIR")["slack"]["modal"] is None  # only its opener sees it

    values = {
        "owner": {"owner": {"type": "users_select", "selected_user": "UBATONBOT"}},
        "note": {"note": {"type": "plain_text_input", "value": None}},
        "customer": {"message": {"type": "plain_text_input", "value": None}},
    }
    status, answer = api(
        sandbox, "/api/view/submit", {"user": "U0ALEX", "view_id": modal["id"], "values": values}
    )
    assert status == 200
    assert set(answer["errors"]) == {"owner", "note"}
    assert state(sandbox)["slack"]["modal"]["errors"] == answer["errors"]

    values["owner"]["owner"]["selected_user"] = "U0BLAIR"
    values["note"]["note"]["value"] = "Wants Tuesday morning."
    status, answer = api(
        sandbox, "/api/view/submit", {"user": "U0ALEX", "view_id": modal["id"], "values": values}
    )
    assert answer["errors"] == {}
    assert state(sandbox)["slack"]["modal"] is None
    until(lambda: "*Owner:* <@U0BLAIR>" in card_text(card(sandbox, 1) or {"blocks": []}))
    dms = until(lambda: state(sandbox, "U0BLAIR")["slack"]["dm"]["messages"])
    assert "handed you #1" in dms[0]["text"]


def test_claim_and_send_on_the_note_an_unclaimed_reply_gets(sandbox: Sandbox) -> None:
    posted = start_conversation(sandbox)
    api(
        sandbox,
        "/api/reply",
        {"user": "U0CASEY", "channel": GENERAL, "thread_ts": posted["ts"], "text": "On it!"},
    )
    note = until(lambda: state(sandbox, "U0CASEY")["slack"]["ephemerals"])[0]
    assert note["thread_ts"] == posted["ts"] and "unclaimed" in note["text"]
    button = note["blocks"][1]["elements"][0]
    status, _ = api(
        sandbox,
        "/api/click",
        {
            "user": "U0CASEY",
            "channel": note["channel"],
            "message_ts": note["ts"],
            "thread_ts": note["thread_ts"],
            "ephemeral": note["key"],
            "element": button,
        },
    )
    assert status == 200
    until(
        lambda: "You claimed #1" in state(sandbox, "U0CASEY")["slack"]["ephemerals"][0]["text"],
        message="the note was not replaced by Baton's answer",
    )
    until(lambda: any(t["body"] == "On it!" for t in texts_on_phone(sandbox, "+12127365000")))


def test_a_phone_switched_off_shows_the_text_undelivered_in_slack(sandbox: Sandbox) -> None:
    posted = start_conversation(sandbox)
    api(sandbox, "/api/phone", {"number": "+12127365000", "unreachable": True})
    click(sandbox, "U0ALEX", posted, "claim")
    until(lambda: "<@U0ALEX>" in card_text(card(sandbox, 1) or {"blocks": []}))
    api(
        sandbox,
        "/api/reply",
        {"user": "U0ALEX", "channel": GENERAL, "thread_ts": posted["ts"], "text": "Hello?"},
    )
    until(
        lambda: [t for t in texts_on_phone(sandbox, "+12127365000") if t["status"] == "undelivered"]
    )
    until(
        lambda: any(
            "not delivered" in r["text"] for r in (card(sandbox, 1) or {}).get("replies", [])
        ),
        message="Baton never said the text failed",
    )


def test_bad_input_gets_a_sentence_not_a_traceback(sandbox: Sandbox) -> None:
    # Mistakes are answers (ok false, and the sentence), not failed requests.
    status, answer = api(sandbox, "/api/text", {"number": "banana", "body": "hi"})
    assert status == 200 and answer["ok"] is False and "not a phone number" in answer["error"]
    status, answer = api(sandbox, "/api/text", {"number": "+12127365000", "body": "  "})
    assert status == 200 and answer["ok"] is False and "Type a text" in answer["error"]
    status, answer = api(
        sandbox,
        "/api/reply",
        {"user": "U0NOBODY", "channel": GENERAL, "thread_ts": "1.2", "text": "hi"},
    )
    assert status == 200 and answer["ok"] is False and answer["error"]


def test_a_restart_keeps_the_workspace_and_reset_wipes_only_its_own_keys(
    redis_server: redis.Redis, redis_prefix: str, tmp_path: Path
) -> None:
    settings = {
        "port": 0,
        "data_dir": tmp_path / "sandbox",
        "redis": redis_server,
        "redis_prefix": redis_prefix,
        "status_delay": 0.1,
    }
    with Sandbox(**settings) as first:
        start_conversation(first)
        until(lambda: first_text(card(first, 1)))

    neighbour = f"{redis_prefix}-neighbour:kept"
    redis_server.set(neighbour, "1")
    try:
        with Sandbox(**settings) as second:
            assert second.kept == 1
            again = card(second, 1)
            assert first_text(again), "the card did not survive the restart"
            api(second, "/api/text", {"number": "+12127365000", "body": "Still there?"})
            until(lambda: len((card(second, 1) or {}).get("replies", [])) == 1)

        with Sandbox(**settings).start(reset=True) as third:  # __enter__ keeps it started
            assert third.kept == 0
            assert state(third)["phones"]["texts"] == []
            assert all(not c["messages"] for c in state(third)["slack"]["channels"])
        assert redis_server.get(neighbour) == "1"
    finally:
        redis_server.delete(neighbour)


def test_the_command_line_says_when_the_port_is_taken(capsys: pytest.CaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--port", str(port)]) == 1
    assert f"port {port} is in use" in capsys.readouterr().err


def test_the_card_menu_and_the_templates_form(sandbox: Sandbox) -> None:
    posted = start_conversation(sandbox)
    click(sandbox, "U0ALEX", posted, "claim")
    posted = until(lambda: (lambda c: c if "<@U0ALEX>" in card_text(c) else None)(card(sandbox, 1)))

    menu, block_id = control(posted, "card_menu")
    urgent = next(o for o in menu["options"] if o["value"].startswith("tag:urgent:"))
    api(
        sandbox,
        "/api/click",
        {
            "user": "U0ALEX",
            "channel": GENERAL,
            "message_ts": posted["ts"],
            "element": menu,
            "block_id": block_id,
            "option": urgent,
        },
    )
    until(lambda: "`urgent`" in card_text(card(sandbox, 1) or {"blocks": []}))

    click(sandbox, "U0ALEX", card(sandbox, 1), "templates")
    modal = until(lambda: state(sandbox)["slack"]["modal"])
    picker = modal["blocks"][0]
    waiting = next(o for o in picker["element"]["options"] if o["value"] == "waiting")
    api(
        sandbox,
        "/api/view/action",
        {
            "user": "U0ALEX",
            "view_id": modal["id"],
            "block_id": picker["block_id"],
            "element": picker["element"],
            "option": waiting,
        },
    )
    filled = until(
        lambda: (lambda m: m if m and m["hash"] != modal["hash"] else None)(
            state(sandbox)["slack"]["modal"]
        ),
        message="Baton never filled the template in",
    )
    text_block = next(b for b in filled["blocks"] if b["block_id"].startswith("text-"))
    values = {
        picker["block_id"]: {
            "template_pick": {"type": "static_select", "selected_option": waiting}
        },
        text_block["block_id"]: {
            "text": {"type": "plain_text_input", "value": "Just checking in: still want Tuesday?"}
        },
    }
    status, answer = api(
        sandbox, "/api/view/submit", {"user": "U0ALEX", "view_id": filled["id"], "values": values}
    )
    assert status == 200 and answer["errors"] == {}
    until(
        lambda: any(
            t["body"] == "Just checking in: still want Tuesday?"
            for t in texts_on_phone(sandbox, "+12127365000")
        )
    )


def test_a_menu_refusal_is_a_note_to_who_used_the_menu(sandbox: Sandbox) -> None:
    posted = start_conversation(sandbox)
    menu, block_id = control(posted, "card_menu")
    pending = next(o for o in menu["options"] if o["value"].startswith("status:pending:"))

    def pick() -> int:
        # The card as it was first posted: the second pick is a stale menu's.
        status, _ = api(
            sandbox,
            "/api/click",
            {
                "user": "U0BLAIR",
                "channel": GENERAL,
                "message_ts": posted["ts"],
                "element": menu,
                "block_id": block_id,
                "option": pending,
            },
        )
        return status

    assert pick() == 200
    until(lambda: "Pending" in card_text(card(sandbox, 1) or {"blocks": []}))
    channel_before = general_messages(sandbox)
    assert pick() == 200

    note = until(lambda: state(sandbox, "U0BLAIR")["slack"]["ephemerals"])[0]
    assert "already pending" in note["text"].lower()
    assert general_messages(sandbox) == channel_before


def general_messages(sandbox: Sandbox) -> int:
    [general] = [c for c in state(sandbox)["slack"]["channels"] if c["id"] == GENERAL]
    return len(general["messages"])


def test_the_home_tab_lists_my_conversations(sandbox: Sandbox) -> None:
    posted = start_conversation(sandbox)
    click(sandbox, "U0ALEX", posted, "claim")
    until(lambda: "<@U0ALEX>" in card_text(card(sandbox, 1) or {"blocks": []}))
    assert api(sandbox, "/api/home", {"user": "U0ALEX"})[0] == 200
    home = until(lambda: state(sandbox)["slack"]["home"])
    assert "+1 212-736-5000" in json.dumps(home["blocks"])
