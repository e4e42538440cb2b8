"""Check a deployment's set-up end to end: Slack, Twilio, the public URL, Redis and the clock."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import redis as redis_lib
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import SlackResponse
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from bot.clock import Clock, SystemClock
from bot.store import Keys
from config import BatonConfig, Settings
from ops.manifest import BOT_SCOPES, events_url
from ops.webhooks import Change, Plan, find_number, plan_for
from sms.overrides import RETRIES, ConnectionOverrides

# The clock beats every 30 s; two minutes of silence means it is not running.
CLOCK_SILENCE_SECONDS = 120
SLASH_COMMAND = re.compile(r"/[a-z0-9_-]{1,31}")
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
WEBHOOKS_FIX = "run `python -m bot webhooks --apply`"
HEALTH_TIMEOUT_SECONDS = 10
SCOPES_FIX = (
    "add them under OAuth & Permissions → Bot Token Scopes (or paste the manifest "
    "`python -m bot manifest` writes), reinstall the app, and put the new token in SLACK_BOT_TOKEN"
)


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report.

    ``ok`` is None for what the doctor cannot see from here: said, never ticked.
    """

    name: str
    ok: bool | None
    detail: str
    fix: str = ""


def format_report(checks: list[Check]) -> str:
    """Return the report, one line per check, with the fix on each failed line."""
    lines = []
    for check in checks:
        if check.ok is None:
            lines.append(f"? {check.name}: {check.detail}")
        elif check.ok:
            lines.append(f"✓ {check.name}: {check.detail}")
        else:
            lines.append(f"✗ {check.name}: {check.detail} — fix: {check.fix}")
    return "\n".join(lines)


def exit_code(checks: list[Check]) -> int:
    """Return 1 when a check failed, else 0 (what cannot be checked fails nothing)."""
    return 1 if any(check.ok is False for check in checks) else 0


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # Twilio and Slack post to PUBLIC_URL itself: a redirect is an answer to report.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def health_opener(*handlers: urllib.request.BaseHandler) -> urllib.request.OpenerDirector:
    """Return the HTTP client that calls PUBLIC_URL/healthz: no redirects followed."""
    return urllib.request.build_opener(_NoRedirects, *handlers)


def run_checks(
    settings: Settings,
    config: BatonConfig,
    *,
    slack: WebClient,
    twilio: Client,
    redis: redis_lib.Redis,
    http: urllib.request.OpenerDirector | None = None,
    clock: Clock | None = None,
) -> list[Check]:
    """Run every check, in the order a person would fix them.

    Args:
        http: calls PUBLIC_URL/healthz over the network (`health_opener()` when None).
    """
    checks = [check_public_url(settings), check_health(settings, http or health_opener())]
    slack_check, answer = check_slack_token(slack)
    checks += [slack_check, check_scopes(answer)]
    checks += check_queue_channels(slack, config, settings, slack_ok=answer is not None)
    checks.append(check_slash_command(config, settings))
    checks += check_twilio(twilio, settings)
    redis_ok, redis_check = check_redis(redis)
    checks.append(redis_check)
    if redis_ok:
        checks.append(check_persistence(redis))
        checks.append(check_clock(redis, Keys(settings.redis_prefix), clock or SystemClock()))
    else:
        skipped = "not checked: Redis is unreachable"
        checks.append(Check("Redis persistence", False, skipped, "fix Redis first (see above)"))
        checks.append(Check("Clock process", False, skipped, "fix Redis first (see above)"))
    return checks


