"""What Bolt and Baton's listeners read in a Slack payload, and the types they must find there.

Slack's payloads are JSON objects whose ids, types and timestamps are strings. Bolt reads some
fields before any listener runs (the team, user and channel, the event, the first action, the
view) and answers a type it did not expect with a 500 and a traceback; Baton's listeners read
a few more. check() refuses such a payload with the first field that is wrong, so Slack's one
URL can answer 400 before Bolt sees it. Fields nobody reads are not checked, and a missing
field that a listener can do without is left to the listener to refuse in words.
"""

from __future__ import annotations

import re
from typing import Any

# A Slack user id (U…, W… on Enterprise Grid, B… for some bots): nothing else is
# a person Baton may record as an owner, mention, or write in a log line.
USER_ID = re.compile(r"[UWB][A-Z0-9]{2,}")
NoneType = type(None)
TEXT = (str,)
MAYBE_TEXT = (str, NoneType)
# Top-level fields, where present: Bolt reads them into its context, or Baton's listeners read them.
TOP_LEVEL = {
    "type": TEXT,
    "token": MAYBE_TEXT,
    "api_app_id": MAYBE_TEXT,
    "team_id": MAYBE_TEXT,
    "enterprise_id": MAYBE_TEXT,
    "user_id": MAYBE_TEXT,
    "channel_id": MAYBE_TEXT,
    "command": TEXT,
    "action_id": MAYBE_TEXT,
    "text": MAYBE_TEXT,
    "callback_id": MAYBE_TEXT,
    "trigger_id": MAYBE_TEXT,
    "event_id": MAYBE_TEXT,
    "function_execution_id": MAYBE_TEXT,
    "bot_access_token": MAYBE_TEXT,
}
# An event's fields, where present, for the events Baton listens to.
MESSAGE_EVENT = {
    "subtype": MAYBE_TEXT,
    "channel": TEXT,
    "user": MAYBE_TEXT,
    "ts": TEXT,
    "thread_ts": MAYBE_TEXT,
    "event_ts": MAYBE_TEXT,
    "text": MAYBE_TEXT,
    "bot_id": MAYBE_TEXT,
    "client_msg_id": MAYBE_TEXT,
    "channel_type": MAYBE_TEXT,
    "files": (list, NoneType),
}
HOME_EVENT = {"user": TEXT, "tab": MAYBE_TEXT}
VIEW = {
    "id": MAYBE_TEXT,
    "type": MAYBE_TEXT,
    "callback_id": MAYBE_TEXT,
    "private_metadata": MAYBE_TEXT,
    "hash": MAYBE_TEXT,
    "team_id": MAYBE_TEXT,
    "app_installed_team_id": MAYBE_TEXT,
    "state": (dict,),
}
ACTION = {
    "action_id": TEXT,
    "block_id": MAYBE_TEXT,
    "value": MAYBE_TEXT,
    "selected_option": (dict, NoneType),
}
# What each form element may hold once a modal is submitted.
ELEMENT_STATE = {
    "value": MAYBE_TEXT,
    "selected_user": MAYBE_TEXT,
    "selected_option": (dict, NoneType),
}


class Unreadable(Exception):
    """A payload Bolt or Baton's listeners cannot read; the message names the field."""


def check(body: dict[str, Any]) -> None:
    """Raise Unreadable if Bolt or a listener of Baton's would trip over a field of body."""
    _fields(body, TOP_LEVEL, "")
    _context(body, "")
    _urls(body)
    for name in ("message", "previous_message", "container", "state"):
        _field(body, name, (dict, NoneType), "")
    event = _field(body, "event", (dict,), "")
    if event is not None:
        _event(event)
    view = _field(body, "view", (dict,), "")
    if view is not None:
        _view(view)
    actions = _field(body, "actions", (list,), "")
    kind = body.get("type")
    if kind == "block_actions":
        _actions(actions)
    if kind == "interactive_message" and not actions:
        raise Unreadable("actions is missing or empty")
    # Bolt looks for a workflow step in every payload that could carry one.
    steps = kind == "workflow_step_edit" or (
        view is not None and view.get("type") == "workflow_step"
    )
    if steps and "callback_id" in (view or body):
        _field(body, "workflow_step", (dict,), "", required=True)
    if kind in ("block_actions", "view_submission", "message_action"):
        user = _field(body, "user", (dict,), "", required=True)
        _field(user, "id", TEXT, "user.", required=True)
    if kind in ("block_actions", "message_action"):
        _field(body, "trigger_id", TEXT, "", required=True)
    if kind == "view_submission":
        _field(body, "view", (dict,), "", required=True)
    if kind == "message_action":
        message = _field(body, "message", (dict,), "", required=True)
        _fields(message, {"ts": TEXT, "thread_ts": MAYBE_TEXT}, "message.")
    if kind == "message_action" or "command" in body:
        _field(body, "response_url", TEXT, "", required=True)
    if "command" in body:
        _field(body, "user_id", TEXT, "", required=True)


