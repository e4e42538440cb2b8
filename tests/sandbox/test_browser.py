"""The sandbox page in headless Chromium: the replayed day, then a conversation run by hand;
a new team's first steps, with the page at a laptop's, a small laptop's and a phone's size.

Screenshots at each size go to data/screenshots/ (git-ignored), rewritten by each run,
for a person to look at. Skipped when /usr/bin/chromium or Playwright is missing,
unless BATON_REQUIRE_BROWSER=1 (CI), where that is a failure.
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
SCREENSHOTS = Path(__file__).resolve().parents[2] / "data" / "screenshots"
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
        # Loaded, the page still fetches the sandbox's state (the team, the phone's number):
        # acting before it has, a test texted from no number and was told so.
        page.wait_for_function("document.querySelector('#me').options.length > 0")
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
    screenshot(page, "replayed-day-1440x900")


def screenshot(page: Any, name: str, *, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def fits(page: Any, selector: str, *, min_width: float) -> None:
    """Assert the element is shown, at least min_width wide, and within the window's width."""
    box = page.locator(selector).bounding_box()
    width = page.viewport_size["width"]
    assert box is not None, f"{selector} is not shown"
    assert box["width"] >= min_width, f"{selector} is {box['width']} px wide"
    assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, f"{selector} at {box}"
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"the page is {scroll_width} px wide in a {width} px window"


def run(page: Any, command: str) -> None:
    page.fill("#composer-input", command)
    page.press("#composer-input", "Enter")


def test_a_new_teams_first_steps_at_three_sizes(page: Any) -> None:
    from playwright.sync_api import expect

    timeline, thread = page.locator("#timeline"), page.locator("#thread")
    general = page.locator("[data-channel=C0123GENERAL]")
    sales = page.locator("[data-channel=C0123SALES]")

    # A new card in a channel not shown marks that channel unread, until it is opened.
    page.fill("#phone-input", "Hi, can I book a cleaning?")
    page.press("#phone-input", "Enter")
    card = page.locator("#timeline .msg", has_text="+1 212-736-5000")
    expect(card).to_be_visible(timeout=10_000)
    expect(general.locator(".badge")).to_have_count(0)
    page.fill("#phone-number", "(415) 555-0123")
    page.fill("#phone-input", "What's the price of a crown?")
    page.press("#phone-input", "Enter")
    expect(sales.locator(".badge")).to_have_text("1", timeout=10_000)
    sales.click()
    expect(timeline).to_contain_text("+1 415-555-0123")
    expect(sales.locator(".badge")).to_have_count(0)
    general.click()

    # A mistake is a toast, with the command to type in code style.
    run(page, "hello")
    expect(page.locator("#toast code")).to_have_text("/sms help")
    expect(page.locator("#toast")).not_to_contain_text("`")
    page.click("#toast")  # a click puts it away
    expect(page.locator("#toast")).to_be_hidden()

    # Mentions typed as @name work, as in Slack: the README's examples.
    card.get_by_role("button", name="Claim", exact=True).click(timeout=10_000)
    expect(card).to_contain_text("Owner: @Alex", timeout=10_000)
    run(page, "/sms loop #1 @casey")
    expect(page.locator("#timeline .ephemeral").last).to_contain_text("@Casey", timeout=10_000)
    run(page, "/sms handoff #1 @blair She wants Friday 3pm")
    expect(card).to_contain_text("Owner: @Blair", timeout=10_000)
    card.locator(".replies-link").click()
    expect(thread).to_contain_text("She wants Friday 3pm", timeout=10_000)
    page.fill("#thread-input", "@blair she prefers mornings")
    page.press("#thread-input", "Enter")
    said = thread.locator(".msg", has_text="she prefers mornings")
    expect(said.locator(".mention")).to_have_text("@Blair", timeout=10_000)

    # The thread open, at three sizes: channel and thread side by side on a wide
    # screen; where both do not fit, the thread takes the channel's place.
    fits(page, ".main-pane", min_width=400)
    fits(page, "#thread-pane", min_width=360)
    screenshot(page, "thread-1440x900")

    page.set_viewport_size({"width": 1024, "height": 700})
    fits(page, "#thread-pane", min_width=480)
    fits(page, "#thread-input", min_width=380)
    fits(page, ".phone-column", min_width=260)
    screenshot(page, "thread-1024x700")
    page.click("#thread-close")
    fits(page, ".main-pane", min_width=480)
    fits(page, "#composer-input", min_width=380)
    screenshot(page, "channel-1024x700")

    page.set_viewport_size({"width": 390, "height": 844})
    fits(page, "#phone-input", min_width=250)
    fits(page, ".main-pane", min_width=340)
    fits(page, "#composer-input", min_width=250)
    screenshot(page, "channel-390x844", full_page=True)
    card.locator(".replies-link").click()
    fits(page, "#thread-pane", min_width=340)
    fits(page, "#thread-input", min_width=250)
    screenshot(page, "thread-390x844", full_page=True)
    page.click("#thread-close")
    page.set_viewport_size({"width": 1440, "height": 900})

    # Switching person on the Home tab opens that person's Home tab.
    page.click("#nav-home")
    expect(timeline).to_contain_text("Your conversations", timeout=10_000)
    expect(timeline).not_to_contain_text("+1 212-736-5000")  # #1 is Blair's now
    page.select_option("#me", "U0BLAIR")
    expect(timeline).to_contain_text("+1 212-736-5000", timeout=10_000)

    # A form open before a reload is gone after it, as in Slack.
    general.click()
    card.get_by_role("button", name="Hand off").click()
    expect(page.locator("#modal")).to_be_visible(timeout=10_000)
    page.reload()
    expect(card).to_be_visible(timeout=10_000)
    page.select_option("#me", "U0BLAIR")
    expect(page.locator("#me")).to_have_value("U0BLAIR")
    expect(page.locator("#activity")).to_contain_text("#1", timeout=10_000)  # Blair's DMs
    expect(page.locator("#modal")).to_be_hidden()
    card.get_by_role("button", name="Hand off").click()
    expect(page.locator("#modal")).to_be_visible(timeout=10_000)
