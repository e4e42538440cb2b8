"""What Baton answers a person in Slack: slash command replies, help, and refusals of buttons and forms."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.values import Conversation
from bot.views.mrkdwn import escape
from sms.numbers import display


@dataclass(frozen=True)
class Usage:
    """One subcommand: its form and what it does, as help lists it."""

    form: str
    does: str


# Each subcommand's help line, by name.
USAGE = {
    "help": Usage("help", "list the commands"),
    "send": Usage(
        "send <phone> <text>", "text a customer (starts or continues the conversation; you own it)"
    ),
    "claim": Usage("claim <ref>", "take ownership"),
    "release": Usage("release <ref>", "give it back to the queue"),
    "handoff": Usage(
        "handoff <ref> @person <note>", "make @person the owner, with a note for them"
    ),
    "loop": Usage("loop <ref> @person", "add a collaborator (ownership unchanged)"),
    "transfer": Usage("transfer <ref> <queue>", "move it to another queue"),
    "tag": Usage("tag <ref> +tag -tag", "add or remove tags"),
    "resolve": Usage("resolve <ref>", "close it"),
    "reopen": Usage("reopen <ref>", "open it again"),
    "pending": Usage("pending <ref>", "waiting on the customer or someone inside"),
    "history": Usage("history <ref>", "who owned it, when, and why"),
    "mine": Usage("mine", "my open conversations, with when replies are due"),
    "queue": Usage("queue [name]", "unclaimed and overdue conversations of a queue"),
    "overdue": Usage("overdue", "overdue and at-risk conversations of my queues, worst first"),
    "reply": Usage(
        "reply <ref> <template>", "text the customer a reply template (placeholders filled)"
    ),
    "contact": Usage(
        'contact <phone> [name "Sarah Lee" | owner @person | notes <text>]',
        "show or set a customer's name, account owner and notes",
    ),
    "away": Usage(
        "away [until <time>] [cover @person]", "be away: your reminders go to your cover"
    ),
    "back": Usage("back", "end your away"),
    "oncall": Usage("oncall [queue]", "who is on shift and on call, now and next"),
    "find": Usage(
        "find <words> [tag:x] [status:x] [queue:x] [@person]",
        "find conversations by name, number, text, tag, status, queue or owner, latest first",
    ),
    "report": Usage(
        "report [today|7d|30d|week|month|YYYY-MM-DD..YYYY-MM-DD] [queue|@person] [csv]",
        "response and resolution times, reassignment, unanswered texts and CSAT (default: 7d, all queues)",
    ),
    "digest": Usage(
        "digest", "admins: post this week's digest so far in the digest channel, to try it"
    ),
    "export": Usage("export <ref>", "get the conversation's transcript as a file"),
    "forget": Usage("forget <phone>", "admins: erase a customer's texts and contact data"),
}


def _mention(user: str) -> str:
    return f"<@{user}>"


# The slash command: help and the mistakes of how it was typed.


def help_text(command: str, usages: Iterable[Usage]) -> str:
    """Return every subcommand with its form."""
    lines = [
        f"*{command}* — texts with customers, from Slack. `<ref>` is `#12`, `12` or the customer's number."
    ]
    lines += [f"• `{command} {u.form}` — {u.does}" for u in usages]
    return "\n".join(lines)


def unknown_subcommand(name: str, listing: str) -> str:
    """Say the subcommand does not exist, before the help listing those that do."""
    return f"I don't know `{name}`. " + listing


def correct_form(command: str, usage: Usage) -> str:
    """Return how a subcommand is typed."""
    return f"Use: `{command} {usage.form}`"


def not_a_person(token: str, form: str) -> str:
    """Say a word where a person was expected is not a mention."""
    return f"{token!r} is not a person; mention them with @. {form}"


def send_needs_phone(command: str, form: str) -> str:
    """Say `send` wants a phone number first, with an example."""
    return (
        f"Give a phone number and a text. {form} "
        f"(for example `{command} send (212) 736-5000 Your order is ready`)."
    )


def nothing_to_send(form: str) -> str:
    """Say `send` was given a number but no text."""
    return f"Nothing to send. {form}"


def missing_parts(form: str) -> str:
    """Say the subcommand lacks some of its parts."""
    return f"Missing parts. {form}"


def handoff_needs_note(person: str, form: str) -> str:
    """Say a hand off needs a note for the new owner."""
    return f"Add a note for {person}. {form}"


def not_a_tag_change(word: str, form: str) -> str:
    """Say a word is neither +tag nor -tag."""
    return f"{word!r} is not a tag change: write +tag to add and -tag to remove. {form}"


def reply_needs_template(form: str, templates: Iterable[str]) -> str:
    """Say `reply` wants one template name, and name the templates."""
    return f"{form} Templates: {', '.join(templates)}."


def no_such_template(name: str, templates: Iterable[str]) -> str:
    """Say there is no such template, and name those there are."""
    return f"There is no template {name!r}. Templates: {', '.join(templates)}."


def contact_needs_name(command: str, phone: str) -> str:
    """Say `contact … name` wants the name, with the example for this number."""
    return f'Give the name: `{command} contact {display(phone)} name "Sarah Lee"`'


NAME_TOO_LONG = "A name can be at most 80 characters."
DID_NOT_WORK = "That did not work."
ADMINS_ONLY_FORGET = "Only an admin (admins: in the config) can erase a customer's data."


# The slash command: what was done.


def texted_new(phone: str, conv: Conversation) -> str:
    """Say `send` is texting the customer and the sender owns the conversation."""
    return (
        f"Texting {display(phone)} ({conv.ref}); you own the conversation. "
        "The thread shows the text once it is sent."
    )


def not_texted(conv: Conversation, reason: str) -> str:
    """Say `send` did not text the customer, and why."""
    return f"{conv.ref}: not texted: {reason}."


def claimed(conv: Conversation) -> str:
    """Say the person owns the conversation now."""
    return f"You own {conv.ref} now."


def released(conv: Conversation) -> str:
    """Say the conversation went back to its queue."""
    return f"Released {conv.ref} to its queue."


def resolved(conv: Conversation) -> str:
    """Say the conversation is closed."""
    return f"Resolved {conv.ref}."


def reopened(conv: Conversation) -> str:
    """Say the conversation is open again."""
    return f"Reopened {conv.ref}."


def made_pending(conv: Conversation) -> str:
    """Say the conversation is waiting on someone."""
    return f"{conv.ref} is pending."


def handed_off(conv: Conversation, to: str) -> str:
    """Say who owns the conversation now."""
    return f"Handed {conv.ref} to {_mention(to)}."


def looped_in(conv: Conversation, who: str) -> str:
    """Say who was added as a collaborator."""
    return f"Looped {_mention(who)} in on {conv.ref}."


def transferred(conv: Conversation, queue: str) -> str:
    """Say which queue the conversation moved to."""
    return f"Moved {conv.ref} to the {queue} queue."


def tags_updated(conv: Conversation) -> str:
    """Say what the conversation's tags are now."""
    if not conv.tags:
        return f"{conv.ref} has no tags now."
    return f"Tags of {conv.ref} now: " + " ".join(f"`{escape(t)}`" for t in conv.tags) + "."


