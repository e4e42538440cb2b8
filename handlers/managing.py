"""The managers' subcommands: find conversations, report on how ownership works, try the digest."""

from __future__ import annotations

from bot import reports, search, views
from bot.change import Refused
from bot.views import digest as digest_views
from bot.views import found
from bot.views import reports as report_views
from handlers.ask import MENTION, Answer, Ask, Mistake


def find(ask: Ask) -> Answer:
    """Find conversations by words, number, tag, status, queue or owner, latest text first."""
    baton = ask.baton
    queues = [q.name for q in baton.config.queues]
    try:
        query = search.parse_query(ask.text, ask.region, queues)
    except search.BadQuery as mistake:
        raise Mistake(found.find_mistake(mistake.kind, mistake.word, queues, ask.form)) from None
    if not query.parts:
        raise Mistake(ask.form)
    for asked in range(2):
        matched = baton.index.find(query, views.LIST_LIMIT)
        convs = [c for c in map(baton.conversations.get, matched.numbers) if c is not None]
        stale = [c for c in convs if not search.still_matches(query, c)]
        if not stale or asked:
            break
        # The index still names them under a value they no longer have (a change an
        # older Baton made beside this one): each is taken out, and the query asked again.
        for conv in stale:
            baton.conversations.unindex(conv.number, search.filters(query))
    convs = [c for c in convs if c not in stale]
    title = found.found_title(ask.text, matched.total)
    blocks = views.conversation_list(
        title,
        [baton.overview.listed(c) for c in convs],
        baton.people.team_url(),
        found.NOTHING_FOUND,
        total=matched.total,
    )
    return {"text": title, "blocks": blocks}


def report(ask: Ask) -> Answer:
    """Report response and resolution times, reassignment, unanswered texts and CSAT."""
    baton = ask.baton
    period: reports.Period | None = None
    scope: reports.Scope | None = None
    as_csv = False
    for word in ask.words:
        if word.lower() == "csv":
            as_csv = True
            continue
        mention = MENTION.match(word)
        queue = baton.config.queue(word.lower())
        if mention or queue is not None:
            if scope is not None:
                raise Mistake(report_views.report_twice("scope", ask.form))
            scope = reports.Scope(
                person=mention.group(1) if mention else None,
                queue=queue.name if queue and not mention else None,
            )
            continue
        try:
            found = reports.parse_period(word, baton.reports.today(baton.clock.now()))
        except reports.BadPeriod:
            raise Mistake(report_views.report_mistake(word, ask.form)) from None
        if period is not None:
            raise Mistake(report_views.report_twice("period", ask.form))
        period = found
    period = period or reports.parse_period("7d", baton.reports.today(baton.clock.now()))
    scope = scope or reports.Scope()
    if period.last < period.first:
        raise Mistake(report_views.backwards_period(period))
    if period.length > reports.LONGEST_PERIOD:
        raise Mistake(report_views.period_too_long(period))
    if as_csv:
        convs = baton.reports.conversations(period, scope)
        content = report_views.report_csv(convs, baton.people.name, baton.config.business.timezone)
        filename, title = report_views.report_file(period, scope)
        baton.uploads.to_person(ask.user, content=content, filename=filename, title=title)
        return report_views.report_csv_sent(len(convs), period)
    return report_views.report_answer(baton.reports.compute(period, scope))


def digest(ask: Ask) -> Answer:
    """Post this week's digest so far in the digest channel, to try it (admins only)."""
    baton = ask.baton
    if ask.user not in baton.config.admins:
        raise Refused(digest_views.ADMINS_ONLY_DIGEST)
    if ask.words:
        raise Mistake(ask.form)
    channel = baton.config.reports.channel
    if channel is None:
        return digest_views.NO_DIGEST_CHANNEL
    return digest_views.digest_queued(baton.digests.post_now(), channel)