def _context(node: dict[str, Any], where: str) -> None:
    """Check what Bolt reads into its context: ids, in node and the objects it looks into."""
    for name in ("user", "team", "channel", "enterprise"):
        _named(node, name, where)
    _fields(node, {"team_id": MAYBE_TEXT, "enterprise_id": MAYBE_TEXT}, where)
    _fields(node, {"user_id": MAYBE_TEXT, "channel_id": MAYBE_TEXT}, where)
    user = node.get("user")
    _user_id(user.get("id") if isinstance(user, dict) else user, f"{where}user")
    _user_id(node.get("user_id"), f"{where}user_id")
    authorizations = _field(node, "authorizations", (list,), where)
    for index, authorization in enumerate(authorizations or []):
        inner = f"{where}authorizations[{index}]"
        if not isinstance(authorization, dict):
            raise Unreadable(f"{inner} is not an object")
        _context(authorization, f"{inner}.")
    for name in ("event", "message", "previous_message", "item", "assistant_thread"):
        inner = node.get(name)
        if isinstance(inner, dict):
            _context(inner, f"{where}{name}.")


def _event(event: dict[str, Any]) -> None:
    kind = _field(event, "type", TEXT, "event.")
    for name in ("message", "previous_message", "item"):
        _field(event, name, (dict, NoneType), "event.")
    _fields(event, {"bot_access_token": MAYBE_TEXT, "user_team": MAYBE_TEXT}, "event.")
    if kind == "message":
        _fields(event, MESSAGE_EVENT, "event.")
    elif kind == "app_home_opened":
        _fields(event, HOME_EVENT, "event.")


def _view(view: dict[str, Any]) -> None:
    _fields(view, VIEW, "view.")
    if "callback_id" in view:
        _field(view, "type", TEXT, "view.", required=True)
    state = view.get("state")
    if state is None:
        return
    values = _field(state, "values", (dict,), "view.state.")
    for block_id, block in (values or {}).items():
        if not isinstance(block, dict):
            raise Unreadable(f"view.state.values.{block_id} is not an object")
        for action_id, element in block.items():
            where = f"view.state.values.{block_id}.{action_id}"
            if not isinstance(element, dict):
                raise Unreadable(f"{where} is not an object")
            _fields(element, ELEMENT_STATE, f"{where}.")
            _option(element, where)


def _actions(actions: list[Any] | None) -> None:
    if not actions:
        raise Unreadable("actions is missing or empty")
    for index, action in enumerate(actions):
        where = f"actions[{index}]"
        if not isinstance(action, dict):
            raise Unreadable(f"{where} is not an object")
        _field(action, "action_id", TEXT, f"{where}.", required=True)
        _fields(action, ACTION, f"{where}.")
        _option(action, where)


def _option(node: dict[str, Any], where: str) -> None:
    option = node.get("selected_option")
    if option is not None:
        _field(option, "value", TEXT, f"{where}.selected_option.", required=True)


def _urls(body: dict[str, Any]) -> None:
    url = _field(body, "response_url", TEXT, "")
    if url is not None and not url.startswith(("https://", "http://")):
        raise Unreadable("response_url is not a URL")
    urls = _field(body, "response_urls", (list,), "")
    for index, entry in enumerate(urls or []):
        where = f"response_urls[{index}]"
        if not isinstance(entry, dict):
            raise Unreadable(f"{where} is not an object")
        url = _field(entry, "response_url", TEXT, f"{where}.", required=True)
        if not url.startswith(("https://", "http://")):
            raise Unreadable(f"{where}.response_url is not a URL")


def _named(node: dict[str, Any], name: str, where: str) -> None:
    """Check a field Slack sends as an id, or as an object with an id (user, team, channel)."""
    value = _field(node, name, (str, dict, NoneType), where)
    if isinstance(value, dict):
        _field(value, "id", MAYBE_TEXT, f"{where}{name}.")


def _user_id(value: str | None, where: str) -> None:
    if value is not None and not USER_ID.fullmatch(value):
        raise Unreadable(f"{where} is not a Slack user id")


def _fields(node: dict[str, Any], types: dict[str, tuple[type, ...]], where: str) -> None:
    for name, allowed in types.items():
        _field(node, name, allowed, where)


def _field(
    node: dict[str, Any],
    name: str,
    allowed: tuple[type, ...],
    where: str,
    *,
    required: bool = False,
) -> Any:
    """Return node[name], checked against allowed types (None where it is absent)."""
    if name not in node:
        if required:
            raise Unreadable(f"{where}{name} is missing")
        return None
    value = node[name]
    if not isinstance(value, allowed):
        raise Unreadable(f"{where}{name} is {_kind(value)}, not {_kinds(allowed)}")
    return value


def _kind(value: Any) -> str:
    return "null" if value is None else _kinds((type(value),))


def _kinds(allowed: tuple[type, ...]) -> str:
    names = {str: "a string", dict: "an object", list: "a list", NoneType: "null"}
    return " or ".join(names.get(t, f"a {t.__name__}") for t in allowed)
