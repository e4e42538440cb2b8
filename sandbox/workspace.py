"""The Slack side of the sandbox: teammates acting in the fake workspace, and what each one sees.

Every action is one of the Teammate actor's signed requests to Baton's
/slack/events. Baton answers through the Slack Web API, which is the FakeSlack
stand-in: the page reads messages, ephemerals, modals and Home tabs from it.
Modals are matched to the person who opened them by the click's trigger id;
answers to a response_url (slash commands, Claim & send) by the URL's id.
"""

from __future__ import annotations

import copy
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from bot.service import Baton
from config import BatonConfig
from sandbox.team import TEAM
from standins import FakeSlack
from standins.actors import HttpTransport, Teammate
from standins.slack import BOT_USER_ID


class ActionError(ValueError):
    """What the visitor asked for cannot be done; the message says why."""


@dataclass(frozen=True)
class Responder:
    """Whom a response_url answers, and the ephemeral note it may replace."""

    user: str
    channel: str
    thread_ts: str | None
    replaces: str | None = None


def _now_ts() -> str:
    return f"{time.time():.6f}"


def _handles() -> dict[str, str]:
    """Return the names a teammate may type after @, lowercased, with the user id each means."""
    handles = {"baton": BOT_USER_ID}
    for person in TEAM:
        handles[person.handle.lower()] = person.id
        handles[person.display_name.lower()] = person.id
    return handles


HANDLES = _handles()
TYPED_MENTION = re.compile(
    r"(?<![\w@<|])@("
    + "|".join(sorted(map(re.escape, HANDLES), key=len, reverse=True))
    + r")(?![\w-])",
    re.IGNORECASE,
)


def mentions(text: str, *, labelled: bool) -> str:
    """Turn a typed @alex into Slack's <@U…> markup, as Slack's client does before sending.

    A slash command's text, escaped as the manifest asks (should_escape), keeps the
    name as a label: <@U0ALEX|alex>; a message's text carries the bare <@U0ALEX>.
    Other @words (an unknown name, an e-mail address) stay as typed, as in Slack.
    """

    def markup(match: re.Match[str]) -> str:
        user = HANDLES[match.group(1).lower()]
        return f"<@{user}|{match.group(1).lower()}>" if labelled else f"<@{user}>"

    return TYPED_MENTION.sub(markup, text)


def card_number(message: dict[str, Any] | None) -> int | None:
    """Return the conversation a Baton card belongs to, from its metadata."""
    meta = (message or {}).get("metadata") or {}
    if meta.get("event_type") != "baton_card":
        return None
    number = (meta.get("event_payload") or {}).get("conversation")
    return number if isinstance(number, int) else None


def _message(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "ts": message["ts"],
        "user": message["user"],
        "text": message.get("text") or "",
        "blocks": message.get("blocks") or [],
        # A card shows its conversation's first text as an attachment's blocks.
        "attachments": [
            {"color": a.get("color") or "", "blocks": a.get("blocks") or []}
            for a in message.get("attachments") or []
            if isinstance(a, dict)
        ],
        "reactions": [
            {"name": r["name"], "count": r["count"]} for r in message.get("reactions") or []
        ],
        "edited": bool(message.get("edited")),
        "conversation": card_number(message),
    }