def check_public_url(settings: Settings) -> Check:
    """Check PUBLIC_URL is set, reachable from outside, and https in production."""
    name = "Public URL"
    url = settings.public_url
    if not url:
        return Check(
            name,
            False,
            "PUBLIC_URL is not set, so Twilio and Slack cannot reach Baton "
            "and Twilio signatures cannot be checked",
            "set PUBLIC_URL to the public https base URL of this deployment "
            "(in development, a tunnel such as https://abc123.ngrok.app)",
        )
    parsed = urlparse(url)
    if (parsed.hostname or "") in LOCAL_HOSTS:
        return Check(
            name,
            False,
            f"{url} is this machine, which Twilio and Slack cannot reach",
            "set PUBLIC_URL to a public URL, for example a tunnel to this port",
        )
    if parsed.scheme != "https":
        if settings.production:
            return Check(
                name,
                False,
                f"{url} is not https, and BATON_ENV is production",
                "serve Baton over https and set PUBLIC_URL to the https:// URL",
            )
        return Check(name, True, f"{url} (plain http: fine for development only)")
    return Check(name, True, url)


def check_health(settings: Settings, http: urllib.request.OpenerDirector) -> Check:
    """Call PUBLIC_URL/healthz over the network, as Twilio and Slack reach Baton, and report the answer."""
    name = "Public URL answers"
    if not settings.public_url:
        return Check(name, False, "not checked: PUBLIC_URL is not set", "set PUBLIC_URL first")
    url = settings.public_url + "/healthz"
    reach_fix = (
        "start the web process, and check that PUBLIC_URL's DNS name, TLS certificate and "
        "proxy or tunnel lead to it"
    )
    try:
        with http.open(url, timeout=HEALTH_TIMEOUT_SECONDS) as response:
            status, body = response.status, response.read(65536)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(65536)
        location = exc.headers.get("Location")
        exc.close()
        if location:
            return Check(
                name,
                False,
                f"{url} answered {status}, redirecting to {location}: Twilio and Slack post "
                "to PUBLIC_URL and would be redirected",
                "set PUBLIC_URL to the address the redirect leads to",
            )
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        return Check(name, False, f"cannot reach {url} ({reason})", reach_fix)
    try:
        health = json.loads(body)
    except ValueError:
        health = None
    if not isinstance(health, dict) or "store" not in health:
        return Check(
            name,
            False,
            f"{url} answered {status}, but not as Baton's health check does",
            "point PUBLIC_URL (and the proxy or tunnel in front) at Baton's web process",
        )
    if health.get("store") != "ok":
        return Check(
            name,
            False,
            f"{url} answered {status}: the web process cannot reach its Redis",
            "check REDIS_URL of the web process and the Redis server",
        )
    outboxes = health.get("outboxes") if isinstance(health.get("outboxes"), dict) else {}
    waits = ", ".join(
        f"{outbox} {state.get('backlog', '?')} queued, oldest {state.get('oldest_pending_seconds', '?')} s"
        for outbox, state in outboxes.items()
        if isinstance(state, dict)
    )
    if status != 200 or health.get("delivery") != "ok":
        return Check(
            name,
            False,
            f"{url} answered {status}: delivery is stalled ({waits or 'no details'})",
            "start the clock (`python -m bot.clock`), which delivers to Slack and Twilio, and "
            "check that Slack and Twilio answer",
        )
    return Check(name, True, f"{url} answered 200: store ok, delivery ok ({waits or 'idle'})")


def check_slack_token(slack: WebClient) -> tuple[Check, SlackResponse | None]:
    """Check the bot token with auth.test, naming the workspace; return Slack's answer when valid."""
    name = "Slack token"
    try:
        answer = slack.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error", "unknown_error")
        return Check(
            name,
            False,
            f"Slack refused SLACK_BOT_TOKEN ({error})",
            "copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page "
            "into SLACK_BOT_TOKEN, and install the app to the workspace if it is not",
        ), None
    except (SlackClientError, OSError) as exc:
        return Check(
            name,
            False,
            f"cannot reach Slack at {slack.base_url} ({exc})",
            "check the network and SLACK_API_URL",
        ), None
    team = answer.get("team") or answer.get("team_id") or "?"
    user = answer.get("user") or "the bot"
    return Check(name, True, f"valid for workspace {team} as @{user}"), answer