MY_CONVERSATIONS = "Your conversations"
QUEUES = "Queues"
NOTHING_AT_RISK = "Nothing is at risk."


def at_risk_title(queues: Iterable[str]) -> str:
    """Return the title of the overdue list of some queues."""
    return f"Overdue and at risk in {', '.join(queues)}"


def owner_only_texts(conv: Conversation) -> str:
    """Say only the owner may text this customer and how to become one."""
    return f"Only the owner of {conv.ref} can text the customer; claim it first."


def template_unfilled(conv: Conversation, missing: Iterable[str], text: str) -> str:
    """Say a template was not sent for want of placeholder values, with what it would have said."""
    names = ", ".join("{" + m + "}" for m in missing)
    return (
        f"Not sent: {names} has no value for {conv.ref}. Preview:\n>{text}\n"
        "Set the contact's name (`contact <phone> name …`) or write the text yourself."
    )


def not_sent(reason: str) -> str:
    """Say a reply was not texted, and why."""
    return f"Not sent: {reason}."


def template_texted(conv: Conversation, name: str, segments: int, encoding: str) -> str:
    """Say a template is being texted and what it costs in segments."""
    return f"Texting {conv.ref} the {name} template ({segments} segment(s), {encoding})."


def away_until(when: str, cover: str | None) -> str:
    """Say the person is away, until when, and who gets their reminders."""
    covered = f"{_mention(cover)} gets" if cover else "your queues get"
    return (
        f"You are away until {when}; {covered} your reminders and nothing new is assigned to you."
    )


