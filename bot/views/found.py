"""What /sms find answers: its title, and the mistakes of how a query was typed."""

from __future__ import annotations

from collections.abc import Iterable

from bot.views.mrkdwn import escape
from bot.views.refusals import no_queue

NOTHING_FOUND = (
    "Nothing matches. Words match whole (`crown` finds “crown”, not “crowns”), every word "
    "must match, and texts erased by `forget` or by retention are not searched."
)


def found_title(query: str, total: int) -> str:
    """Return the title above what a query found."""
    if total == 0:
        return f"Found for “{query}”"
    matches = "1 conversation" if total == 1 else f"{total} conversations"
    return f"Found for “{query}”: {matches}, latest text first"


def find_mistake(kind: str, word: str, queues: Iterable[str], form: str) -> str:
    """Say what was wrong in a query, and how find is typed."""
    shown = escape(word)
    if kind == "status":
        problem = (
            f"There is no status `{shown}`: use `status:open`, `status:pending` or `status:closed`."
        )
    elif kind == "queue":
        problem = no_queue(word, queues)
    elif kind == "person":
        problem = f"`{shown}` is not a person Slack linked: mention them, like @alex."
    elif kind == "long":
        problem = f"That is more than I can search for at once: use at most {shown} words."
    else:
        problem = (
            f"I can't search by `{shown}`. Search by words, a phone number, `tag:billing`, "
            "`status:pending`, `queue:sales` or @person."
        )
    return f"{problem} {form}"