def check_scopes(answer: SlackResponse | None) -> Check:
    """Compare the scopes Slack granted the token (auth.test's x-oauth-scopes) with the manifest's."""
    name = "Slack scopes"
    if answer is None:
        return Check(name, False, "not checked", "fix the Slack token first")
    header = next(
        (value for key, value in answer.headers.items() if key.lower() == "x-oauth-scopes"), None
    )
    if header is None:
        return Check(
            name,
            None,
            "cannot be checked: Slack's answer named no scopes (x-oauth-scopes); compare "
            "OAuth & Permissions → Bot Token Scopes with `python -m bot manifest`",
        )
    granted = {scope.strip() for scope in str(header).split(",") if scope.strip()}
    missing = [scope for scope in BOT_SCOPES if scope not in granted]
    if missing:
        return Check(
            name,
            False,
            f"the token lacks {', '.join(missing)} of the manifest's scopes",
            SCOPES_FIX,
        )
    extra = sorted(granted - set(BOT_SCOPES))
    also = f"; also granted {', '.join(extra)}, which Baton does not use" if extra else ""
    return Check(name, True, f"the token has the manifest's {len(BOT_SCOPES)} scopes{also}")


def check_queue_channels(
    slack: WebClient, config: BatonConfig, settings: Settings, *, slack_ok: bool
) -> list[Check]:
    """Check each queue's channel exists and the bot is in it."""
    checks = []
    for index, queue in enumerate(config.queues):
        name = f"Queue {queue.name} channel"
        key = f"queues[{index}].channel"
        if not slack_ok:
            checks.append(
                Check(name, False, f"{queue.channel} not checked", "fix the Slack token first")
            )
            continue
        try:
            channel = slack.conversations_info(channel=queue.channel)["channel"]
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown_error")
            if error == "channel_not_found":
                checks.append(
                    Check(
                        name,
                        False,
                        # Slack hides a private channel from a bot that is not in it.
                        f"{queue.channel} was not found (or is private and Baton is not in it)",
                        f"create it or correct {key} in {settings.config_path}"
                        " (for a private channel, /invite @Baton there)",
                    )
                )
            elif error == "missing_scope":
                checks.append(
                    Check(
                        name,
                        False,
                        f"Slack refused to show {queue.channel} (missing_scope)",
                        "add the channels:read and groups:read bot scopes and reinstall the app",
                    )
                )
            else:
                checks.append(
                    Check(
                        name,
                        False,
                        f"Slack refused to show {queue.channel} ({error})",
                        f"check {key} in {settings.config_path}",
                    )
                )
            continue
        except (SlackClientError, OSError) as exc:
            checks.append(
                Check(
                    name,
                    False,
                    f"cannot reach Slack ({exc})",
                    "check the network and SLACK_API_URL",
                )
            )
            continue
        label = f"#{channel.get('name') or queue.channel} ({queue.channel})"
        if channel.get("is_archived"):
            checks.append(
                Check(
                    name,
                    False,
                    f"{label} is archived",
                    f"unarchive it or point {key} at another channel",
                )
            )
        elif not channel.get("is_member"):
            checks.append(
                Check(
                    name,
                    False,
                    f"Baton is not a member of {label}, so it cannot post cards there",
                    f"/invite @Baton in #{channel.get('name') or queue.channel}",
                )
            )
        else:
            checks.append(Check(name, True, f"{label} exists and Baton is a member"))
    return checks


def check_slash_command(config: BatonConfig, settings: Settings) -> Check:
    """Say which slash command Slack must have; Slack's API cannot show it to a bot token."""
    name = "Slash command"
    command = config.slash_command
    if not SLASH_COMMAND.fullmatch(command):
        return Check(
            name,
            False,
            f"{command!r} is not a valid Slack command name",
            f"set slash_command in {settings.config_path} to a slash and up to 32 lowercase "
            "letters, digits, - or _, like /sms",
        )
    if settings.slack_app_token:
        wanted = f"{command} (over Socket Mode, no Request URL)"
    else:
        where = (
            events_url(settings.public_url) if settings.public_url else "PUBLIC_URL/slack/events"
        )
        wanted = f"{command} with Request URL {where}"
    return Check(
        name,
        None,
        f"cannot be checked with a bot token: Slack's API does not show an app's commands; "
        f"the app's Slash Commands page must list {wanted}, as `python -m bot manifest` writes it",
    )


