"""A scripted day with Baton, played in the background while the page watches.

A customer asks a question, Alex claims it and replies in the thread, then
hands off to Blair with a note (through the Hand off form). The customer
writes again, Baton reminds Blair before the reply target slips, and Blair
answers and resolves. Every step goes through the same doors the page uses.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from bot.service import Baton
from bot.timewords import duration
from sandbox.carrier import Phones
from sandbox.workspace import Workspace, card_number

logger = logging.getLogger(__name__)

T = TypeVar("T")

ALEX, BLAIR = "U0ALEX", "U0BLAIR"
FIRST_TEXT = "Hi, this is Sam. Can I move my cleaning to Friday afternoon?"
ALEX_REPLY = "Hi Sam! Friday works. Let me get you to the person who keeps the calendar."
HANDOFF_NOTE = "Sam wants Friday afternoon instead of Tuesday. Can you find a slot?"
SECOND_TEXT = "Thanks! Anything after 2pm is fine."
BLAIR_REPLY = "You're booked for Friday at 3pm. See you then!"


class Stopped(Exception):
    """The sandbox is shutting down in the middle of a replay."""


@dataclass
class Step:
    """One step of the scripted day, as the page shows it."""

    id: str
    label: str
    state: str = "waiting"  # waiting | running | done | failed
    detail: str = ""


def _steps() -> list[Step]:
    return [
        Step("text", "A customer texts"),
        Step("claim", "Alex claims it"),
        Step("reply", "Alex replies in the thread"),
        Step("handoff", "Alex hands off to Blair"),
        Step("again", "The customer writes again"),
        Step("reminder", "Baton reminds Blair"),
        Step("resolve", "Blair replies and resolves"),
    ]


class Replay:
    """Play the scripted day once at a time, in a background thread."""

    def __init__(
        self,
        baton: Baton,
        workspace: Workspace,
        phones: Phones,
        *,
        pause: float = 1.0,
        reminder_timeout: float = 45.0,
    ) -> None:
        self.baton = baton
        self.workspace = workspace
        self.phones = phones
        self.pause = pause
        self.reminder_timeout = reminder_timeout
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._steps: list[Step] = []
        self._actor = ALEX
        self._where: dict[str, Any] | None = None
        self._runs = 0
        self._error = ""

    def start(self) -> bool:
        """Start a replay; return False if one is already playing."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False
            self._steps = _steps()
            self._actor, self._where, self._error = ALEX, None, ""
            self._runs += 1
            self._thread = threading.Thread(target=self._play, name="sandbox-replay", daemon=True)
            self._thread.start()
            return True

    def stop(self) -> None:
        """Abandon a replay in progress and wait for its thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def view(self) -> dict[str, Any]:
        """Return the replay's progress, for the page."""
        with self._lock:
            running = self._thread is not None and self._thread.is_alive()
            return {
                "running": running,
                "runs": self._runs,
                "actor": self._actor,
                "conversation": dict(self._where) if self._where else None,
                "steps": [asdict(s) for s in self._steps],
                "error": self._error,
            }

    # -- the script ---------------------------------------------------------------------------

    def _play(self) -> None:
        try:
            self._script()
        except Stopped:
            pass
        except Exception as exc:
            logger.exception("the replay failed")
            with self._lock:
                for step in self._steps:
                    if step.state == "running":
                        step.state, step.detail = "failed", str(exc)
                self._error = str(exc)

    def _script(self) -> None:
        business = self.phones.business_number
        number = self._free_number()

        with self._step("text", ALEX):
            self.phones.text(number, FIRST_TEXT)
            conv = self._until(
                lambda: self.baton.conversations.find_by_phone(business, number),
                10,
                "Baton never stored the text",
            )
            channel, ts = self._until(lambda: self._card(conv.number), 10, "no card was posted")
            with self._lock:
                self._where = {
                    "channel": channel,
                    "ts": ts,
                    "number": conv.number,
                    "phone": number,
                }
            self._detail(f"#{conv.number} is waiting in its queue's channel, unclaimed.")

        with self._step("claim", ALEX):
            self._press(ALEX, channel, ts, "claim")
            self._until(lambda: self._card_says(channel, ts, f"<@{ALEX}>"), 10, "no owner shown")
            self._detail("The card shows Alex as the owner.")

        with self._step("reply", ALEX):
            self.workspace.reply(ALEX, channel, ts, ALEX_REPLY)
            self._until(lambda: self._delivered(number, ALEX_REPLY), 10, "the text never arrived")
            self._detail("Texted to the customer; Twilio reported it delivered.")

        with self._step("handoff", ALEX):
            self._press(ALEX, channel, ts, "handoff")
            modal = self._until(
                lambda: self.workspace.modal_of(ALEX), 10, "the Hand off form never opened"
            )
            self._detail("The Hand off form is open.")
            self._sleep(self.pause)
            prefilled = _initial_value(modal, "customer")
            errors = self.workspace.submit_view(
                ALEX,
                modal["id"],
                {
                    "owner": {"owner": {"type": "users_select", "selected_user": BLAIR}},
                    "note": {"note": {"type": "plain_text_input", "value": HANDOFF_NOTE}},
                    "customer": {"message": {"type": "plain_text_input", "value": prefilled}},
                },
            )
            if errors:
                raise RuntimeError(f"the Hand off form was refused: {errors}")
            self._until(lambda: self._card_says(channel, ts, f"<@{BLAIR}>"), 10, "no new owner")
            self._until(
                lambda: self._thread_has(channel, ts, "handed"), 10, "no handoff note in the thread"
            )
            self._detail("Blair owns it now, with Alex's note in the thread.")

        with self._step("again", BLAIR):
            asked = time.time()
            self.phones.text(number, SECOND_TEXT)
            self._until(lambda: self._thread_has(channel, ts, "after 2pm"), 10, "not in the thread")
            targets = self.baton.config.targets_for(conv.queue)
            self._detail(
                f"A reply is due in {duration(targets.next_response)}; Baton reminds the owner at "
                f"{targets.warn_at:.0%}."
            )

        with self._step("reminder", BLAIR):
            self._until(
                lambda: self._reminded(BLAIR, conv.number, asked),
                self.reminder_timeout,
                "no reminder came",
            )
            self._detail("Blair got a DM before the target slipped.")

        with self._step("resolve", BLAIR):
            self.workspace.reply(BLAIR, channel, ts, BLAIR_REPLY)
            self._until(lambda: self._delivered(number, BLAIR_REPLY), 10, "the text never arrived")
            self._press(BLAIR, channel, ts, "resolve")
            self._until(lambda: self._card_says(channel, ts, "Closed"), 10, "not resolved")
            self._detail("Resolved: the card says Closed.")

    # -- steps and waiting --------------------------------------------------------------------

    def _step(self, step_id: str, actor: str) -> _Running:
        self._sleep(self.pause if step_id != "text" else 0)
        with self._lock:
            self._actor = actor
            for step in self._steps:
                if step.id == step_id:
                    step.state = "running"
        return _Running(self, step_id)

    def _finish(self, step_id: str) -> None:
        with self._lock:
            for step in self._steps:
                if step.id == step_id and step.state == "running":
                    step.state = "done"

    def _detail(self, text: str) -> None:
        with self._lock:
            for step in self._steps:
                if step.state == "running":
                    step.detail = text

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise Stopped

    def _until(self, check: Callable[[], T | None], timeout: float, failure: str) -> T:
        deadline = time.monotonic() + timeout
        while True:
            found = check()
            if found:
                return found
            if time.monotonic() > deadline:
                raise RuntimeError(f"{failure} within {timeout:.0f} s")
            self._sleep(0.1)

    # -- reading what people see --------------------------------------------------------------

    def _free_number(self) -> str:
        business = self.phones.business_number
        for last in range(100, 200):
            number = f"+1617555{last:04d}"
            if self.baton.conversations.find_by_phone(business, number) is None:
                return number
        raise RuntimeError("every replay number (+1 617-555-0100 to 0199) is used; run --reset")

    def _card(self, number: int) -> tuple[str, str] | None:
        for queue in self.baton.config.queues:
            for message in self.workspace.slack.messages(queue.channel):
                if card_number(message) == number and not message.get("thread_ts"):
                    return queue.channel, message["ts"]
        return None

    def _card_says(self, channel: str, ts: str, words: str) -> bool:
        card = self.workspace.slack.message(channel, ts) or {}
        text = " ".join(_texts(card.get("blocks") or []))
        return words in text

    def _thread_has(self, channel: str, ts: str, words: str) -> bool:
        return any(words in m["text"] for m in self.workspace.slack.thread(channel, ts)[1:])

    def _delivered(self, number: str, body: str) -> bool:
        return any(
            t.direction == "out" and t.body == body and t.status == "delivered"
            for t in self.phones.texts(number)
        )

    def _reminded(self, user: str, number: int, since: float) -> bool:
        return any(
            float(m["ts"]) >= since and ":alarm_clock:" in m["text"] and f"#{number}" in m["text"]
            for m in self.workspace.slack.messages(f"D{user}")
        )

    def _press(self, user: str, channel: str, ts: str, action_id: str) -> None:
        card = self.workspace.slack.message(channel, ts) or {}
        for block in card.get("blocks") or []:
            for element in block.get("elements") or []:
                if element.get("action_id") == action_id:
                    self.workspace.click(
                        user, channel, ts, element, block_id=block.get("block_id", "")
                    )
                    return
        raise RuntimeError(f"the card has no {action_id} button")


class _Running:
    """Mark a step done when its block ends without an error."""

    def __init__(self, replay: Replay, step_id: str) -> None:
        self.replay = replay
        self.step_id = step_id

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None:
            self.replay._finish(self.step_id)


def _texts(blocks: list[dict[str, Any]]) -> list[str]:
    found = []
    for block in blocks:
        text = block.get("text")
        if isinstance(text, dict):
            found.append(text.get("text", ""))
        for element in block.get("elements") or []:
            if element.get("type") in ("mrkdwn", "plain_text"):
                found.append(element.get("text", ""))
    return found


def _initial_value(view: dict[str, Any], block_id: str) -> str:
    for block in view.get("blocks") or []:
        if block.get("block_id") == block_id:
            return str((block.get("element") or {}).get("initial_value") or "")
    return ""
