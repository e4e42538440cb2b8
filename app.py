"""Baton's composition root: build the Flask app, the Bolt app and the services they share.

``gunicorn 'app:create_app()'`` serves the web routes; ``python app.py`` runs
web, scheduler and Slack delivery in one process.
"""

from __future__ import annotations

import atexit
import signal
import sys
import threading
from typing import NoReturn

import redis as redis_lib
from flask import Flask
from gunicorn.app.base import BaseApplication
from slack_bolt import App as BoltApp
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from twilio.rest import Client as TwilioClient

import handlers
from bot import logs, store
from bot.away import Availability
from bot.clock import Clock, SystemClock
from bot.contacts import Contacts
from bot.conversations import Conversations
from bot.customers import Customers
from bot.delivery import SlackDelivery
from bot.metrics import Counters
from bot.overview import Overview
from bot.people import People
from bot.reminders import Reminders
from bot.replies import Replies
from bot.routing import Assigner
from bot.schedule import beat, build_scheduler
from bot.service import Baton
from bot.shifts import Shifts
from bot.templates import Templates
from config import ConfigError, Settings, load_config, load_settings
from handlers import ops, slack_events
from handlers import twilio as twilio_routes
from slack.uploads import Uploads
from sms.gateway import SmsGateway, build_client
from sms.signature import TwilioSignature

MAX_REQUEST_BYTES = 256 * 1024


def _stop_on(exc: ConfigError) -> NoReturn:
    """Stop start-up with one line per problem and no traceback."""
    for problem in exc.problems:
        print(f"baton: {problem}", file=sys.stderr)
    raise SystemExit(2) from None


def _settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        _stop_on(exc)


def build_baton(
    settings: Settings,
    *,
    slack: WebClient | None = None,
    twilio: TwilioClient | None = None,
    redis: redis_lib.Redis | None = None,
    clock: Clock | None = None,
) -> tuple[Baton, SmsGateway]:
    """Build the domain services from settings, using whatever clients were handed in."""
    config = load_config(settings.config_path)
    redis = redis or store.connect(settings.redis_url, settings.data_dir)
    # The timeout stays well under the delivery lock's lifetime, so a slow call
    # always ends before another worker may take the conversation over.
    slack = slack or WebClient(
        token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=10
    )
    twilio = twilio or build_client(
        settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_url
    )
    clock = clock or SystemClock()
    keys = store.Keys(settings.redis_prefix)
    gateway = SmsGateway(
        twilio,
        default_from=settings.twilio_phone_number,
        messaging_service_sid=settings.twilio_messaging_service_sid,
        status_callback=f"{settings.public_url}/twilio/status" if settings.public_url else None,
    )
    availability = Availability(redis, keys, clock)
    contacts = Contacts(redis, keys, config)
    conversations = Conversations(
        redis, keys, config, clock, is_available=lambda user: not availability.is_away(user)
    )
    counters = Counters(redis, keys)
    conversations.count = counters.add
    conversations.assigner = Assigner(
        config,
        conversations.calendar,
        account_owner=lambda phone: contacts.get(phone).owner,
        is_away=availability.is_away,
        owners=lambda: [c.owner for c in conversations.active()],
    )
    people = People(redis, keys, slack)
    overview = Overview(conversations, people, config, clock, availability)
    baton = Baton(
        config=config,
        redis=redis,
        keys=keys,
        clock=clock,
        conversations=conversations,
        replies=Replies(conversations, gateway),
        delivery=SlackDelivery(redis, keys, conversations, slack, extras=overview.card_extras),
        people=people,
        overview=overview,
        reminders=Reminders(conversations, config, clock, availability),
        contacts=contacts,
        customers=Customers(contacts, conversations),
        availability=availability,
        counters=counters,
        shifts=Shifts(conversations, overview, availability, slack, config, clock),
        templates=Templates(config, conversations.calendar, contacts.get, people.name, clock),
        uploads=Uploads(slack),
        business_number=settings.twilio_phone_number or settings.twilio_messaging_service_sid or "",
    )
    return baton, gateway


