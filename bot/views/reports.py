"""What /sms report shows (and the weekly digest reuses): a Report in words, and its CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.reports import LONGEST_PERIOD, Figures, Line, Pattern, Period, Report, Scope
from bot.values import Conversation
from bot.views.mrkdwn import SECTION_LIMIT, Blocks
from sms.numbers import mask

PERIOD_NAMES = {
    "today": "today",
    "7d": "the last 7 days",
    "30d": "the last 30 days",
    "week": "this week",
    "month": "this month",
}
CSV_COLUMNS = (
    "ref",
    "queue",
    "owner",
    "customer",
    "created",
    "first response s",
    "resolution s",
    "reassignments",
    "unanswered 24h",
    "rating",
    "tags",
    "status",
)


def span(seconds: float | None) -> str:
    """Return a duration as people read it: 45 s, 4 min, 4 min 30 s, 1 h 5 min, 2 d 3 h."""
    if seconds is None:
        return "-"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    if seconds < 86400:
        hours, minutes = divmod(round(seconds / 60), 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(round(seconds / 3600), 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{round(value * 100)}%"


def _signed(value: float, unit: str = "") -> str:
    if value == 0:
        return f"±0{unit}"
    return f"{'+' if value > 0 else '-'}{abs(value):g}{unit}"


def _count_change(now: int, before: int) -> str:
    return f" ({_signed(now - before)})"


def _span_change(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return ""
    delta = round(now - before)
    if delta == 0:
        return " (±0)"
    return f" ({'+' if delta > 0 else '-'}{span(abs(delta))})"


def _share_change(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return ""
    return f" ({_signed(round(now * 100) - round(before * 100), ' pts')})"


def _day(day: date) -> str:
    return f"{day:%b} {day.day}"


def dates(period: Period) -> str:
    """Return a period's days, like Nov 11 - Nov 17, or Nov 17."""
    if period.first == period.last:
        return _day(period.first)
    return f"{_day(period.first)} - {_day(period.last)}"


def period_name(period: Period) -> str:
    """Return how a period is called, like the last 7 days."""
    return PERIOD_NAMES.get(period.name, dates(period))


def scope_name(scope: Scope) -> str:
    """Return what a report covers: all queues, a queue, or a person."""
    if scope.person:
        return f"<@{scope.person}>"
    if scope.queue:
        return f"the {scope.queue} queue"
    return "all queues"


def headline(current: Figures, before: Figures, open_now: int | None = None) -> list[str]:
    """Return the headline numbers, each with its change against the previous period."""
    open_part = f" · {open_now} open now" if open_now is not None else ""
    reassigned = (
        f"{_share(current.reassignment_rate)} of conversations"
        f"{_share_change(current.reassignment_rate, before.reassignment_rate)}"
    )
    if current.conversations:
        reassigned += (
            f", {current.reassigned} of {current.conversations}, "
            f"{current.reassignment_mean:.1f} changes per conversation"
        )
    unanswered = (
        f"{_share(current.unanswered_rate)} of unanswered stretches"
        f"{_share_change(current.unanswered_rate, before.unanswered_rate)}"
    )
    if current.stretches:
        unanswered += f", {current.unanswered} of {current.stretches}"
    csat = f"{_share(current.csat)} rated 4-5{_share_change(current.csat, before.csat)}"
    if current.rating_count:
        csat += f", mean {current.rating_mean:.1f}"
    csat += f", {current.rating_count} ratings{_count_change(current.rating_count, before.rating_count)}"
    return [
        f"*Conversations:* {current.new} new{_count_change(current.new, before.new)} · "
        f"{current.resolved} resolved{_count_change(current.resolved, before.resolved)}{open_part}",
        f"*Texts:* {current.texts_in} in{_count_change(current.texts_in, before.texts_in)} · "
        f"{current.texts_out} out{_count_change(current.texts_out, before.texts_out)}",
        f"*First response:* median {span(current.first_median)}"
        f"{_span_change(current.first_median, before.first_median)} · "
        f"p90 {span(current.first_p90)}{_span_change(current.first_p90, before.first_p90)}",
        f"*Next response:* median {span(current.next_median)}"
        f"{_span_change(current.next_median, before.next_median)}",
        f"*Met target:* {_share(current.met_share)}"
        f"{_share_change(current.met_share, before.met_share)}"
        + (f" of {current.timed} responses" if current.timed else ""),
        f"*Resolution:* median {span(current.resolution_median)}"
        f"{_span_change(current.resolution_median, before.resolution_median)}",
        f"*Reassignment:* {reassigned}",
        f"*Unanswered 24 h:* {unanswered}",
        f"*CSAT:* {csat}",
    ]


def line(row: Line, label: str) -> str:
    """Return one queue's or person's line."""
    f = row.figures
    csat = f"{_share(f.csat)} ({f.rating_count})" if f.rating_count else "-"
    return (
        f"• {label}: {f.conversations} conversations · first response median "
        f"{span(f.first_median)} · resolution median {span(f.resolution_median)} · CSAT {csat}"
    )


