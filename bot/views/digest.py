"""The weekly digest in Slack: the report's words, and a chart of the week drawn with matplotlib."""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Callable
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bot.digest import Digest
from bot.reports import Period
from bot.views.reports import dates, report_body, sections

# The chart's size: 1200 x 675 pixels, drawn for Slack's preview (about 360 px
# high), so its words are large for its size.
CHART_INCHES = (8.0, 4.5)
CHART_DPI = 150
BARS = "#4a7fb0"
LINE = "#d9622b"
WORDS = 15  # points, at CHART_DPI: still readable with the chart shown at half its size


def digest_title(digest: Digest) -> str:
    """Return the digest's title."""
    if digest.so_far:
        return f"Digest of this week so far ({dates(digest.report.period)})"
    return f"Weekly digest: {dates(digest.report.period)}"


def digest_message(
    digest: Digest, name_of: Callable[[str], str]
) -> tuple[str, list[dict[str, Any]]]:
    """Return the digest's text and blocks: the report's numbers, people by name (no pings)."""
    title = digest_title(digest)
    lines = [f"*{title}*", *report_body(digest.report, name_of)]
    return title, sections(lines)


def digest_chart_file(digest: Digest, job_id: str) -> tuple[str, str]:
    """Return the chart's file name (the job's own, so a retry can find it) and title."""
    period = digest.report.period
    tag = hashlib.sha1(job_id.encode()).hexdigest()[:8]
    return (
        f"baton-digest-{period.first.isoformat()}-{tag}.png",
        f"Conversations and first response median, {dates(_week(digest))}",
    )


def _week(digest: Digest) -> Period:
    return Period(digest.days[0][0], digest.days[-1][0])


def _unit(medians: list[float | None]) -> tuple[str, float]:
    """Return the unit the medians read best in, and its seconds."""
    longest = max((m for m in medians if m is not None), default=None)
    if longest is not None and longest >= 3 * 3600:
        return "hours", 3600.0
    if longest is None or longest >= 120:
        return "min", 60.0
    return "s", 1.0


def digest_chart(digest: Digest) -> bytes:
    """Return a PNG of the week: conversations each day (bars) and the first response median (line)."""
    # A Figure drawn on the Agg canvas directly: headless, and no pyplot state
    # shared between the delivery threads.
    figure = Figure(figsize=CHART_INCHES, dpi=CHART_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    bars = figure.add_subplot()
    x = list(range(len(digest.days)))
    counts = [f.conversations if f is not None else 0 for _day, f in digest.days]
    medians = [f.first_median if f is not None else None for _day, f in digest.days]
    unit, seconds = _unit(medians)

    drawn = bars.bar(x, counts, width=0.6, color=BARS, label="Conversations")
    bars.bar_label(
        drawn,
        labels=[
            str(c) if f is not None else "" for c, (_d, f) in zip(counts, digest.days, strict=True)
        ],
        fontsize=WORDS - 2,
        padding=2,
    )
    bars.set_xticks(x, [f"{day:%a}\n{day:%b} {day.day}" for day, _f in digest.days])
    bars.tick_params(labelsize=WORDS - 2, length=0)
    bars.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    bars.set_ylim(0, max([*counts, 1]) * 1.2)
    bars.set_ylabel("Conversations", fontsize=WORDS - 1, color=BARS)
    bars.spines[["top"]].set_visible(False)

    line = bars.twinx()
    values = [m / seconds if m is not None else math.nan for m in medians]
    line.plot(
        x, values, color=LINE, linewidth=3, marker="o", markersize=8, label="First response median"
    )
    line.set_ylim(0, max([v for v in values if not math.isnan(v)] + [1]) * 1.25)
    line.yaxis.set_major_locator(MaxNLocator(nbins=4))
    line.tick_params(labelsize=WORDS - 2, length=0)
    line.set_ylabel(f"First response median ({unit})", fontsize=WORDS - 1, color=LINE)
    line.spines[["top"]].set_visible(False)

    figure.suptitle(
        f"This week so far ({dates(_week(digest))})"
        if digest.so_far
        else f"Week of {dates(_week(digest))}",
        fontsize=WORDS + 2,
        fontweight="bold",
    )
    figure.legend(loc="outside lower center", ncols=2, fontsize=WORDS - 2, frameon=False)
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def digest_queued(period: Period, channel: str) -> str:
    """Say /sms digest queued this week's digest so far."""
    return f"Posting the digest of this week so far ({dates(period)}) in <#{channel}>."


NO_DIGEST_CHANNEL = (
    "There is no digest channel: set `reports.channel` in the config (and `reports.digest` "
    "for a weekly digest) to post one."
)
ADMINS_ONLY_DIGEST = "Only an admin (admins: in the config) can post the digest."
