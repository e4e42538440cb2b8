"""The slash command (/sms by default): every conversation action, by reference."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, Respond

from bot import views
from bot.conversations import Change, Conversation, Refused
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