def check_twilio(twilio: Client, settings: Settings) -> list[Check]:
    """Check the credentials, that the number is on the account, and its webhooks."""
    phone = settings.twilio_phone_number
    if not phone:
        return [_check_twilio_credentials(twilio, settings)]
    try:
        number = find_number(twilio, phone)
    except TwilioRestException as exc:
        return [_twilio_refusal("Twilio number", exc), _webhooks_unchecked("Twilio refused")]
    except (TwilioException, OSError) as exc:
        return [
            Check(
                "Twilio number",
                False,
                f"cannot reach Twilio at {settings.twilio_api_url} ({exc})",
                "check the network and TWILIO_API_URL",
            ),
            _webhooks_unchecked("Twilio is unreachable"),
        ]
    if number is None:
        return [
            Check(
                "Twilio number",
                False,
                f"{phone} is not on account {settings.twilio_account_sid}",
                "the number is not on this account: set TWILIO_PHONE_NUMBER to one of its "
                "numbers (Twilio console → Phone Numbers → Active numbers), or use the "
                "credentials of the account that owns it",
            ),
            _webhooks_unchecked("the number is not on the account"),
        ]
    found = Check("Twilio number", True, f"{phone} is on account {settings.twilio_account_sid}")
    if not settings.public_url:
        return [found, _webhooks_unchecked("PUBLIC_URL is not set")]
    return [found, _check_webhooks(plan_for(number, settings.public_url))]


def _check_webhooks(plan: Plan) -> Check:
    name = "Twilio webhooks"
    if plan.sms_application_sid:
        return Check(
            name,
            False,
            f"texts to {plan.phone_number} go to TwiML app {plan.sms_application_sid}, "
            "which overrides SmsUrl",
            "remove the TwiML app from the number's Messaging configuration in the Twilio "
            f"console, then {WEBHOOKS_FIX}",
        )
    if plan.changes:
        return Check(name, False, "; ".join(_wrong(c) for c in plan.changes), WEBHOOKS_FIX)
    status = plan.status_callback or "empty (each text names its own)"
    return Check(name, True, f"SmsUrl {plan.sms_url} (POST), StatusCallback {status}")


def _wrong(change: Change) -> str:
    now, wanted = change.current, change.wanted
    if change.field != "SmsUrl" or now.partition("#")[0] != wanted.partition("#")[0]:
        return f"{change.field} is {now or '(empty)'}, should be {wanted}"
    # The right address with other connection overrides (or none): say what that costs.
    if "#" not in now:
        return (
            f"SmsUrl {now} has no connection overrides, so Twilio does not retry a text "
            "Baton answers 503 (Redis unreachable) and that text never reaches Slack; "
            f"should be {wanted}"
        )
    shortfalls = ConnectionOverrides.of(now).shortfalls(RETRIES)
    if shortfalls:
        return (
            f"SmsUrl's connection overrides retry less than Baton's ({'; '.join(shortfalls)}), "
            f"so a text Baton answers 503 may never reach Slack; should be {wanted}"
        )
    return (
        f"SmsUrl's connection overrides #{now.partition('#')[2]} differ from Baton's; "
        "Twilio may sign the URL with them, and Baton checks signatures against its own; "
        f"should be {wanted}"
    )


def _webhooks_unchecked(reason: str) -> Check:
    return Check(
        "Twilio webhooks",
        False,
        f"not checked: {reason}",
        "fix the line above first, then " + WEBHOOKS_FIX,
    )


