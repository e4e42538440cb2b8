"""The slash command (/sms by default): every conversation action, by reference."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, Respond

from bot import views
from bot.away import parse_until
from bot.cards import refresh_cards_of
from bot.conversations import Change, Conversation, Refused
from bot.ownership import may_text
from bot.service import Baton
from sms.numbers import InvalidNumber, display, normalise

logger = logging.getLogger(__name__)

MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
TAG = re.compile(r"^[+-][a-z0-9][a-z0-9_-]{0,29}$")


@dataclass(frozen=True)
class Usage:
    """One subcommand: its form and what it does, as help lists it."""

    form: str
    does: str


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
    "export": Usage("export <ref>", "get the conversation's transcript as a file"),
    "forget": Usage("forget <phone>", "admins: erase a customer's texts and contact data"),
}


class Mistake(Exception):
    """The person typed the command wrong; the message shows the correct form."""


def help_text(command: str) -> str:
    """Return every subcommand with its form."""
    lines = [
        f"*{command}* — texts with customers, from Slack. `<ref>` is `#12`, `12` or the customer's number."
    ]
    lines += [f"• `{command} {u.form}` — {u.does}" for u in USAGE.values()]
    return "\n".join(lines)


def _form(command: str, name: str) -> str:
    return f"Use: `{command} {USAGE[name].form}`"


def _person(token: str, command: str, name: str) -> str:
    match = MENTION.match(token)
    if not match:
        raise Mistake(f"{token!r} is not a person; mention them with @. {_form(command, name)}")
    return match.group(1)


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


def register(app: App, baton: Baton) -> None:
    """Register the slash command named in the config."""
    command = baton.config.slash_command
    conversations = baton.conversations
    region = baton.config.business.country

    def changed(change: Change, done: str) -> str:
        if not change.ok:
            raise Refused(change.refused or "That did not work.")
        return done

    def take_ref(rest: str, name: str) -> tuple[Conversation, list[str], str]:
        """Return the conversation rest starts with, and the words and text after it."""
        words = rest.split()
        if not words:
            raise Mistake(_form(command, name))
        if re.fullmatch(r"#?\d{1,9}", words[0]):
            ref, after = words[0], rest.split(None, 1)[1] if len(words) > 1 else ""
        else:
            try:
                ref, after = split_phone(rest, region, strict=False)
            except Mistake:
                ref, after = words[0], rest.split(None, 1)[1] if len(words) > 1 else ""
        return conversations.find_ref(ref, region), after.split(), after.strip()

    def simple(name: str, act: Callable[[int, str], Change], done: str) -> Callable[..., str]:
        def run(args: list[str], user: str, rest: str) -> str:
            conv, more, _ = take_ref(rest, name)
            if more:
                raise Mistake(_form(command, name))
            return changed(act(conv.number, user), done.format(ref=conv.ref))

        return run

    def send(args: list[str], user: str, rest: str) -> str:
        try:
            number, text = split_phone(rest, region, strict=False)
            if not conversations.find_by_customer(number):
                normalise(number, region)  # a new number must be a real, assigned one
        except (Mistake, InvalidNumber):
            raise Mistake(
                f"Give a phone number and a text. {_form(command, 'send')} "
                f"(for example `{command} send (212) 736-5000 Your order is ready`)."
            ) from None
        if not text:
            raise Mistake(f"Nothing to send. {_form(command, 'send')}")
        change = conversations.start(baton.business_number, number, user)
        if not change.ok:
            raise Refused(change.refused or "")
        conv = change.conversation
        assert conv is not None
        result = baton.replies.text_customer(conv, user, text)
        if result.outcome != "sent":
            return f"{conv.ref}: not texted: {result.reason}."
        return f"Texted {display(number)} ({conv.ref}); you own the conversation."

    def handoff(args: list[str], user: str, rest: str) -> str:
        conv, more, after = take_ref(rest, "handoff")
        if not more:
            raise Mistake(f"Missing parts. {_form(command, 'handoff')}")
        to = _person(more[0], command, "handoff")
        note = after.split(None, 1)[1] if len(more) > 1 else ""
        if not note.strip():
            raise Mistake(f"Add a note for {more[0]}. {_form(command, 'handoff')}")
        problem = baton.people.why_not_owner(to)
        if problem:
            raise Refused(problem)
        return changed(
            conversations.hand_off(conv.number, user, to, note), f"Handed {conv.ref} to <@{to}>."
        )

    def loop(args: list[str], user: str, rest: str) -> str:
        conv, more, _ = take_ref(rest, "loop")
        if len(more) != 1:
            raise Mistake(_form(command, "loop"))
        who = _person(more[0], command, "loop")
        problem = baton.people.why_not_owner(who)
        if problem:
            raise Refused(problem)
        return changed(
            conversations.loop_in(conv.number, user, who), f"Looped <@{who}> in on {conv.ref}."
        )

    def transfer(args: list[str], user: str, rest: str) -> str:
        conv, more, _ = take_ref(rest, "transfer")
        if len(more) != 1:
            raise Mistake(_form(command, "transfer"))
        queue_name = more[0].lower()
        summary = views.transfer_summary(conv, conversations.messages(conv.number))
        return changed(
            conversations.transfer(conv.number, user, queue_name, summary),
            f"Moved {conv.ref} to the {queue_name} queue.",
        )

    def tag(args: list[str], user: str, rest: str) -> str:
        conv, more, _ = take_ref(rest, "tag")
        if not more:
            raise Mistake(_form(command, "tag"))
        words = [t.lower() for t in more]
        bad = [t for t in words if not TAG.match(t)]
        if bad:
            raise Mistake(
                f"{bad[0]!r} is not a tag change: write +tag to add and -tag to remove. {_form(command, 'tag')}"
            )
        add = [t[1:] for t in words if t.startswith("+")]
        remove = [t[1:] for t in words if t.startswith("-")]
        return changed(
            conversations.tag(conv.number, user, add, remove), f"Tags of {conv.ref} updated."
        )

    def history(args: list[str], user: str, rest: str) -> str:
        conv, more, _ = take_ref(rest, "history")
        if more:
            raise Mistake(_form(command, "history"))
        return views.history(
            conv, conversations.events(conv.number), baton.config.business.timezone
        )

    def mine(args: list[str], user: str, rest: str) -> dict[str, Any]:
        mine, unclaimed, handed = baton.overview.for_user(user)
        blocks = views.my_lists(mine, unclaimed, handed, baton.people.team_url())
        return {"text": "Your conversations", "blocks": blocks}

    def queue(args: list[str], user: str, rest: str) -> dict[str, Any] | str:
        if len(args) > 1:
            raise Mistake(_form(command, "queue"))
        names = [args[0].lower()] if args else baton.overview.my_queues(user)
        if not names:
            names = [q.name for q in baton.config.queues]
        blocks: list[dict[str, Any]] = []
        for name in names:
            if baton.config.queue(name) is None:
                known = ", ".join(q.name for q in baton.config.queues)
                raise Mistake(f"There is no queue {name!r}. Queues: {known}.")
            unclaimed, overdue = baton.overview.queue(name)
            blocks += views.queue_lists(name, unclaimed, overdue, baton.people.team_url())
        return {"text": "Queues", "blocks": blocks[:50]}

    def overdue(args: list[str], user: str, rest: str) -> dict[str, Any] | str:
        if args:
            raise Mistake(_form(command, "overdue"))
        queues = baton.overview.my_queues(user) or [q.name for q in baton.config.queues]
        listed = baton.overview.at_risk(queues)
        title = f"Overdue and at risk in {', '.join(queues)}"
        blocks = views.conversation_list(
            title, listed, baton.people.team_url(), "Nothing is at risk."
        )
        return {"text": title, "blocks": blocks}

    def reply(args: list[str], user: str, rest: str) -> str:
        conv, more, _ = take_ref(rest, "reply")
        if len(more) != 1:
            raise Mistake(
                f"{_form(command, 'reply')} Templates: {', '.join(baton.config.templates)}."
            )
        name = more[0].lower()
        if name not in baton.config.templates:
            raise Mistake(
                f"There is no template {name!r}. Templates: {', '.join(baton.config.templates)}."
            )
        if not may_text(conv, user, baton.config.reply_policy):
            raise Refused(f"Only the owner of {conv.ref} can text the customer; claim it first.")
        filled = baton.templates.filled(conv, name, user)
        if not filled.ready:
            missing = ", ".join("{" + m + "}" for m in filled.missing)
            return (
                f"Not sent: {missing} has no value for {conv.ref}. Preview:\n>{filled.text}\n"
                "Set the contact's name (`contact <phone> name …`) or write the text yourself."
            )
        result = baton.replies.text_customer(conv, user, filled.text)
        if result.outcome != "sent":
            return f"Not sent: {result.reason}."
        return f"Texted {conv.ref} the {name} template ({filled.segments.count} segment(s), {filled.segments.encoding})."

    def contact(args: list[str], user: str, rest: str) -> str:
        try:
            phone, after = split_phone(rest, region, strict=False)
        except Mistake:
            raise Mistake(_form(command, "contact")) from None
        field, _, value = after.partition(" ")
        field, value = field.lower(), value.strip()
        if field == "name":
            name = value.strip().strip('"“”').strip()
            if not name:
                raise Mistake(
                    f'Give the name: `{command} contact {display(phone)} name "Sarah Lee"`'
                )
            if len(name) > 80:
                raise Mistake("A name can be at most 80 characters.")
            baton.customers.rename(phone, user, name)
        elif field == "owner":
            owner = _person(value, command, "contact")
            problem = baton.people.why_not_owner(owner)
            if problem:
                raise Refused(problem)
            baton.contacts.update(phone, owner=owner)
        elif field == "notes":
            baton.contacts.update(phone, notes=value)
        elif field:
            raise Mistake(_form(command, "contact"))
        found = baton.contacts.get(phone)
        return views.contact_text(found)

    def away(args: list[str], user: str, rest: str) -> str:
        text = rest
        cover = None
        match = re.search(r"\bcover\s+(\S+)\s*$", text)
        if match:
            cover = _person(match.group(1), command, "away")
            problem = baton.people.why_not_owner(cover)
            if problem:
                raise Refused(problem)
            text = text[: match.start()].strip()
        until = None
        if text:
            word, _, when = text.partition(" ")
            if word.lower() != "until" or not when.strip():
                raise Mistake(_form(command, "away"))
            try:
                until = parse_until(when, baton.clock.now(), baton.config.business.timezone)
            except ValueError as problem:
                raise Mistake(str(problem)) from None
        state = baton.availability.set_away(user, until, cover)
        refresh_cards_of(conversations, user)
        when_text = views.moment(state.until, baton.config.business.timezone)
        covered = f"<@{cover}>" if cover else "your queues"
        return f"You are away until {when_text}; {covered} get your reminders and nothing new is assigned to you."

    def back(args: list[str], user: str, rest: str) -> str:
        if not baton.availability.back(user):
            return "You were not away."
        refresh_cards_of(conversations, user)
        return "Welcome back: you get your reminders and new conversations again."

    def oncall(args: list[str], user: str, rest: str) -> str:
        names = [args[0].lower()] if args else [q.name for q in baton.config.queues]
        lines = []
        for name in names:
            queue = baton.config.queue(name)
            if queue is None:
                known = ", ".join(q.name for q in baton.config.queues)
                raise Mistake(f"There is no queue {name!r}. Queues: {known}.")
            on = baton.shifts.on_call(queue)
            tz = baton.config.business.timezone
            lines.append(
                views.on_call_text(
                    queue.name,
                    on.now.users if on.now else None,
                    queue.on_call,
                    on.next.users if on.next else None,
                    views.moment(on.next.start, tz) if on.next else None,
                )
            )
        return "\n".join(lines)

    def export(args: list[str], user: str, rest: str) -> str:
        conv, more, _ = take_ref(rest, "export")
        if more:
            raise Mistake(_form(command, "export"))
        transcript = views.transcript(
            conv,
            conversations.messages(conv.number),
            conversations.events(conv.number),
            baton.config.business.timezone,
        )
        baton.uploads.to_person(
            user,
            content=transcript,
            filename=f"conversation-{conv.number}.txt",
            title=f"Transcript of {conv.ref}",
        )
        return f"The transcript of {conv.ref} is in your DMs with Baton."

    def forget(args: list[str], user: str, rest: str) -> str:
        if user not in baton.config.admins:
            raise Refused("Only an admin (admins: in the config) can erase a customer's data.")
        try:
            phone, after = split_phone(rest, region, strict=False)
        except Mistake:
            raise Mistake(_form(command, "forget")) from None
        if after:
            raise Mistake(_form(command, "forget"))
        found = baton.customers.erase(phone, user)
        refs = ", ".join(c.ref for c in found) or "no conversations"
        return f"Erased {display(phone)}: {refs}, and the contact. An audit event without the content remains."

    subcommands: dict[str, Callable[..., str | dict[str, Any]]] = {
        "help": lambda args, user, rest: help_text(command),
        "send": send,
        "claim": simple("claim", conversations.claim, "You own {ref} now."),
        "release": simple("release", conversations.release, "Released {ref} to its queue."),
        "resolve": simple(
            "resolve", lambda n, u: conversations.set_status(n, u, "closed"), "Resolved {ref}."
        ),
        "reopen": simple(
            "reopen", lambda n, u: conversations.set_status(n, u, "open"), "Reopened {ref}."
        ),
        "pending": simple(
            "pending", lambda n, u: conversations.set_status(n, u, "pending"), "{ref} is Pending."
        ),
        "handoff": handoff,
        "loop": loop,
        "transfer": transfer,
        "tag": tag,
        "history": history,
        "mine": mine,
        "queue": queue,
        "overdue": overdue,
        "reply": reply,
        "contact": contact,
        "away": away,
        "back": back,
        "oncall": oncall,
        "export": export,
        "forget": forget,
    }

    @app.command(command)
    def on_command(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        text = (body.get("text") or "").strip()
        user = body["user_id"]
        name, _, rest = text.partition(" ")
        name = name.lower()
        run = subcommands.get(name or "help")
        if run is None:
            answer: str | dict[str, Any] = f"I don't know `{name}`. " + help_text(command)
        else:
            try:
                answer = run(rest.split(), user, rest.strip())
            except (Mistake, Refused) as problem:
                answer = str(problem)
        logger.info("%s %s by %s", command, name or "help", user)
        if isinstance(answer, dict):
            respond(response_type="ephemeral", **answer)
        else:
            respond(text=answer, response_type="ephemeral")