def pattern(found: Pattern) -> str:
    """Return a pattern to watch, in the README's words, with the figures that triggered it."""
    f = found.figures
    if found.kind == "reassignment":
        return (
            "A high reassignment rate means unclear ownership rules: "
            f"{_share(f.reassignment_rate)} of conversations changed owner "
            f"({f.reassigned} of {f.conversations}, {f.reassignment_mean or 0:.1f} changes per conversation)."
        )
    if found.kind == "resolution":
        return (
            "Long resolution times mean handoffs don't work or owners lack authority: "
            f"resolution median {span(f.resolution_median)}."
        )
    return (
        "Many unanswered texts mean nobody owns “inbox zero”: "
        f"{_share(f.unanswered_rate)} of unanswered stretches went 24 h without a human reply "
        f"({f.unanswered} of {f.stretches})."
    )


def report_title(report: Report) -> str:
    """Return a report's title."""
    return (
        f"Report for {period_name(report.period)} ({dates(report.period)}), "
        f"{scope_name(report.scope)}"
    )


def report_lines(report: Report) -> list[str]:
    """Return the whole report as mrkdwn lines: headline, queues, people, patterns."""
    return [f"*{report_title(report)}*", *report_body(report, lambda user: f"<@{user}>")]


def report_body(report: Report, person: Callable[[str], str]) -> list[str]:
    """Return a report's lines after its title; person labels a Slack user ID."""
    return [
        f"_Changes are against {dates(report.previous_period)}._",
        *headline(report.figures, report.previous, report.open_now),
        "",
        "*By queue*",
        *([line(q, q.name) for q in report.queues] or ["• nothing in this period"]),
        "",
        "*By person*",
        *([line(p, person(p.name)) for p in report.people] or ["• nothing in this period"]),
        "",
        "*Patterns to watch*",
        *([f"• {pattern(p)}" for p in report.patterns] or ["• none apply"]),
    ]


def sections(lines: Iterable[str]) -> Blocks:
    """Return lines as mrkdwn sections, each within Slack's limit; blank lines split them."""
    blocks: Blocks = []
    chunk: list[str] = []

    def flush() -> None:
        if chunk:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(chunk)}})
            chunk.clear()

    for text in lines:
        if not text or sum(len(t) + 1 for t in chunk) + len(text) > SECTION_LIMIT:
            flush()
        if text:
            chunk.append(text[:SECTION_LIMIT])
    flush()
    return blocks[:50]


def report_answer(report: Report) -> dict[str, Any]:
    """Return /sms report's answer."""
    lines = report_lines(report)
    return {"text": report_title(report), "blocks": sections(lines)}


def my_week(figures: Figures) -> Blocks:
    """Return the App Home's block of the person's own last-7-days numbers."""
    f = figures
    csat = f"{_share(f.csat)} of {f.rating_count} ratings" if f.rating_count else "no ratings"
    text = (
        "*Your last 7 days:* "
        f"{f.conversations} conversations · {f.resolved} resolved · "
        f"first response median {span(f.first_median)} · "
        f"met target {_share(f.met_share)} · resolution median {span(f.resolution_median)} · "
        f"CSAT {csat}"
    )
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}}, {"type": "divider"}]


def report_csv(convs: Iterable[Conversation], name_of: Callable[[str], str], tz: str) -> str:
    """Return the CSV of the conversations of a report, one row each."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    zone = ZoneInfo(tz)
    for c in convs:
        writer.writerow(
            [
                c.ref,
                c.queue,
                name_of(c.owner) if c.owner else "",
                mask(c.customer_number) if c.customer_number != "forgotten" else "forgotten",
                datetime.fromtimestamp(c.created_at, zone).strftime("%Y-%m-%d %H:%M"),
                "" if c.first_response is None else round(c.first_response),
                "" if c.resolution is None else round(c.resolution),
                c.reassignments,
                c.unanswered_24h,
                c.rating or "",
                " ".join(c.tags),
                c.status,
            ]
        )
    return out.getvalue()


def report_file(period: Period, scope: Scope) -> tuple[str, str]:
    """Return the CSV's file name and title."""
    who = scope.queue or scope.person or "all"
    return (
        f"baton-report-{period.first.isoformat()}-{period.last.isoformat()}-{who}.csv",
        f"Conversations of {period_name(period)} ({dates(period)}), {who}",
    )


def report_csv_sent(count: int, period: Period) -> str:
    """Say the CSV is in the asker's DMs."""
    rows = "1 conversation" if count == 1 else f"{count} conversations"
    return f"The CSV of {period_name(period)} ({dates(period)}, {rows}) is in your DMs with Baton."


def report_mistake(word: str, form: str) -> str:
    """Say a word of /sms report cannot be read, and what it takes."""
    return (
        f"I can't read `{word}` in a report. Give a period (`today`, `7d`, `30d`, `week`, `month` "
        f"or `2026-11-01..2026-11-30`), a queue or @person, and `csv` for a file. {form}"
    )


def report_twice(kind: str, form: str) -> str:
    """Say the report was given two periods, or two queues or people."""
    what = "period" if kind == "period" else "queue or person"
    return f"Give one {what} at most. {form}"


def backwards_period(period: Period) -> str:
    """Say a range ends before it starts."""
    return f"The period {period.first.isoformat()}..{period.last.isoformat()} ends before it starts: put the earlier day first."


def period_too_long(period: Period) -> str:
    """Say a range is longer than a report may cover."""
    return f"A report covers at most {LONGEST_PERIOD} days; {period.first.isoformat()}..{period.last.isoformat()} spans {period.length}."
