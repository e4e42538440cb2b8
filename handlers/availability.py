"""Who is there: being away (with someone covering) and back, and who is on shift and on call."""

from __future__ import annotations

import re

from bot import views
from bot.away import parse_until
from bot.views import refusals
from handlers.ask import Answer, Ask, Mistake, may_own, person


def away(ask: Ask) -> Answer:
    """Be away until a time, optionally with someone covering; reminders go to the cover."""
    baton = ask.baton
    text = ask.text
    cover = None
    match = re.search(r"\bcover\s+(\S+)\s*$", text)
    if match:
        cover = person(match.group(1), ask)
        may_own(ask, cover)
        text = text[: match.start()].strip()
    until = None
    if text:
        word, _, when = text.partition(" ")
        if word.lower() != "until" or not when.strip():
            raise Mistake(ask.form)
        try:
            until = parse_until(when, baton.clock.now(), baton.config.business.timezone)
        except ValueError as problem:
            raise Mistake(str(problem)) from None
    state = baton.availability.set_away(ask.user, until, cover)
    baton.conversations.refresh_cards_of(ask.user)
    return views.away_until(views.slack_time(state.until, baton.config.business.timezone), cover)


def back(ask: Ask) -> Answer:
    """End my away."""
    if not ask.baton.availability.back(ask.user):
        return views.NOT_AWAY
    ask.baton.conversations.refresh_cards_of(ask.user)
    return views.WELCOME_BACK


def oncall(ask: Ask) -> Answer:
    """Show who is on shift and on call in a queue or every queue, now and next."""
    baton = ask.baton
    tz = baton.config.business.timezone
    names = [ask.words[0].lower()] if ask.words else [q.name for q in baton.config.queues]
    lines = []
    for name in names:
        queue = baton.config.queue(name)
        if queue is None:
            raise Mistake(refusals.no_queue(name, (q.name for q in baton.config.queues)))
        on = baton.shifts.on_call(queue)
        lines.append(
            views.on_call_text(
                queue.name,
                on.now.users if on.now else None,
                queue.on_call,
                on.next.users if on.next else None,
                views.slack_time(on.next.start, tz) if on.next else None,
            )
        )
    return "\n".join(lines)
