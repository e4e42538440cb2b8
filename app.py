"""Baton's composition root: build the Flask app, the Bolt app and the services they share.

``gunicorn 'app:create_app()'`` serves the web routes (and delivers only when
BATON_DELIVERY_THREADS says so); ``python app.py`` runs web, scheduler and
Slack delivery in one process.
"""

from __future__ import annotations

import atexit
import sys
from typing import NoReturn

import redis as redis_lib
from flask import Flask
from slack_bolt import App as BoltApp
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from twilio.rest import Client as TwilioClient
from werkzeug.exceptions import RequestEntityTooLarge

import handlers
from bot import store
from bot.aggregates import Aggregates
from bot.away import Availability
from bot.calendar import BusinessCalendar
from bot.clock import Clock, SystemClock
from bot.commit import Commits
from bot.contacts import Contacts
from bot.conversations import Conversations
from bot.csat import Survey
from bot.customers import Customers
from bot.digest import Digests
from bot.inbound import Inbound
from bot.lanes import conversation_of
from bot.metrics import Counters
from bot.outbox import Outbox
from bot.overview import Overview
from bot.reminders import Reminders, Schedule
from bot.replies import Replies
from bot.reports import Reports
from bot.retention import Retention
from bot.routing import Assigner
from bot.search import Index
from bot.service import Baton
from bot.shifts import Shifts
from bot.tally import Tally
from bot.templates import Templates
from config import ConfigError, Settings, load_config, load_settings
from handlers import ops, slack_events
from handlers import twilio as twilio_routes
from handlers.authorize import authorizer
from ops import limits, logs
from slack.client import slack_client
from slack.delivery import COALESCED, MUST_DELIVER, SlackPerformer
from slack.pacing import Pacer, paced
from slack.people import People
from slack.threads import CardThreads
from slack.uploads import Uploads
from sms.delivery import SmsPerformer
from sms.gateway import SmsGateway, build_client
from sms.signature import TwilioSignature


def stop_on(exc: ConfigError) -> NoReturn:
    """Stop start-up with one line per problem and no traceback."""
    for problem in exc.problems:
        print(f"baton: {problem}", file=sys.stderr)
    raise SystemExit(2) from None


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        stop_on(exc)


