"""Modal submissions: the Templates, Contact and Hand off forms.

Each callback is a function of a Submission; SUBMISSIONS names them by the
modal's callback_id, and register() only wires the table.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App

from bot import views
from bot.ownership import may_text
from bot.service import Baton
from bot.templates import unfilled
from bot.values import Conversation
from handlers.acked import errors_logged_after
from sms.segments import MAX_BODY

logger = logging.getLogger(__name__)

NUMBER = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class Submission:
    """One modal submitted: who sent it, its fields, and the ack that closes it or shows errors."""

    baton: Baton
    body: dict[str, Any]
    view: dict[str, Any]
    ack: Ack

    @property
    def user(self) -> str:
        """Return who submitted the form."""
        return self.body["user"]["id"]

    @property
    def number(self) -> int | None:
        """Return the number of the conversation the modal was opened on, or None if it names none."""
        metadata = self.view.get("private_metadata") or ""
        return int(metadata) if NUMBER.fullmatch(metadata) else None

    @property
    def values(self) -> dict[str, Any]:
        """Return the form's values by block and action id ({} where the form sent none)."""
        return (self.view.get("state") or {}).get("values") or {}

    def value(self, block_id: str, action_id: str, key: str = "value") -> str:
        """Return what the form's element holds ("" where it is empty or missing)."""
        return ((self.values.get(block_id) or {}).get(action_id) or {}).get(key) or ""

    def conversation(self) -> Conversation | None:
        """Return the conversation the modal was opened on, or None if it names none."""
        number = self.number
        return self.baton.conversations.get(number) if number is not None else None

    def no_conversation(self) -> str:
        """Return the error for a form whose conversation is not there."""
        number = self.number
        return views.no_conversation(number) if number is not None else views.NO_CONVERSATION

    def refuse(self, errors: dict[str, str]) -> None:
        """Keep the modal open with each error next to its field."""
        self.ack(response_action="errors", errors=errors)


Callback = Callable[[Submission], None]


def send_template(form: Submission) -> None:
    """Text the customer the template as edited in the Templates modal."""
    baton = form.baton
    conv = form.conversation()
    block = next((b for b in form.values if b.startswith("text-")), None)
    if conv is None:
        form.refuse({"template": form.no_conversation()})
        return
    if block is None:
        form.refuse({"template": views.PICK_A_TEMPLATE})
        return
    text = form.value(block, "text").strip()
    left = [f"{{{name}}}" for name in unfilled(text)]
    if not text:
        form.refuse({block: views.NOTHING_IN_THE_TEXT})
        return
    if left:
        form.refuse({block: views.replace_before_sending(left[0])})
        return
    if not may_text(conv, form.user, baton.config.reply_policy):
        form.refuse({block: views.only_the_owner_texts(conv)})
        return
    form.ack()
    baton.replies.text_customer(conv, form.user, text)


def save_contact(form: Submission) -> None:
    """Keep the customer's name, account owner and notes from the Contact modal."""
    baton = form.baton
    conv = form.conversation()
    owner = form.value("owner", "owner", "selected_user")
    problem = baton.people.why_not_owner(owner) if owner else None
    if conv is None:
        form.refuse({"owner": form.no_conversation()})
        return
    if problem:
        form.refuse({"owner": views.about_the_picked(problem, owner)})
        return
    form.ack()
    name = form.value("name", "name").strip()
    notes = form.value("notes", "notes").strip()
    baton.contacts.update(conv.customer_number, owner=owner, notes=notes)
    baton.customers.rename(conv.customer_number, name or None)


def hand_off(form: Submission) -> None:
    """Make the picked person the owner, with the note, and text the customer if asked to."""
    baton = form.baton
    number = form.number
    if number is None:
        form.refuse({"owner": form.no_conversation()})
        return
    to = form.value("owner", "owner", "selected_user")
    note = form.value("note", "note")
    message = form.value("customer", "message").strip()
    errors: dict[str, str] = {}
    problem = baton.people.why_not_owner(to) if to else views.PICK_THE_NEW_OWNER
    if problem:
        errors["owner"] = views.about_the_picked(problem, to)
    if not note.strip():
        errors["note"] = views.WRITE_A_NOTE
    if message:
        # {name} is the form's own: it becomes the picked person's name, so it is
        # only a mistake in what the person typed when no one is picked yet.
        if to:
            message = message.replace("{name}", baton.people.name(to))
        left = [f"{{{name}}}" for name in unfilled(message) if to or name != "name"]
        if left:
            errors["customer"] = views.replace_in_customer_text(left[0])
        elif len(message) > MAX_BODY:
            errors["customer"] = views.text_too_long(MAX_BODY)
    if errors:
        form.refuse(errors)
        return
    change = baton.conversations.hand_off(number, form.user, to, note)
    if not change.ok:
        form.refuse({"owner": change.refused or views.NOT_HANDED_OFF})
        return
    form.ack()
    if message and change.conversation is not None:
        baton.replies.text_customer(change.conversation, form.user, message)


SUBMISSIONS: dict[str, Callback] = {
    "templates": send_template,
    "contact": save_contact,
    "handoff": hand_off,
}


def register(app: App, baton: Baton) -> None:
    """Register the modals' submissions: Templates, Contact, Hand off."""
    for callback_id, callback in SUBMISSIONS.items():
        app.view(callback_id)(_listener(baton, callback))


def _listener(baton: Baton, callback: Callback) -> Callable[..., None]:
    """Return a Bolt listener that runs callback on the submission; callback acks it."""

    def listener(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        with errors_logged_after(ack, callback.__name__):
            callback(Submission(baton, body, view, ack))

    return listener
