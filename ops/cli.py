"""Operator commands: ``python -m bot doctor | manifest | webhooks | reports backfill | find backfill``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from config import (
    BatonConfig,
    ConfigError,
    ManifestSettings,
    Settings,
    load_config,
    load_manifest_settings,
    load_settings,
)


def _fail(problems: list[str], code: int) -> int:
    for problem in problems:
        print(f"baton: {problem}", file=sys.stderr)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="Set up and check a Baton deployment."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "doctor", help="check Slack, Twilio, PUBLIC_URL, Redis and the clock; exit 1 on a failure"
    )
    manifest = commands.add_parser("manifest", help="write the Slack app manifest (YAML)")
    manifest.add_argument(
        "--socket-mode", action="store_true", help="for Socket Mode: no request URLs"
    )
    manifest.add_argument("--out", type=Path, help="write to this file instead of stdout")
    manifest.add_argument("--public-url", help="use this base URL instead of PUBLIC_URL")
    manifest.add_argument("--name", default="Baton", help="the app's name in Slack")
    webhooks = commands.add_parser(
        "webhooks", help="point the number's Twilio webhooks at PUBLIC_URL (dry run by default)"
    )
    webhooks.add_argument("--apply", action="store_true", help="make the changes")
    reports = commands.add_parser("reports", help="the report aggregates")
    reports.add_argument(
        "action",
        choices=["backfill"],
        help="backfill: rebuild the aggregates from the event logs (idempotent)",
    )
    find = commands.add_parser("find", help="the index /sms find searches")
    find.add_argument(
        "action",
        choices=["backfill"],
        help="backfill: index conversations stored before the index existed (idempotent)",
    )
    return parser


def _find_backfill(settings: Settings) -> int:
    from app import build_baton

    baton, _gateway = build_baton(settings)
    print(f"find: indexed {baton.conversations.reindex_all()} conversations")
    return 0


def _backfill(settings: Settings, config: BatonConfig) -> int:
    from bot import store
    from bot.backfill import Backfill
    from bot.calendar import BusinessCalendar
    from bot.clock import SystemClock
    from bot.tally import Tally

    business = config.business
    calendar = BusinessCalendar(business.timezone, business.hours, business.holidays)
    redis = store.connect(settings.redis_url, settings.data_dir)
    backfill = Backfill(
        redis, store.Keys(settings.redis_prefix), Tally(config, calendar), calendar, SystemClock()
    )
    rebuilt = backfill.run()
    print(
        f"reports: rebuilt the aggregates of {rebuilt.conversations} conversations "
        f"({rebuilt.keys} keys)"
    )
    return 0


def _doctor(settings: Settings, config: BatonConfig) -> int:
    # Deferred so `python -m bot manifest` needs none of the network clients.
    from bot import store
    from ops.doctor import exit_code, format_report, run_checks
    from slack.client import slack_client
    from sms.gateway import build_client

    checks = run_checks(
        settings,
        config,
        slack=slack_client(settings),
        twilio=build_client(
            settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_url
        ),
        redis=store.connect(settings.redis_url, settings.data_dir),
    )
    print(format_report(checks))
    return exit_code(checks)


def _manifest(args: argparse.Namespace) -> int:
    import yaml

    from ops.manifest import build_manifest

    # Only what the manifest holds: it is made before the app (and its secrets) exists.
    try:
        settings: ManifestSettings = load_manifest_settings()
        config = load_config(settings.config_path)
    except ConfigError as exc:
        return _fail(exc.problems, 2)
    public_url = args.public_url or settings.public_url
    if not public_url and not args.socket_mode:
        return _fail(
            [
                "PUBLIC_URL is not set: the manifest needs the public https URL Slack calls "
                "(set it, pass --public-url, or use --socket-mode)"
            ],
            2,
        )
    manifest = build_manifest(public_url or "", config, args.name, socket_mode=args.socket_mode)
    text = yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True)
    if args.out is None:
        sys.stdout.write(text)
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(
        f"wrote {args.out}: paste it at api.slack.com/apps → Create New App → From a manifest",
        file=sys.stderr,
    )
    return 0


def _webhooks(settings: Settings, args: argparse.Namespace) -> int:
    from twilio.base.exceptions import TwilioException, TwilioRestException

    from ops.webhooks import NumberNotFound, apply, plan_webhooks, report
    from sms.gateway import build_client

    if not settings.public_url:
        return _fail(["PUBLIC_URL is not set: the webhooks point at PUBLIC_URL/twilio/…"], 2)
    if not settings.twilio_phone_number:
        return _fail(
            [
                "TWILIO_PHONE_NUMBER is not set: with a Messaging Service, set the inbound "
                "webhook on the service in the Twilio console"
            ],
            2,
        )
    twilio = build_client(
        settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_url
    )
    try:
        plan = plan_webhooks(twilio, settings.twilio_phone_number, settings.public_url)
        if args.apply and plan.changes:
            after = apply(twilio, plan)
            print(report(plan, applied=True))
            if after.changes:
                return _fail(["Twilio did not keep every change; run doctor to see which"], 1)
            return 0
    except NumberNotFound as exc:
        return _fail([str(exc)], 1)
    except TwilioRestException as exc:
        hint = " (check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN)" if exc.status == 401 else ""
        return _fail([f"Twilio answered HTTP {exc.status}: {exc.msg}{hint}"], 1)
    except (TwilioException, OSError) as exc:
        return _fail([f"cannot reach Twilio at {settings.twilio_api_url}: {exc}"], 1)
    print(report(plan, applied=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one operator command and return its exit code."""
    args = _parser().parse_args(argv)
    if args.command == "manifest":
        return _manifest(args)
    try:
        settings = load_settings()
        config = load_config(settings.config_path)
    except ConfigError as exc:
        return _fail(exc.problems, 2)
    if args.command == "doctor":
        return _doctor(settings, config)
    if args.command == "reports":
        return _backfill(settings, config)
    if args.command == "find":
        return _find_backfill(settings)
    return _webhooks(settings, args)