def check_start_up() -> Settings:
    """Return the settings once they and the config file are valid, else stop with their problems.

    Run before any worker starts (gunicorn's master, ``python app.py``), so a
    mistake stops the process instead of each worker failing in turn.
    """
    settings = settings_or_exit()
    try:
        load_config(settings.config_path)
    except ConfigError as exc:
        stop_on(exc)
    return settings


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
    slack = slack or slack_client(settings)
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
    business = config.business
    calendar = BusinessCalendar(business.timezone, business.hours, business.holidays)
    availability = Availability(redis, keys, clock)
    contacts = Contacts(redis, keys, config)
    counters = Counters(redis, keys)
    schedule = Schedule(redis, keys, config, calendar, clock)
    commits = Commits(
        redis,
        keys,
        schedule=schedule,
        counters=counters,
        clock=clock,
        tally=Tally(config, calendar),
    )
    people = People(redis, keys, slack)
    templates = Templates(config, calendar, contacts.get, people.name, clock)
    survey = Survey(config, templates, is_away=availability.is_away)
    conversations = Conversations(redis, keys, commits, config, calendar, clock, survey)
    assigner = Assigner(
        config,
        calendar,
        is_away=availability.is_away,
        owners=conversations.open_owners,
    )
    inbound = Inbound(
        commits,
        config,
        calendar,
        clock,
        assign=assigner,
        is_available=lambda user: not availability.is_away(user),
        contacts=contacts,
        templates=templates,
        survey=survey,
    )
    overview = Overview(conversations, people, config, clock, availability)
    replies = Replies(
        conversations,
        redis_client=redis,
        keys=keys,
        config=config,
        clock=clock,
        counters=counters,
    )
    reports = Reports(redis, keys, Aggregates(redis, keys), business.timezone)
    uploads = Uploads(slack)

    def conversation_key(lane: str) -> str | None:
        """The hash read with each job of a conversation's lane: the conversation."""
        number = conversation_of(lane)
        return None if number is None else keys.conversation(number)

    # Delivery keeps within Slack's limits (budgets shared in Redis by every process).
    pacer = (
        Pacer(redis, settings.redis_prefix, settings.slack_pace) if settings.slack_pace else None
    )
    performer = SlackPerformer(
        paced(slack, pacer),
        conversations,
        extras=overview.card_extras,
        reports=reports,
        name_of=people.name,
        uploads=uploads,
    )
    delivery = Outbox(
        "slack",
        redis,
        keys,
        performer.perform,
        counters,
        must_deliver=MUST_DELIVER,
        coalesced=COALESCED,
        done_counter="slack_posts",
        retry_counter="delivery_retries",
        dead_letter_after=settings.dead_letter_after,
        clock=clock,
        next_lanes=pacer.next_lanes if pacer else None,
        context_key=conversation_key,
    )
    texting = Outbox(
        "sms",
        redis,
        keys,
        SmsPerformer(gateway, conversations, replies).perform,
        counters,
        done_counter="texts_out",
        retry_counter="sms_retries",
        dead_letter_after=settings.dead_letter_after,
        clock=clock,
        context_key=conversation_key,
    )
    baton = Baton(
        config=config,
        redis=redis,
        keys=keys,
        clock=clock,
        conversations=conversations,
        inbound=inbound,
        replies=replies,
        delivery=delivery,
        texting=texting,
        people=people,
        overview=overview,
        reminders=Reminders(conversations, commits, schedule, counters, availability),
        contacts=contacts,
        customers=Customers(contacts, conversations),
        availability=availability,
        counters=counters,
        shifts=Shifts(conversations, overview, availability, delivery.queue, config, clock),
        templates=templates,
        uploads=uploads,
        index=Index(redis, keys),
        retention=Retention(redis, keys, commits, config, clock),
        reports=reports,
        digests=Digests(redis, keys, reports, delivery.queue, config, clock),
        business_number=settings.twilio_phone_number or settings.twilio_messaging_service_sid or "",
        commits=commits,
        threads=CardThreads(redis, keys, slack, conversations),
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
    settings = settings or settings_or_exit()
    slack = slack or slack_client(settings)
    try:
        baton, _gateway = build_baton(
            settings, slack=slack, twilio=twilio, redis=redis, clock=clock
        )
    except ConfigError as exc:
        if not from_environment:
            raise
        stop_on(exc)
    if from_environment:
        logs.configure(settings.log_level, json_lines=settings.production)

    bolt = BoltApp(
        client=slack,
        signing_secret=settings.slack_signing_secret,
        authorize=authorizer(baton.people, settings.slack_bot_token),
        raise_error_for_unhandled_request=False,
    )
    handlers.register(bolt, baton)

    @bolt.error
    def on_error(error: Exception, body: dict) -> None:
        bolt.logger.exception("unhandled error in a Slack listener", exc_info=error)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = limits.MAX_REQUEST_BYTES
    app.register_error_handler(RequestEntityTooLarge, limits.too_large)
    app.extensions["baton"] = baton
    app.extensions["bolt"] = bolt
    app.extensions["slack"] = slack
    signature = TwilioSignature(settings.twilio_auth_token, settings.public_url)
    for routes in (
        twilio_routes.blueprint(baton, signature),
        slack_events.blueprint(bolt, settings.slack_signing_secret),
        ops.blueprint(baton, unhealthy_after=settings.unhealthy_after),
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
            stop_on(
                ConfigError(
                    [
                        f"SLACK_APP_TOKEN was refused by Slack ({error}): use an app-level token with connections:write"
                    ]
                )
            )
        app.extensions["socket_mode"] = socket_mode
        atexit.register(socket_mode.close)
    delivery_threads = settings.delivery_workers(serves_web=True)
    if delivery_threads:
        for outbox in (baton.delivery, baton.texting):
            outbox.start(delivery_threads)
            atexit.register(outbox.stop)
    return app


def shutdown(app: Flask) -> None:
    """Stop what create_app started: Socket Mode, Slack delivery (finishing the post in hand), listeners."""
    socket_mode = app.extensions.get("socket_mode")
    if socket_mode is not None:
        socket_mode.close()
    app.extensions["baton"].delivery.stop()
    app.extensions["baton"].texting.stop()
    app.extensions["bolt"].listener_runner.listener_executor.shutdown(wait=False)
    # Its kept-alive connections to Slack: a later call connects again.
    close = getattr(app.extensions["slack"], "close", None)
    if close is not None:
        close()
    # Its connections to the store: a later use of the client connects again.
    store_client = app.extensions["baton"].redis
    pool = getattr(store_client, "connection_pool", None)  # a cluster client has one per node
    if pool is not None:
        pool.disconnect()
    else:
        store_client.close()


if __name__ == "__main__":
    from ops.processes import run_all_in_one

    run_all_in_one()
