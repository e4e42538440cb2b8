"""Buttons on the conversation card and on Baton's ephemeral notes, and the Hand off shortcut.

Each callback is a function of a Click; ACTIONS and SHORTCUTS name them, and
register() only wires the tables.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import views
from bot.change import Change
from bot.ownership import may_manage
from bot.service import Baton
from handlers.acked import errors_logged_after

logger = logging.getLogger(__name__)

NUMBER = re.compile(r"[0-9]{1,9}")
# views.update errors for a modal that is closed, or was changed by a later update.
MODAL_GONE = frozenset({"not_found", "hash_conflict"})


@dataclass(frozen=True)
class Click:
    """One button click, menu pick or shortcut: who made it, on what, and how to answer them."""

    baton: Baton
    body: dict[str, Any]
    client: WebClient
    respond: Respond | None  # None where Slack gives no response URL (a modal's buttons)

    @property
    def user(self) -> str:
        """Return who clicked."""
        return self.body["user"]["id"]

    @property
    def number(self) -> int | None:
        """Return the conversation number the button carries, if it carries one."""
        value = self.body["actions"][0].get("value") or ""
        return int(value) if NUMBER.fullmatch(value) else None

    @property
    def picked(self) -> str:
        """Return the value of the option picked in a menu ("" if none)."""
        return (self.body["actions"][0].get("selected_option") or {}).get("value") or ""

    @property
    def channel(self) -> str | None:
        """Return the channel clicked in, if any (Slack sends it as an object or an id)."""
        channel = self.body.get("channel")
        return channel.get("id") if isinstance(channel, dict) else channel

    @property
    def thread_ts(self) -> str | None:
        """Return the thread clicked in, if the clicked message is in one."""
        return (self.body.get("container") or {}).get("thread_ts") or None

    def tell(self, text: str) -> None:
        """Show text to the person who clicked, only them, in the channel or thread they clicked in."""
        if self.channel:
            self.client.chat_postEphemeral(
                channel=self.channel, user=self.user, text=text, thread_ts=self.thread_ts
            )

    def answer(self, text: str, *, replace: bool = False) -> None:
        """Answer where the person acted: by Slack's response URL (replace: the note), else tell()."""
        if self.respond is None:
            self.tell(text)
            return
        if replace:
            answered = self.respond(text=text, replace_original=True)
        else:
            answered = self.respond(text=text, response_type="ephemeral")
        if answered.status_code >= 300:
            logger.warning("Slack refused the answer to a click: HTTP %d", answered.status_code)


Callback = Callable[[Click], None]


def _explain_refusal(click: Click, action_id: str, change: Change | None) -> None:
    """Tell the person why the card's button changed nothing (None: it named no conversation)."""
    if change is not None and change.ok:
        return
    refusal = change.refused if change else views.BUTTON_NAMES_NO_CONVERSATION
    click.answer(refusal or "")
    logger.info("%s refused for %s: %s", action_id, click.user, refusal)


def claim(click: Click) -> None:
    """Claim the card's conversation."""
    number = click.number
    change = click.baton.conversations.claim(number, click.user) if number is not None else None
    _explain_refusal(click, "claim", change)


def release(click: Click) -> None:
    """Give the card's conversation back to its queue."""
    number = click.number
    change = click.baton.conversations.release(number, click.user) if number is not None else None
    _explain_refusal(click, "release", change)


def resolve(click: Click) -> None:
    """Close the card's conversation."""
    number = click.number
    conversations = click.baton.conversations
    change = conversations.set_status(number, click.user, "closed") if number is not None else None
    _explain_refusal(click, "resolve", change)


def reopen(click: Click) -> None:
    """Open the card's conversation again."""
    number = click.number
    conversations = click.baton.conversations
    change = conversations.set_status(number, click.user, "open") if number is not None else None
    _explain_refusal(click, "reopen", change)


def _open_handoff(click: Click, number: int) -> str | None:
    """Open the Hand off modal, or return why this person may not hand the conversation off."""
    baton = click.baton
    conv = baton.conversations.get(number)
    if conv is None:
        return views.no_conversation(number)
    refusal = may_manage(conv, click.user, baton.config.admins, "hand off")
    if refusal:
        return refusal
    click.client.views_open(trigger_id=click.body["trigger_id"], view=views.handoff_modal(conv))
    return None


def handoff(click: Click) -> None:
    """Open the Hand off modal from the card."""
    number = click.number
    refusal = _open_handoff(click, number) if number is not None else views.NO_CONVERSATION
    if refusal:
        click.answer(refusal)


def handoff_message(click: Click) -> None:
    """Open the Hand off modal from a message of a conversation's thread (the message shortcut)."""
    message = click.body.get("message") or {}
    thread_ts = message.get("thread_ts") or message.get("ts")
    conversations = click.baton.conversations
    conv = (
        conversations.find_by_thread(click.channel, thread_ts)
        if click.channel and thread_ts
        else None
    )
    refusal = _open_handoff(click, conv.number) if conv else views.HANDOFF_OUTSIDE_THREAD
    if refusal:
        click.answer(refusal)


