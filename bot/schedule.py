"""The clock's APScheduler jobs: heartbeat, response-time sweep, shifts, retention, digest, and settling writes a crash left."""

from __future__ import annotations

import logging

import redis
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler

from bot.service import Baton

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 30
RETENTION_SECONDS = 3600
DIGEST_SECONDS = 60
SETTLE_SECONDS = 300


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
    if baton.config.reports.digest is not None:
        scheduler.add_job(
            digest,
            "interval",
            args=[baton],
            seconds=DIGEST_SECONDS,
            id="weekly-digest",
            max_instances=1,
            coalesce=True,
        )
    scheduler.add_job(
        settle,
        "interval",
        args=[baton],
        seconds=SETTLE_SECONDS,
        id="settle-derived",
        max_instances=1,
        coalesce=True,
    )
    if baton.config.retention is not None:
        scheduler.add_job(
            retain,
            "interval",
            args=[baton],
            seconds=RETENTION_SECONDS,
            id="retention",
            max_instances=1,
            coalesce=True,
        )
    return scheduler


def retain(baton: Baton) -> None:
    """Erase the texts of conversations closed longer than retention, logging counts only."""
    try:
        erased = baton.retention.sweep()
    except redis.RedisError:
        logger.warning("retention skipped: store unreachable")
        return
    if erased.conversations:
        logger.info(
            "retention: erased %d texts and %d media links of %d conversations closed over %d days",
            erased.texts,
            erased.media,
            erased.conversations,
            (baton.config.retention or 0) // 86400,
        )


def digest(baton: Baton) -> None:
    """Queue the weekly digest once its time has passed (exactly once across processes)."""
    try:
        baton.digests.tick()
    except redis.RedisError:
        logger.warning("weekly digest skipped: store unreachable")


def settle(baton: Baton) -> None:
    """Apply the writes on other slots, and wake the lanes, that a crash left behind."""
    try:
        settled = baton.commits.settle_left()
        woken = sum(
            box.queue.wake_stranded(SETTLE_SECONDS) for box in (baton.delivery, baton.texting)
        )
    except redis.RedisError:
        logger.warning("settling left-behind writes skipped: store unreachable")
        return
    if settled:
        logger.info("applied the left-behind writes of %d conversations", settled)
    if woken:
        logger.warning(
            "woke %d delivery lanes whose jobs waited over %ds with nothing to wake a worker",
            woken,
            SETTLE_SECONDS,
        )


def minutely(baton: Baton) -> None:
    """Run shift changes and end the aways that ran out (each exactly once across processes)."""
    try:
        baton.shifts.tick()
        for user in baton.availability.ended():
            baton.conversations.refresh_cards_of(user)
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