NOT_AWAY = "You were not away."
WELCOME_BACK = "Welcome back: you get your reminders and new conversations again."


def transcript_file(conv: Conversation) -> tuple[str, str]:
    """Return the file name and title of a conversation's transcript."""
    return f"conversation-{conv.number}.txt", f"Transcript of {conv.ref}"


def transcript_sent(conv: Conversation) -> str:
    """Say where the transcript went."""
    return f"The transcript of {conv.ref} is in your DMs with Baton."


def erased(phone: str, found: Iterable[Conversation]) -> str:
    """Say what was erased about a customer, and what remains."""
    refs = ", ".join(c.ref for c in found) or "no conversations"
    return f"Erased {display(phone)}: {refs}, and the contact. An audit event without the content remains."


# Buttons, menus and the message shortcut.

BUTTON_NAMES_NO_CONVERSATION = "That button does not name a conversation."
BUTTON_NAMES_NO_MESSAGE = "That button does not name a message."
NO_CONVERSATION = "No conversation."
HANDOFF_OUTSIDE_THREAD = "Hand off works on the messages of a Baton conversation thread."


def no_conversation(number: int) -> str:
    """Say there is no conversation with this number."""
    return f"There is no conversation #{number}."


def held_not_sent(refusal: str) -> str:
    """Say Claim & send neither claimed nor sent, and why."""
    return f"Not sent: {refusal}"


def claimed_and_texted(number: int) -> str:
    """Say Claim & send did both."""
    return f"You claimed #{number} and your message was texted."


def claimed_not_texted(number: int, reason: str) -> str:
    """Say Claim & send claimed the conversation but the text did not go out."""
    return f"You claimed #{number}, but the message was not texted: {reason}."


# Forms (modal submissions): errors shown next to a field.

PICK_A_TEMPLATE = "Pick a template first."
NOTHING_IN_THE_TEXT = "Nothing to send."
PICK_THE_NEW_OWNER = "Pick the new owner."
WRITE_A_NOTE = "Write a note for the new owner: what they need to know."
NOT_HANDED_OFF = "Not handed off."


def replace_before_sending(placeholder: str) -> str:
    """Say a placeholder is still in a reply the form would text."""
    return f"Replace {placeholder} before sending; it would be texted as typed."


def replace_in_customer_text(placeholder: str) -> str:
    """Say a placeholder is still in the text the hand off would send the customer."""
    return f"Replace {placeholder} with words, or the customer gets it as typed."


def text_too_long(limit: int) -> str:
    """Say the text is over the longest Baton texts."""
    return f"A text can be at most {limit:,} characters."


def only_the_owner_texts(conv: Conversation) -> str:
    """Say, next to the form's text, that only the owner may text this customer."""
    return f"Only the owner of {conv.ref} can text the customer."


def about_the_picked(problem: str, user: str) -> str:
    """Return a sentence about a person for a form field, where they are "That person"."""
    return problem.replace(_mention(user), "That person")


# Thread messages.

FILE_ONLY_NOT_SENT = "The attached file was not texted: Baton sends text only."


def moved_away(conv: Conversation) -> str:
    """Say a message in an old thread was not texted because the conversation moved."""
    return f"Not texted: {conv.ref} moved to the {conv.queue} queue; reply in its new thread."