def create_app(
    settings: Settings | None = None,
    *,
    slack: WebClient | None = None,
    twilio: TwilioClient | None = None,
    redis: redis_lib.Redis | None = None,
    clock: Clock | None = None,
) -> Flask:
    """Build the web app: Twilio webhooks, Slack's one URL, and the health check."""
    from_environment = settings is None
    settings = settings or _settings_or_exit()
    try:
        baton, _gateway = build_baton(
            settings, slack=slack, twilio=twilio, redis=redis, clock=clock
        )
    except ConfigError as exc:
        if not from_environment:
            raise
        _stop_on(exc)
    if from_environment:
        logs.configure(settings.log_level, json_lines=settings.production)

    bolt = BoltApp(
        client=baton.delivery.slack,
        signing_secret=settings.slack_signing_secret,
        token_verification_enabled=False,
        raise_error_for_unhandled_request=False,
    )
    handlers.register(bolt, baton)

    @bolt.error
    def on_error(error: Exception, body: dict) -> None:
        bolt.logger.exception("unhandled error in a Slack listener", exc_info=error)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.extensions["baton"] = baton
    app.extensions["bolt"] = bolt
    signature = TwilioSignature(settings.twilio_auth_token, settings.public_url)
    for routes in (
        twilio_routes.blueprint(baton, signature),
        slack_events.blueprint(bolt),
        ops.blueprint(baton),
    ):
        app.register_blueprint(routes)

    if settings.slack_app_token:
        # Socket Mode: Slack's events, buttons and commands arrive over a websocket
        # this process opens, so Slack needs no public URL (Twilio still does).
        socket_mode = SocketModeHandler(bolt, settings.slack_app_token)
        try:
            socket_mode.connect()
        except SlackApiError as exc:
            socket_mode.close()
            error = exc.response.get("error")
            _stop_on(
                ConfigError(
                    [
                        f"SLACK_APP_TOKEN was refused by Slack ({error}): use an app-level token with connections:write"
                    ]
                )
            )
        app.extensions["socket_mode"] = socket_mode
        atexit.register(socket_mode.close)
    if settings.delivery_threads:
        baton.delivery.start(settings.delivery_threads)
        atexit.register(baton.delivery.stop)
    return app


def shutdown(app: Flask) -> None:
    """Stop what create_app started: Socket Mode, Slack delivery (finishing the post in hand), listeners."""
    socket_mode = app.extensions.get("socket_mode")
    if socket_mode is not None:
        socket_mode.close()
    app.extensions["baton"].delivery.stop()
    app.extensions["bolt"].listener_runner.listener_executor.shutdown(wait=False)


def run_clock() -> None:
    """Run the clock process: the scheduler's jobs and Slack delivery workers."""
    settings = _settings_or_exit()
    logs.configure(settings.log_level, json_lines=settings.production)
    try:
        baton, _gateway = build_baton(settings)
    except ConfigError as exc:
        _stop_on(exc)
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
    baton.delivery.start(max(1, settings.delivery_threads))
    scheduler = build_scheduler(baton)
    scheduler.start()
    try:
        beat(baton, "clock")
        stopping.wait()
    finally:
        scheduler.shutdown(wait=True)
        baton.delivery.stop()


class AllInOne(BaseApplication):
    """Gunicorn with one threaded worker that also runs the scheduler and delivery."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        self.cfg.set("bind", f"0.0.0.0:{self.settings.port}")
        self.cfg.set("workers", 1)
        self.cfg.set("worker_class", "gthread")
        self.cfg.set("threads", 8)
        self.cfg.set("graceful_timeout", 20)

    def load(self) -> Flask:
        app = create_app(self.settings)
        baton = app.extensions["baton"]
        scheduler = build_scheduler(baton)
        scheduler.start()
        beat(baton, "clock")
        atexit.register(scheduler.shutdown, wait=False)
        return app


def main() -> None:
    """Run web, scheduler and delivery in one process (one machine, or development)."""
    settings = _settings_or_exit()
    try:
        # The gunicorn worker builds the app; check the config here so a bad
        # file stops start-up with its one-line problems, not a worker traceback.
        load_config(settings.config_path)
    except ConfigError as exc:
        _stop_on(exc)
    logs.configure(settings.log_level, json_lines=settings.production)
    AllInOne(settings).run()


if __name__ == "__main__":
    main()