def _twilio_refusal(name: str, exc: TwilioRestException) -> Check:
    if exc.status == 401:
        return Check(
            name,
            False,
            f"Twilio refused the credentials (HTTP 401, error {exc.code})",
            "copy the Account SID and Auth Token from the Twilio console into "
            "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN",
        )
    return Check(
        name,
        False,
        f"Twilio answered HTTP {exc.status} (error {exc.code}): {exc.msg}",
        "check the Twilio credentials and account status in the Twilio console",
    )


def _check_twilio_credentials(twilio: Client, settings: Settings) -> Check:
    # Without TWILIO_PHONE_NUMBER there is no number to look at; listing
    # numbers still proves the credentials.
    name = "Twilio credentials"
    try:
        twilio.incoming_phone_numbers.list(limit=1)
    except TwilioRestException as exc:
        return _twilio_refusal(name, exc)
    except (TwilioException, OSError) as exc:
        return Check(
            name,
            False,
            f"cannot reach Twilio at {settings.twilio_api_url} ({exc})",
            "check the network and TWILIO_API_URL",
        )
    return Check(
        name,
        True,
        f"valid for account {settings.twilio_account_sid}; texts go through Messaging Service "
        f"{settings.twilio_messaging_service_sid}, whose inbound webhook is set on the service",
    )


def check_redis(redis: redis_lib.Redis) -> tuple[bool, Check]:
    """Check Redis answers PING."""
    try:
        redis.ping()
    except redis_lib.RedisError as exc:
        return False, Check(
            "Redis",
            False,
            f"unreachable ({exc})",
            "start the Redis server or correct REDIS_URL",
        )
    return True, Check("Redis", True, "reachable (PING answered)")


def check_persistence(redis: redis_lib.Redis) -> Check:
    """Check Redis keeps an append-only file, so acknowledged texts survive a restart."""
    name = "Redis persistence"
    try:
        appendonly = redis.config_get("appendonly").get("appendonly", "")
        fsync = redis.config_get("appendfsync").get("appendfsync", "")
        save = redis.config_get("save").get("save", "")
    except redis_lib.ResponseError:
        # Managed Redis services often disable CONFIG; their consoles show persistence.
        return Check(
            name,
            None,
            "unknown: this server does not allow CONFIG GET (common on managed Redis); "
            "make sure its append-only persistence (AOF) is on",
        )
    except redis_lib.RedisError as exc:
        return Check(name, False, f"cannot read the settings ({exc})", "check the Redis server")
    snapshots = f"save {save!r}" if save else "no snapshots"
    if appendonly != "yes":
        return Check(
            name,
            False,
            f"appendonly {appendonly or 'unknown'}, {snapshots}: texts acknowledged to Twilio "
            "since the last snapshot would be lost if Redis stops",
            "enable appendonly yes (CONFIG SET appendonly yes, and in redis.conf)",
        )
    return Check(name, True, f"appendonly yes (appendfsync {fsync or '?'}), {snapshots}")


def check_clock(redis: redis_lib.Redis, keys: Keys, clock: Clock) -> Check:
    """Check a clock process beat within the last two minutes."""
    name = "Clock process"
    fix = "start `python -m bot.clock` (or run `python app.py`)"
    try:
        value = redis.get(keys.heartbeat("clock"))
    except redis_lib.RedisError as exc:
        return Check(name, False, f"cannot read the heartbeat ({exc})", "check the Redis server")
    if value is None:
        return Check(
            name,
            False,
            "not seen in the last 2 minutes: reminders and escalations are not being sent",
            fix,
        )
    try:
        age = clock.now() - float(value)
    except ValueError:
        return Check(name, False, f"the heartbeat holds {value!r}, not a time", fix)
    if age > CLOCK_SILENCE_SECONDS:
        return Check(name, False, f"last seen {age / 60:.0f} min ago", fix)
    return Check(name, True, f"last seen {max(age, 0):.0f} s ago")
