"""The weekly rota: who is on shift in a queue at a moment, and who comes next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from config.file import Queue, Shift


@dataclass(frozen=True)
class Duty:
    """One shift as it falls on a real date: who, from when, until when (epoch seconds)."""

    shift: Shift
    start: float
    end: float

    @property
    def users(self) -> tuple[str, ...]:
        """Return the people on this shift."""
        return self.shift.users


def _on_date(shift: Shift, day: date, zone: ZoneInfo) -> Duty | None:
    if day.weekday() not in shift.days:
        return None
    start = datetime.combine(day, shift.start, zone)
    end_day = day if shift.end > shift.start else day + timedelta(days=1)
    end = datetime.combine(end_day, shift.end, zone)
    return Duty(shift, start.timestamp(), end.timestamp())


def _duties(queue: Queue, around: float, timezone: str, days: range) -> list[Duty]:
    zone = ZoneInfo(timezone)
    today = datetime.fromtimestamp(around, zone).date()
    found = []
    for offset in days:
        for shift in queue.shifts:
            duty = _on_date(shift, today + timedelta(days=offset), zone)
            if duty is not None:
                found.append(duty)
    return sorted(found, key=lambda d: d.start)


def on_duty(queue: Queue, at: float, timezone: str) -> Duty | None:
    """Return the shift covering `at` in queue, or None."""
    # A shift that started yesterday may run past midnight into today.
    return next(
        (d for d in _duties(queue, at, timezone, range(-1, 1)) if d.start <= at < d.end), None
    )


def next_duty(queue: Queue, at: float, timezone: str) -> Duty | None:
    """Return the next shift to start after `at` in queue, or None if the rota is empty."""
    return next((d for d in _duties(queue, at, timezone, range(0, 9)) if d.start > at), None)


def duty_key(duty: Duty | None) -> str:
    """Return an identifier that changes exactly when the shift on duty changes."""
    return "none" if duty is None else f"{duty.start:.0f}:{','.join(duty.users)}"
