"""Turn Slack message markup into the plain text a customer's phone should show."""

from __future__ import annotations

import re
from collections.abc import Callable

TOKEN = re.compile(r"<([^<>]+)>")


def to_plain_text(text: str, user_name: Callable[[str], str]) -> str:
    """Return text with Slack's <…> markup resolved and its &amp; &lt; &gt; unescaped.

    ``user_name`` maps a Slack user ID to the name to show for a mention.
    """

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            return label or user_name(target[1:])
        if target.startswith("#"):
            return f"#{label}" if label else "#channel"
        if target.startswith("!"):
            if label:
                return label
            word = target[1:].split("^", 1)[0]
            return f"@{word}"
        if target.startswith("mailto:"):
            return label or target[len("mailto:") :]
        if label and label != target:
            return f"{label} ({target})"
        return target

    plain = TOKEN.sub(replace, text)
    return plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