def templates(click: Click) -> None:
    """Open the Templates modal for the card's conversation."""
    baton = click.baton
    conv = baton.conversations.get(click.number or 0)
    if conv is None:
        return
    names = list(baton.config.templates)
    click.client.views_open(
        trigger_id=click.body["trigger_id"], view=views.templates_modal(conv, names, None)
    )


def pick_template(click: Click) -> None:
    """Show the picked template, filled for the conversation, in the Templates modal."""
    baton = click.baton
    view = click.body.get("view") or {}
    metadata = view.get("private_metadata") or ""
    conv = baton.conversations.get(int(metadata)) if NUMBER.fullmatch(metadata) else None
    name = click.picked
    if conv is None or name not in baton.config.templates or not view.get("id"):
        return  # the modal is not one Baton opened: nothing to update
    filled = baton.templates.filled(conv, name, click.user)
    try:
        click.client.views_update(
            view_id=view["id"],
            hash=view.get("hash"),
            view=views.templates_modal(conv, list(baton.config.templates), filled),
        )
    except SlackApiError as exc:
        if exc.response.get("error") not in MODAL_GONE:
            raise
        # Closed, or changed by a later pick meanwhile: the person sees that one.
        logger.info("templates modal not updated: %s", exc.response.get("error"))


def contact(click: Click) -> None:
    """Open the Contact modal for the card's customer."""
    baton = click.baton
    conv = baton.conversations.get(click.number or 0)
    if conv is None:
        return
    found = baton.contacts.get(conv.customer_number)
    click.client.views_open(
        trigger_id=click.body["trigger_id"], view=views.contact_modal(conv, found)
    )


def card_menu(click: Click) -> None:
    """Set the status or a tag the card's ⋯ menu picked."""
    conversations = click.baton.conversations
    what, _, rest = click.picked.partition(":")
    argument, _, number_text = rest.partition(":")
    if not NUMBER.fullmatch(number_text):
        return
    number = int(number_text)
    if what == "status" and argument in ("open", "pending"):
        result = conversations.set_status(number, click.user, argument)  # type: ignore[arg-type]
    elif what == "tag":
        result = conversations.tag(number, click.user, [argument], [])
    elif what == "untag":
        result = conversations.tag(number, click.user, [], [argument])
    else:
        return
    if not result.ok:
        click.answer(result.refused or "")


def claim_and_send(click: Click) -> None:
    """Claim the conversation and text the thread message Baton held back (Claim & send)."""
    try:
        held = json.loads(click.body["actions"][0]["value"])
        number, ts = int(held["conversation"]), str(held["ts"])
    except (ValueError, KeyError, TypeError, OverflowError):
        click.answer(views.BUTTON_NAMES_NO_MESSAGE, replace=True)
        return
    refusal, result = click.baton.replies.claim_and_send(number, ts, click.user)
    if refusal:
        click.answer(views.held_not_sent(refusal), replace=True)
    elif result and result.outcome in ("queued", "duplicate"):
        click.answer(views.claimed_and_texted(number), replace=True)
    elif result:
        reason = result.reason or views.not_retried(result.outcome)
        click.answer(views.claimed_not_texted(number, reason), replace=True)


def retry_text(click: Click) -> None:
    """Text again a reply Twilio refused, when its author asks (Retry)."""
    try:
        refused = json.loads(click.body["actions"][0]["value"])
        number, ts, attempt = (
            int(refused["conversation"]),
            str(refused["ts"]),
            str(refused["attempt"]),
        )
    except (ValueError, KeyError, TypeError, OverflowError):
        click.answer(views.BUTTON_NAMES_NO_MESSAGE)
        return
    refusal = click.baton.replies.retry(number, ts, attempt, click.user)
    if refusal:
        click.answer(refusal)


ACTIONS: dict[str, Callback] = {
    "claim": claim,
    "release": release,
    "resolve": resolve,
    "reopen": reopen,
    "handoff": handoff,
    "templates": templates,
    "template_pick": pick_template,
    "contact": contact,
    "card_menu": card_menu,
    "claim_and_send": claim_and_send,
    "retry_text": retry_text,
}

SHORTCUTS: dict[str, Callback] = {"handoff_message": handoff_message}


def register(app: App, baton: Baton) -> None:
    """Register the buttons' and the shortcut's callbacks."""
    for action_id, callback in ACTIONS.items():
        app.action(action_id)(_listener(baton, callback))
    for callback_id, callback in SHORTCUTS.items():
        app.shortcut(callback_id)(_listener(baton, callback))


def _listener(baton: Baton, callback: Callback) -> Callable[..., None]:
    """Return a Bolt listener that acknowledges the click, then runs callback on it."""

    def listener(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        with errors_logged_after(ack, callback.__name__):
            callback(Click(baton, body, client, respond if body.get("response_url") else None))

    return listener
