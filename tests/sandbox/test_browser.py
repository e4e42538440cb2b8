"""The sandbox page in headless Chromium: the replayed day, then a conversation run by hand.

Skipped when /usr/bin/chromium or Playwright is missing, unless
BATON_REQUIRE_BROWSER=1 (CI), where that is a failure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from sandbox import Sandbox
from sandbox.replay import ALEX_REPLY, HANDOFF_NOTE

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path("/tmp/sandbox.png")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing(reason: str) -> NoReturn:
    if os.environ.get("BATON_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, and BATON_REQUIRE_BROWSER=1 requires the browser test to run")
    pytest.skip(reason)


@pytest.fixture
def chromium() -> Path:
    """Return Chromium's path, or skip (or fail, where required) when it or Playwright is missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("Playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture
def page(chromium: Path, sandbox: Sandbox) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        # A visitor's mistake is answered, not logged as a failed request.
        page.on(
            "console",
            lambda message: problems.append(message.text) if message.type == "error" else None,
        )
        page.goto(sandbox.url)
        yield page
        browser.close()
    assert problems == [], f"the page raised: {problems}"


def test_replay_then_a_conversation_by_hand(page: Any) -> None:
    from playwright.sync_api import expect

    # The scripted day: the page follows the replay's teammate and thread.
    page.click("#replay")
    thread = page.locator("#thread")
    expect(page.locator("#timeline")).to_contain_text("+1 617-555-0100", timeout=10_000)
    expect(thread).to_contain_text("@Alex claimed #1", timeout=10_000)
    expect(thread).to_contain_text(ALEX_REPLY, timeout=10_000)
    expect(page.locator("#phone-texts")).to_contain_text(ALEX_REPLY)
    expect(thread).to_contain_text(HANDOFF_NOTE, timeout=10_000)
    expect(page.locator("#me")).to_have_value("U0BLAIR", timeout=10_000)
    expect(page.locator("#activity")).to_contain_text("A reply to #1", timeout=40_000)
    expect(thread).to_contain_text("@Blair resolved #1", timeout=15_000)
    expect(page.locator("#timeline")).to_contain_text("Status: Closed")
    expect(page.locator("[data-step=resolve]")).to_have_class(re.compile(r"\bdone\b"))
    expect(page.locator("#replay")).to_have_text("▶ Replay again")

    # By hand: a customer texts, Alex claims and replies in the thread.
    page.fill("#phone-number", "(415) 555-0123")
    page.fill("#phone-input", "Do you have anything open on Saturday?")
    page.press("#phone-input", "Enter")
    page.select_option("#me", "U0ALEX")
    page.click("[data-channel=C0123GENERAL]")
    new_card = page.locator("#timeline .msg", has_text="+1 415-555-0123")
    new_card.get_by_role("button", name="Claim", exact=True).click(timeout=10_000)
    expect(new_card).to_contain_text("Owner: @Alex", timeout=10_000)
    new_card.locator(".replies-link").click()
    expect(thread).to_contain_text("Do you have anything open on Saturday?")
    page.fill("#thread-input", "Yes, 10am or 11:30am. Which one suits you?")
    page.press("#thread-input", "Enter")

    texted = page.locator(".bubble-wrap.out", has_text="Yes, 10am or 11:30am")
    expect(texted.locator(".text-status")).to_have_text("delivered", timeout=10_000)
    expect(thread.locator(".reaction")).to_have_count(1, timeout=10_000)
    page.screenshot(path=str(SCREENSHOT))
