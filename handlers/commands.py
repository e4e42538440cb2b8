"""The slash command (/sms by default): every conversation action, by reference.

Each subcommand is a function of an Ask (handlers.ask) that returns an Answer;
SUBCOMMANDS names them, and register() only wires the table to the configured
command. The managers' subcommands (find, report, digest) are in handlers.managing,
who is away and on call (away, back, oncall) in handlers.availability.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from slack_bolt import Ack, App, Respond

from bot import views
from bot.change import Change, Refused
from bot.ownership import may_text
from bot.service import Baton
from bot.values import Conversation
from bot.views import refusals
from handlers.acked import errors_logged_after
from handlers.ask import Answer, Ask, Mistake, may_own, person
from handlers.availability import away, back, oncall
from handlers.managing import digest, find, report
from sms.numbers import InvalidNumber, normalise

logger = logging.getLogger(__name__)

TAG = re.compile(r"^[+-][a-z0-9][a-z0-9_-]{0,29}$")


def help_text(command: str) -> str:
    """Return every subcommand with its form."""
    return views.help_text(command, (s.usage for s in SUBCOMMANDS.values()))


def split_phone(text: str, region: str, *, strict: bool = True) -> tuple[str, str]:
    """Split "<phone> <text>" where the phone may span several words, like (212) 736-5000."""
    words = text.split()
    for count in range(min(5, len(words)), 0, -1):
        candidate = " ".join(words[:count])
        if not re.fullmatch(r"[+\d\s().-]+", candidate):
            continue
        try:
            number = normalise(candidate, region, strict=strict)
        except InvalidNumber:
            continue
        rest = text.split(None, count)[count] if len(text.split(None, count)) > count else ""
        return number, rest.strip()
    raise Mistake("")


def _changed(change: Change, done: str) -> str:
    if not change.ok:
        raise Refused(change.refused or views.DID_NOT_WORK)
    return done


def _take_ref(ask: Ask) -> tuple[Conversation, list[str], str]:
    """Return the conversation the text starts with, and the words and text after it."""
    words = ask.words
    if not words:
        raise Mistake(ask.form)
    if re.fullmatch(r"#?\d{1,9}", words[0]):
        ref, after = words[0], ask.text.split(None, 1)[1] if len(words) > 1 else ""
    else:
        try:
            ref, after = split_phone(ask.text, ask.region, strict=False)
        except Mistake:
            ref, after = words[0], ask.text.split(None, 1)[1] if len(words) > 1 else ""
    return ask.baton.conversations.find_ref(ref, ask.region), after.split(), after.strip()


def _ref_alone(ask: Ask) -> Conversation:
    """Return the conversation the text names, and nothing else."""
    conv, more, _ = _take_ref(ask)
    if more:
        raise Mistake(ask.form)
    return conv


def show_help(ask: Ask) -> Answer:
    """List the subcommands."""
    return help_text(ask.command)


def send(ask: Ask) -> Answer:
    """Text a customer, starting the conversation if there is none; the sender owns it."""
    conversations = ask.baton.conversations
    try:
        number, text = split_phone(ask.text, ask.region, strict=False)
        if not conversations.find_by_customer(number):
            normalise(number, ask.region)  # a new number must be a real, assigned one
    except (Mistake, InvalidNumber):
        raise Mistake(views.send_needs_phone(ask.command, ask.form)) from None
    if not text:
        raise Mistake(views.nothing_to_send(ask.form))
    change = ask.baton.inbound.start(ask.baton.business_number, number, ask.user)
    if not change.ok:
        raise Refused(change.refused or "")
    conv = change.conversation
    assert conv is not None
    result = ask.baton.replies.text_customer(conv, ask.user, text)
    if result.outcome != "queued":
        return views.not_texted(conv, result.reason or "")
    return views.texted_new(number, conv)


def claim(ask: Ask) -> Answer:
    """Take ownership."""
    conv = _ref_alone(ask)
    return _changed(ask.baton.conversations.claim(conv.number, ask.user), views.claimed(conv))


def release(ask: Ask) -> Answer:
    """Give the conversation back to its queue."""
    conv = _ref_alone(ask)
    return _changed(
        ask.baton.conversations.release(conv.number, ask.user),
        views.released(conv),
    )


def resolve(ask: Ask) -> Answer:
    """Close the conversation."""
    conv = _ref_alone(ask)
    return _changed(
        ask.baton.conversations.set_status(conv.number, ask.user, "closed"), views.resolved(conv)
    )


def reopen(ask: Ask) -> Answer:
    """Open the conversation again."""
    conv = _ref_alone(ask)
    return _changed(
        ask.baton.conversations.set_status(conv.number, ask.user, "open"), views.reopened(conv)
    )


def pending(ask: Ask) -> Answer:
    """Mark the conversation as waiting on the customer or someone inside."""
    conv = _ref_alone(ask)
    return _changed(
        ask.baton.conversations.set_status(conv.number, ask.user, "pending"),
        views.made_pending(conv),
    )


def handoff(ask: Ask) -> Answer:
    """Make someone else the owner, with a note for them."""
    conv, more, after = _take_ref(ask)
    if not more:
        raise Mistake(views.missing_parts(ask.form))
    to = person(more[0], ask)
    note = after.split(None, 1)[1] if len(more) > 1 else ""
    if not note.strip():
        raise Mistake(views.handoff_needs_note(more[0], ask.form))
    may_own(ask, to)
    return _changed(
        ask.baton.conversations.hand_off(conv.number, ask.user, to, note),
        views.handed_off(conv, to),
    )


def loop(ask: Ask) -> Answer:
    """Add a collaborator; ownership stays."""
    conv, more, _ = _take_ref(ask)
    if len(more) != 1:
        raise Mistake(ask.form)
    who = person(more[0], ask)
    may_own(ask, who)
    return _changed(
        ask.baton.conversations.loop_in(conv.number, ask.user, who),
        views.looped_in(conv, who),
    )


def transfer(ask: Ask) -> Answer:
    """Move the conversation to another queue, with a summary for its new thread."""
    conversations = ask.baton.conversations
    conv, more, _ = _take_ref(ask)
    if len(more) != 1:
        raise Mistake(ask.form)
    queue_name = more[0].lower()
    summary = views.transfer_summary(conv, conversations.messages(conv.number))
    return _changed(
        conversations.transfer(conv.number, ask.user, queue_name, summary),
        views.transferred(conv, queue_name),
    )


def tag(ask: Ask) -> Answer:
    """Add and remove tags."""
    conv, more, _ = _take_ref(ask)
    if not more:
        raise Mistake(ask.form)
    words = [t.lower() for t in more]
    bad = [t for t in words if not TAG.match(t)]
    if bad:
        raise Mistake(views.not_a_tag_change(bad[0], ask.form))
    add = [t[1:] for t in words if t.startswith("+")]
    remove = [t[1:] for t in words if t.startswith("-")]
    change = ask.baton.conversations.tag(conv.number, ask.user, add, remove)
    return _changed(change, views.tags_updated(change.conversation or conv))


def history(ask: Ask) -> Answer:
    """Show who owned the conversation, when, and why."""
    conv = _ref_alone(ask)
    events = ask.baton.conversations.events(conv.number)
    return views.history(conv, events, ask.baton.config.business.timezone)


def mine(ask: Ask) -> Answer:
    """List my conversations, the unclaimed ones of my queues and those handed to me."""
    baton = ask.baton
    mine, unclaimed, handed = baton.overview.for_user(ask.user)
    blocks = views.my_lists(mine, unclaimed, handed, baton.people.team_url())
    return {"text": views.MY_CONVERSATIONS, "blocks": blocks}


def queue(ask: Ask) -> Answer:
    """List the unclaimed and overdue conversations of a queue, or of my queues."""
    baton = ask.baton
    if len(ask.words) > 1:
        raise Mistake(ask.form)
    names = [ask.words[0].lower()] if ask.words else baton.overview.my_queues(ask.user)
    if not names:
        names = [q.name for q in baton.config.queues]
    blocks: list[dict[str, Any]] = []
    for name in names:
        if baton.config.queue(name) is None:
            raise Mistake(refusals.no_queue(name, (q.name for q in baton.config.queues)))
        unclaimed, overdue = baton.overview.queue(name)
        blocks += views.queue_lists(name, unclaimed, overdue, baton.people.team_url())
    return {"text": views.QUEUES, "blocks": blocks[:50]}


def overdue(ask: Ask) -> Answer:
    """List the overdue and at-risk conversations of my queues, worst first."""
    baton = ask.baton
    if ask.words:
        raise Mistake(ask.form)
    queues = baton.overview.my_queues(ask.user) or [q.name for q in baton.config.queues]
    listed = baton.overview.at_risk(queues)
    title = views.at_risk_title(queues)
    blocks = views.conversation_list(title, listed, baton.people.team_url(), views.NOTHING_AT_RISK)
    return {"text": title, "blocks": blocks}


def reply(ask: Ask) -> Answer:
    """Text the customer a reply template, its placeholders filled."""
    baton = ask.baton
    conv, more, _ = _take_ref(ask)
    if len(more) != 1:
        raise Mistake(views.reply_needs_template(ask.form, baton.config.templates))
    name = more[0].lower()
    if name not in baton.config.templates:
        raise Mistake(views.no_such_template(name, baton.config.templates))
    if not may_text(conv, ask.user, baton.config.reply_policy):
        raise Refused(views.owner_only_texts(conv))
    filled = baton.templates.filled(conv, name, ask.user)
    if not filled.ready:
        return views.template_unfilled(conv, filled.missing, filled.text)
    result = baton.replies.text_customer(conv, ask.user, filled.text)
    if result.outcome != "queued":
        return views.not_sent(result.reason or "")
    return views.template_texted(conv, name, filled.segments.count, filled.segments.encoding)


def contact(ask: Ask) -> Answer:
    """Show a customer's contact, or set its name, account owner or notes."""
    baton = ask.baton
    try:
        phone, after = split_phone(ask.text, ask.region, strict=False)
    except Mistake:
        raise Mistake(ask.form) from None
    field, _, value = after.partition(" ")
    field, value = field.lower(), value.strip()
    if field == "name":
        name = value.strip().strip('"“”').strip()
        if not name:
            raise Mistake(views.contact_needs_name(ask.command, phone))
        if len(name) > 80:
            raise Mistake(views.NAME_TOO_LONG)
        baton.customers.rename(phone, name)
    elif field == "owner":
        owner = person(value, ask)
        may_own(ask, owner)
        baton.contacts.update(phone, owner=owner)
    elif field == "notes":
        baton.contacts.update(phone, notes=value)
    elif field:
        raise Mistake(ask.form)
    return views.contact_text(baton.contacts.get(phone))


