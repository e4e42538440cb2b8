"""Baton's processes besides the web workers: the clock process and the all-in-one server.

``python -m bot.clock`` runs the clock (the scheduler's jobs and Slack delivery);
``python app.py`` runs web, scheduler and delivery in one process.
"""

from __future__ import annotations

import atexit
import dataclasses
import signal
import threading

from flask import Flask
from gunicorn.app.base import BaseApplication

from app import build_baton, check_start_up, create_app, settings_or_exit, stop_on
from bot.schedule import beat, build_scheduler
from config import ConfigError, Settings
from ops import logs
from ops.limits import close_oversized


def run_clock() -> None:
    """Run the clock process: the scheduler's jobs and Slack delivery workers."""
    settings = settings_or_exit()
    logs.configure(settings.log_level, json_lines=settings.production)
    try:
        baton, _gateway = build_baton(settings)
    except ConfigError as exc:
        stop_on(exc)
    # SIGTERM (a deploy, the Procfile's supervisor) or Ctrl-C only sets this
    # event, whatever moment it arrives at, even before the scheduler runs;
    # the main thread then stops the scheduler, and delivery finishes the
    # Slack post in hand before the process exits.
    # A second signal stops waiting for a job that hangs (a stalled Redis socket).
    stopping = threading.Event()

    def stop(_signum: int, _frame: object) -> None:
        if stopping.is_set():
            raise SystemExit(1)
        stopping.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    threads = max(1, settings.delivery_workers(serves_web=False))
    baton.delivery.start(threads)
    baton.texting.start(threads)
    scheduler = build_scheduler(baton)
    scheduler.start()
    try:
        beat(baton, "clock")
        stopping.wait()
    finally:
        scheduler.shutdown(wait=True)
        baton.delivery.stop()
        baton.texting.stop()


class AllInOne(BaseApplication):
    """Gunicorn with one threaded worker that also runs the scheduler and delivery."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        self.cfg.set("bind", f"0.0.0.0:{self.settings.port}")
        self.cfg.set("workers", 1)
        self.cfg.set("worker_class", "ops.limits.Worker")
        self.cfg.set("threads", 8)
        self.cfg.set("graceful_timeout", 20)
        self.cfg.set("pre_request", close_oversized)

    def load(self) -> Flask:
        # Unlike a web process of its own, this one is where delivery runs.
        threads = self.settings.delivery_workers(serves_web=False)
        app = create_app(dataclasses.replace(self.settings, delivery_threads=threads))
        baton = app.extensions["baton"]
        scheduler = build_scheduler(baton)
        scheduler.start()
        beat(baton, "clock")
        atexit.register(scheduler.shutdown, wait=False)
        return app


def run_all_in_one() -> None:
    """Run web, scheduler and delivery in one process (one machine, or development)."""
    # The gunicorn worker builds the app; check here so a bad setting or
    # file stops start-up with its one-line problems, not a worker traceback.
    settings = check_start_up()
    logs.configure(settings.log_level, json_lines=settings.production)
    AllInOne(settings).run()
