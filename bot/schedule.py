"""The APScheduler jobs the clock runs: a heartbeat and the response-time sweep."""

from __future__ import annotations

import logging

import redis
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler

from bot.cards import refresh_cards_of
from bot.service import Baton

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 30


def beat(baton: Baton, process: str) -> None:
    """Record that a clock is alive, for the health check and doctor."""
    baton.redis.set(
        baton.keys.heartbeat(process), repr(baton.clock.now()), ex=HEARTBEAT_SECONDS * 4
    )


def build_scheduler(baton: Baton) -> BaseScheduler:
    """Return a background scheduler with Baton's jobs, not yet started."""
    scheduler: BaseScheduler = BackgroundScheduler()
    scheduler.add_job(
        beat,
        "interval",
        args=[baton, "clock"],
        seconds=HEARTBEAT_SECONDS,
        id="heartbeat",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        sweep,
        "interval",
        args=[baton],
        seconds=baton.config.response_targets.sweep_interval,
        id="response-sweep",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        minutely,
        "interval",
        args=[baton],
        seconds=60,
        id="shifts-and-away",
        max_instances=1,
        coalesce=True,
    )
    return scheduler


def minutely(baton: Baton) -> None:
    """Run shift changes and end the aways that ran out (each exactly once across processes)."""
    try:
        baton.shifts.tick()
        for user in baton.availability.ended():
            refresh_cards_of(baton.conversations, user)
    except redis.RedisError:
        logger.warning("shift and away jobs skipped: store unreachable")


def sweep(baton: Baton) -> None:
    """Run the response-time sweep, logging (not raising) what went wrong."""
    try:
        report = baton.reminders.sweep()
    except redis.RedisError:
        logger.warning("response sweep skipped: store unreachable")
        return
    if report.reminders:
        logger.info("response sweep: %d woken, %d reminders", report.woken, report.reminders)