def export(ask: Ask) -> Answer:
    """Upload the conversation's transcript to my DMs with Baton."""
    baton = ask.baton
    conv = _ref_alone(ask)
    transcript = views.transcript(
        conv,
        baton.conversations.messages(conv.number),
        baton.conversations.events(conv.number),
        baton.config.business.timezone,
        baton.people.name,
    )
    filename, title = views.transcript_file(conv)
    baton.uploads.to_person(ask.user, content=transcript, filename=filename, title=title)
    return views.transcript_sent(conv)


def forget(ask: Ask) -> Answer:
    """Erase a customer's texts and contact (admins only)."""
    if ask.user not in ask.baton.config.admins:
        raise Refused(views.ADMINS_ONLY_FORGET)
    try:
        phone, after = split_phone(ask.text, ask.region, strict=False)
    except Mistake:
        raise Mistake(ask.form) from None
    if after:
        raise Mistake(ask.form)
    found = ask.baton.customers.erase(phone, ask.user)
    return views.erased(phone, found)


class Subcommand(NamedTuple):
    """What a subcommand runs, and how help shows it."""

    run: Callable[[Ask], Answer]
    usage: views.Usage


# In the order help lists them.
SUBCOMMANDS: dict[str, Subcommand] = {
    "help": Subcommand(show_help, views.USAGE["help"]),
    "send": Subcommand(send, views.USAGE["send"]),
    "claim": Subcommand(claim, views.USAGE["claim"]),
    "release": Subcommand(release, views.USAGE["release"]),
    "handoff": Subcommand(handoff, views.USAGE["handoff"]),
    "loop": Subcommand(loop, views.USAGE["loop"]),
    "transfer": Subcommand(transfer, views.USAGE["transfer"]),
    "tag": Subcommand(tag, views.USAGE["tag"]),
    "resolve": Subcommand(resolve, views.USAGE["resolve"]),
    "reopen": Subcommand(reopen, views.USAGE["reopen"]),
    "pending": Subcommand(pending, views.USAGE["pending"]),
    "history": Subcommand(history, views.USAGE["history"]),
    "mine": Subcommand(mine, views.USAGE["mine"]),
    "queue": Subcommand(queue, views.USAGE["queue"]),
    "overdue": Subcommand(overdue, views.USAGE["overdue"]),
    "find": Subcommand(find, views.USAGE["find"]),
    "reply": Subcommand(reply, views.USAGE["reply"]),
    "contact": Subcommand(contact, views.USAGE["contact"]),
    "away": Subcommand(away, views.USAGE["away"]),
    "back": Subcommand(back, views.USAGE["back"]),
    "oncall": Subcommand(oncall, views.USAGE["oncall"]),
    "report": Subcommand(report, views.USAGE["report"]),
    "digest": Subcommand(digest, views.USAGE["digest"]),
    "export": Subcommand(export, views.USAGE["export"]),
    "forget": Subcommand(forget, views.USAGE["forget"]),
}


def answer(baton: Baton, command: str, user: str, text: str) -> Answer:
    """Run the subcommand text starts with and return what to tell the person."""
    name, _, rest = text.strip().partition(" ")
    name = name.lower()
    subcommand = SUBCOMMANDS.get(name or "help")
    if subcommand is None:
        found: Answer = views.unknown_subcommand(name, help_text(command))
    else:
        try:
            found = subcommand.run(Ask(baton, user, rest.strip(), command, subcommand.usage))
        except (Mistake, Refused) as problem:
            found = str(problem)
    # What was typed as a subcommand may be anything (a number): only a known name is logged.
    logger.info("%s %s by %s", command, (name or "help") if subcommand else "(unknown)", user)
    return found


def register(app: App, baton: Baton) -> None:
    """Register the slash command named in the config."""
    command = baton.config.slash_command

    @app.command(command)
    def on_command(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        with errors_logged_after(ack, command):
            said = answer(baton, command, body["user_id"], body.get("text") or "")
            if isinstance(said, dict):
                respond(response_type="ephemeral", **said)
            else:
                respond(text=said, response_type="ephemeral")