def timeline(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return top-level messages in order, each with its thread replies nested."""
    top: list[dict[str, Any]] = []
    by_ts: dict[str, dict[str, Any]] = {}
    # A file's share message is left out: the page lists files apart.
    messages = [m for m in messages if not m.get("files")]
    for message in messages:
        if not message.get("thread_ts") or message["thread_ts"] == message["ts"]:
            item = {**_message(message), "replies": []}
            by_ts[message["ts"]] = item
            top.append(item)
    for message in messages:
        parent = by_ts.get(message.get("thread_ts") or "")
        if parent is not None and message["ts"] != parent["ts"]:
            parent["replies"].append(_message(message))
    return top


class Workspace:
    """The fake Slack workspace as the sample teammates use it."""

    def __init__(self, slack: FakeSlack, baton_url: str, baton: Baton, signing_secret: str) -> None:
        self.slack = slack
        self.config: BatonConfig = baton.config
        transport = HttpTransport(baton_url)
        self.teammates = {
            p.id: Teammate(transport, slack, baton, p.id, signing_secret=signing_secret)
            for p in TEAM
        }
        self._lock = threading.Lock()
        self._responders: dict[str, Responder] = {}
        self._answers: list[dict[str, Any]] = []
        self._edits: dict[str, dict[str, Any] | None] = {}
        self._triggers: dict[str, str] = {}
        self._modals: dict[str, str] = {}
        self._errors: dict[str, dict[str, str]] = {}
        self._matched_views: set[str] = set()
        self._calls_seen = len(slack.calls)

    # -- acting -------------------------------------------------------------------------------

    def teammate(self, user: str) -> Teammate:
        """Return the sample teammate with this id, or raise ActionError."""
        found = self.teammates.get(user)
        if found is None:
            raise ActionError(f"{user} is not one of the sandbox's teammates.")
        return found

    def _response_url(self, responder: Responder) -> str:
        hook = uuid.uuid4().hex[:12]
        with self._lock:
            self._responders[hook] = responder
        return f"{self.slack.url}/respond/{hook}"

    def _trigger(self, user: str) -> str:
        trigger = f"{int(time.time())}.{uuid.uuid4().int % 10**9}.{uuid.uuid4().hex[:8]}"
        with self._lock:
            self._triggers[trigger] = user
        return trigger

    def click(
        self,
        user: str,
        channel: str,
        message_ts: str,
        element: dict[str, Any],
        *,
        block_id: str = "",
        option: dict[str, Any] | None = None,
        ephemeral: str | None = None,
        thread_ts: str | None = None,
    ) -> None:
        """Use a card's (or an ephemeral note's) button, overflow menu or select."""
        teammate = self.teammate(user)
        action_id = str(element.get("action_id") or "")
        if not action_id:
            raise ActionError("That control has no action_id.")
        kind = element.get("type", "button")
        if kind != "button":
            if option is None:
                raise ActionError("Pick an option first.")
            answer = teammate.clicks_with(
                action_id,
                {"type": kind, "block_id": block_id, "selected_option": option},
                channel=channel,
                # As Slack does: an answer to the menu goes where it was used.
                response_url=self._response_url(Responder(user, channel, thread_ts)),
            )
        else:
            action = {
                "type": "button",
                "action_id": action_id,
                "block_id": block_id,
                "value": str(element.get("value") or ""),
                "text": element.get("text") or {"type": "plain_text", "text": action_id},
                "action_ts": _now_ts(),
            }
            responder = Responder(user, channel, thread_ts, replaces=ephemeral)
            answer = teammate.clicks(
                action_id,
                action["value"],
                channel=channel,
                actions=[action],
                trigger_id=self._trigger(user),
                response_url=self._response_url(responder),
                container={
                    "type": "message",
                    "message_ts": message_ts,
                    "channel_id": channel,
                    "is_ephemeral": ephemeral is not None,
                },
                message={"type": "message", "user": BOT_USER_ID, "ts": message_ts, "text": ""},
            )
        if answer.status_code != 200:
            raise ActionError(f"Baton answered the click with HTTP {answer.status_code}.")

    def reply(self, user: str, channel: str, thread_ts: str, text: str) -> str:
        """Write in a card's thread, as the teammate; return the message's ts."""
        if not text.strip():
            raise ActionError("Write something first.")
        number = card_number(self.slack.message(channel, thread_ts))
        if number is None:
            raise ActionError("Reply in the thread of a conversation card.")
        ts, answer = self.teammate(user).says(number, mentions(text, labelled=False))
        if answer.status_code != 200:
            raise ActionError(f"Baton answered the message event with HTTP {answer.status_code}.")
        return ts

    def command(self, user: str, channel: str, text: str) -> dict[str, Any]:
        """Run the slash command; Baton's answer (to a FakeSlack response_url) becomes a note."""
        slash = self.config.slash_command
        words = text.strip()
        if words.split(" ", 1)[0] != slash:
            raise ActionError(
                f"Type a command like `{slash} help`; customers are answered in threads."
            )
        arguments = words[len(slash) :].strip()
        try:
            answer = self.teammate(user).runs(mentions(arguments, labelled=True))
        except AssertionError:
            answer = {"text": f"Baton did not answer `{words}` in time."}
        note = {
            "key": f"r:{uuid.uuid4().hex[:12]}",
            "user": user,
            "channel": channel,
            "thread_ts": None,
            "text": f"{words}\n{answer.get('text') or ''}".strip(),
            "command": words,
            "answer": answer.get("text") or "",
            "blocks": answer.get("blocks") or [],
            "ts": _now_ts(),
        }
        with self._lock:
            self._answers.append(note)
        return note

    def open_home(self, user: str) -> None:
        """Open Baton's Home tab, which makes Baton publish it."""
        answer = self.teammate(user).opens_home()
        if answer.status_code != 200:
            raise ActionError(f"Baton answered app_home_opened with HTTP {answer.status_code}.")

    def submit_view(self, user: str, view_id: str, values: dict[str, Any]) -> dict[str, str]:
        """Submit an open modal with these input values; return the errors Baton showed, if any."""
        view = self.slack.views.get(view_id)
        if view is None:
            raise ActionError("That form is no longer open.")
        answer = self.teammate(user).submits_view(view, values)
        if answer.status_code != 200:
            raise ActionError(f"Baton answered the form with HTTP {answer.status_code}.")
        body = answer.get_json() if answer.data else None
        errors = body.get("errors", {}) if isinstance(body, dict) else {}
        with self._lock:
            if errors:
                self._errors[view_id] = errors
            else:
                self._errors.pop(view_id, None)
                if self._modals.get(user) == view_id:
                    del self._modals[user]
        return errors

    def view_action(
        self, user: str, view_id: str, block_id: str, element: dict[str, Any], option: Any
    ) -> None:
        """Use a select inside an open modal (Templates' picker dispatches right away)."""
        view = self.slack.views.get(view_id)
        if view is None:
            raise ActionError("That form is no longer open.")
        action = {"type": element.get("type", "static_select"), "block_id": block_id}
        if action["type"] == "users_select":
            action["selected_user"] = option
        else:
            action["selected_option"] = option
        self.teammate(user).picks_in_view(str(element.get("action_id") or ""), action, view)

    def close_view(self, user: str) -> None:
        """Close the person's modal without submitting it."""
        with self._lock:
            view_id = self._modals.pop(user, None)
            if view_id:
                self._errors.pop(view_id, None)

    def modal_of(self, user: str) -> dict[str, Any] | None:
        """Return the modal this person has open, as Baton last wrote it."""
        with self._lock:
            view_id = self._modals.get(user)
        return self.slack.views.get(view_id) if view_id else None

    # -- keeping up with Baton ----------------------------------------------------------------

    def tick(self) -> None:
        """Match the modals Baton opened and the response_url answers it sent to their people."""
        calls = self.slack.calls
        fresh, self._calls_seen = calls[self._calls_seen :], len(calls)
        for call in fresh:
            if call.method == "views.open" and call.status == 200:
                self._match_modal(call.params)
            elif call.path.startswith("/respond/"):
                self._answered(call.path.rsplit("/", 1)[-1], call.params)

    def _match_modal(self, params: dict[str, Any]) -> None:
        with self._lock:
            user = self._triggers.pop(str(params.get("trigger_id") or ""), None)
        view = params.get("view")
        if user is None or not isinstance(view, dict):
            return
        # FakeSlack does not record the id it answered with, so find the stored view
        # with this content; newest first, as ids grow.
        for view_id, stored in sorted(self.slack.views.items(), reverse=True):
            if view_id in self._matched_views or stored.get("type") != "modal":
                continue
            if all(
                stored.get(k) == view.get(k) for k in ("callback_id", "private_metadata", "blocks")
            ):
                with self._lock:
                    self._matched_views.add(view_id)
                    self._modals[user] = view_id
                return

    def _answered(self, hook: str, params: dict[str, Any]) -> None:
        with self._lock:
            responder = self._responders.get(hook)
            if responder is None:  # a slash command: command() records its own answer
                return
            replaced = responder.replaces
            if replaced and (params.get("replace_original") or params.get("delete_original")):
                deleted = str(params.get("delete_original")).lower() in ("1", "true")
                self._edits[replaced] = (
                    None
                    if deleted
                    else {
                        "text": params.get("text") or "",
                        "blocks": params.get("blocks") or [],
                    }
                )
                return
            self._answers.append(
                {
                    "key": f"r:{hook}",
                    "user": responder.user,
                    "channel": responder.channel,
                    "thread_ts": responder.thread_ts,
                    "text": params.get("text") or "",
                    "blocks": params.get("blocks") or [],
                    "ts": _now_ts(),
                }
            )

    # -- what the page shows ------------------------------------------------------------------

    def ephemerals(self, user: str) -> list[dict[str, Any]]:
        """Return the notes only this person sees, oldest first, as last edited."""
        notes = [
            {
                "key": f"e:{e['message_ts']}",
                "user": e["user"],
                "channel": e["channel"],
                "thread_ts": e.get("thread_ts"),
                "text": e.get("text") or "",
                "blocks": e.get("blocks") or [],
                "ts": e["message_ts"],
            }
            for e in self.slack.ephemerals
            if e.get("user") == user
        ]
        with self._lock:
            notes += [copy.deepcopy(a) for a in self._answers if a["user"] == user]
            edits = dict(self._edits)
        shown = []
        for note in sorted(notes, key=lambda n: float(n["ts"])):
            if note["key"] in edits:
                edit = edits[note["key"]]
                if edit is None:
                    continue
                note.update(edit)
            shown.append(note)
        return shown

    def view(self, user: str) -> dict[str, Any]:
        """Return everything this person sees in Slack, for the page."""
        channels = [
            {
                "id": queue.channel,
                "name": queue.name,
                "messages": timeline(self.slack.messages(queue.channel)),
            }
            for queue in self.config.queues
        ]
        dm = f"D{user}"
        modal = self.modal_of(user)
        if modal is not None:
            with self._lock:
                modal = {**modal, "errors": self._errors.get(modal["id"], {})}
        files = [
            {"id": f["id"], "title": f["title"], "size": len(f["data"] or b"")}
            for f in self.slack.files.values()
            if f.get("completed") and f.get("channel_id") == dm
        ]
        return {
            "me": user,
            "users": self.users(),
            "channels": channels,
            "dm": {"id": dm, "messages": timeline(self.slack.messages(dm)), "files": files},
            "ephemerals": self.ephemerals(user),
            "home": self.slack.home_views.get(user),
            "modal": modal,
            "slash_command": self.config.slash_command,
        }

    def users(self) -> dict[str, dict[str, str]]:
        """Return the names the page shows for each Slack user id."""
        users = {BOT_USER_ID: {"name": "Baton", "real_name": "Baton", "color": "#1d7a55"}}
        for p in TEAM:
            users[p.id] = {"name": p.display_name, "real_name": p.real_name, "color": p.color}
        return users

    # -- surviving a restart ------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Return the workspace's messages and notes, to show them again after a restart."""
        with self._lock:
            answers = copy.deepcopy(self._answers)
            edits = copy.deepcopy(self._edits)
        return {
            "messages": self.slack.messages(),
            "ephemerals": self.slack.ephemerals,
            "answers": answers,
            "edits": edits,
        }

    def restore(self, saved: dict[str, Any]) -> None:
        """Put back what a previous run left, so Baton's cards and threads are still there."""
        # FakeSlack keeps its workspace in private fields and has no public way to
        # store a message under a given ts; Baton's records name those ts.
        with self.slack._lock:
            for message in saved.get("messages", []):
                self.slack._messages.setdefault(message["channel"], []).append(message)
            self.slack._ephemerals.extend(saved.get("ephemerals", []))
        with self._lock:
            self._answers = list(saved.get("answers", []))
            self._edits = dict(saved.get("edits", {}))
