"""Run Baton against a fake Slack and a fake Twilio, with a web page to drive both, on 127.0.0.1.

Pieces, each on its own local port:

* FakeSlack and FakeTwilio, the same stand-ins the tests use, with the sample
  team and one channel per queue;
* Baton itself: `create_app` with settings pointing at the stand-ins, served
  over real HTTP, with its delivery workers and its scheduler (reminders);
* the sandbox page and its JSON API, which act through the customer and
  teammate actors, so every text, click and reply is a signed request to
  Baton's real routes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import socket
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any, Self

import redis as redis_lib
from apscheduler.schedulers.base import BaseScheduler
from flask import Flask, Request, Response, jsonify, request, send_from_directory
from redis.backoff import NoBackoff
from redis.retry import Retry
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from app import create_app, shutdown
from bot import store
from bot.schedule import beat, build_scheduler
from bot.service import Baton
from config import Settings
from sandbox.carrier import PhoneNumberError, Phones
from sandbox.replay import Replay
from sandbox.team import CUSTOMERS, TEAM, furnish
from sandbox.workspace import ActionError, Workspace
from standins import FakeSlack, FakeTwilio
from standins.actors import ACCOUNT_SID, BUSINESS_NUMBER, PUBLIC_URL

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "baton.yml"
STATIC = HERE / "static"
HOST = "127.0.0.1"
TICK_SECONDS = 0.1
SNAPSHOT = "workspace.json"


class _QuietHandler(WSGIRequestHandler):
    """Serve without an access log line per request: the page polls several times a second."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


def _bind(app: Flask, port: int) -> BaseWSGIServer:
    # Bind here: werkzeug answers a port in use by printing and exiting the process.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        sock.listen(128)
        # werkzeug duplicates the descriptor, so this one can close.
        return make_server(
            HOST,
            sock.getsockname()[1],
            app,
            threaded=True,
            request_handler=_QuietHandler,
            fd=sock.fileno(),
        )


def _shut(served: tuple[BaseWSGIServer, threading.Thread] | None) -> None:
    if served is not None:
        server, thread = served
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _serve(server: BaseWSGIServer, name: str) -> tuple[BaseWSGIServer, threading.Thread]:
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), name=name, daemon=True)
    thread.start()
    return server, thread


LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
SAME_SITE = frozenset({"same-origin", "none"})
FOREIGN = (
    "The sandbox takes actions only from its own page; "
    "this request came from another site ({source}), so nothing was done."
)


def _foreign(req: Request) -> str:
    """Return why a request from another web page is refused, or "" when it may act.

    The page binds 127.0.0.1 only, but any web page open in the same browser can post a
    form there; and a name rebound to 127.0.0.1 reaches it with that name as its Host.
    So the Host must be a local name, and a POST must come from the page itself: its
    Origin (sent by browsers with every POST) must be this host, and Sec-Fetch-Site,
    where sent, same-origin. Tools such as curl send neither and may act.
    """
    hostname, _, _port = req.host.partition(":")
    if hostname.lower() not in LOCAL_HOSTS:
        return FOREIGN.format(source=f"Host {req.host}")
    if req.method in ("GET", "HEAD", "OPTIONS"):
        return ""
    origin = req.headers.get("Origin")
    if origin is not None and origin != f"http://{req.host}":
        return FOREIGN.format(source=origin)
    site = req.headers.get("Sec-Fetch-Site")
    if site is not None and site not in SAME_SITE:
        return FOREIGN.format(source=f"Sec-Fetch-Site {site}")
    return ""


class Sandbox:
    """Baton, a fake Slack workspace and customers' phones, all on this machine."""

    def __init__(
        self,
        *,
        port: int = 8000,
        data_dir: Path = Path("data/sandbox"),
        redis: redis_lib.Redis | None = None,
        redis_url: str | None = None,
        redis_prefix: str = "sandbox",
        config_path: Path = CONFIG,
        status_delay: float = 0.4,
        replay_pause: float = 1.0,
    ) -> None:
        self.port = port
        self.data_dir = data_dir
        self.redis_prefix = redis_prefix
        self.config_path = config_path
        self.status_delay = status_delay
        self.replay_pause = replay_pause
        self._redis = redis
        self._redis_url = redis_url
        # Only a server the sandbox started itself is stopped with it.
        self._embedded = redis is None and redis_url is None
        self._page: tuple[BaseWSGIServer, threading.Thread] | None = None
        self._baton: tuple[BaseWSGIServer, threading.Thread] | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._scheduler: BaseScheduler | None = None
        self.slack: FakeSlack | None = None
        self.twilio: FakeTwilio | None = None
        self.baton: Baton | None = None
        self.app: Flask | None = None
        self.workspace: Workspace | None = None
        self.phones: Phones | None = None
        self.replay: Replay | None = None
        self.baton_url = ""
        self.url = ""
        self.kept = 0

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def redis(self) -> redis_lib.Redis:
        """Return the Redis client: the one given, redis_url's, or the embedded one under data_dir."""
        if self._redis is None:
            self._redis = store.connect(self._redis_url, self.data_dir)
        return self._redis

    def reset(self) -> int:
        """Delete the sandbox's own Redis keys and saved workspace; return how many keys went."""
        deleted = store.delete_prefix(self.redis, self.redis_prefix)
        (self.data_dir / SNAPSHOT).unlink(missing_ok=True)
        return deleted

    def start(self, *, reset: bool = False) -> Self:
        """Start the stand-ins, Baton, its scheduler and the page; return self."""
        if self.url:
            return self
        # The page's port first: a port in use fails before anything else has started.
        ui = _bind(self.page(), self.port)
        try:
            self._start(ui, reset)
        except BaseException:
            ui.server_close()
            self.stop()
            raise
        return self

    def _start(self, ui: BaseWSGIServer, reset: bool) -> None:
        if reset:
            self.reset()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.kept = int(self.redis.get(store.Keys(self.redis_prefix).sequence) or 0)
        signing_secret = secrets.token_hex(16)
        self.slack = FakeSlack().start()
        self.twilio = FakeTwilio(account_sid=ACCOUNT_SID, auth_token=secrets.token_hex(16)).start()
        self.twilio.add_number(BUSINESS_NUMBER)

        settings = Settings(
            slack_bot_token="xoxb-sandbox",
            slack_signing_secret=signing_secret,
            twilio_account_sid=ACCOUNT_SID,
            twilio_auth_token=self.twilio.auth_token,
            twilio_phone_number=BUSINESS_NUMBER,
            slack_api_url=f"{self.slack.url}/api/",
            twilio_api_url=self.twilio.url,
            # The address Twilio signs for: the actors sign for it, and the sandbox
            # posts to Baton's local port like a tunnel to that public URL would.
            public_url=PUBLIC_URL,
            redis_url=self._redis_url,
            redis_prefix=self.redis_prefix,
            data_dir=self.data_dir,
            config_path=self.config_path,
            delivery_threads=4,
            slack_pace=0,  # the stand-in does not limit
        )
        app = create_app(settings, redis=self.redis)
        self.app = app
        self.baton = app.extensions["baton"]
        self._baton = _serve(_bind(app, 0), "baton")
        self.baton_url = f"http://{HOST}:{self._baton[0].port}"

        furnish(self.slack, self.baton.config)
        self.workspace = Workspace(self.slack, self.baton_url, self.baton, signing_secret)
        self.phones = Phones(
            self.twilio,
            self.baton_url,
            BUSINESS_NUMBER,
            CUSTOMERS,
            status_delay=self.status_delay,
        )
        self._restore()
        self.replay = Replay(self.baton, self.workspace, self.phones, pause=self.replay_pause)

        self._scheduler = build_scheduler(self.baton)
        self._scheduler.start()
        beat(self.baton, "clock")
        self._ticker = threading.Thread(target=self._tick, name="sandbox-ticks", daemon=True)
        self._ticker.start()

        self._page = _serve(ui, "sandbox-page")
        self.port = ui.port
        self.url = f"http://{HOST}:{self.port}/"

    def stop(self) -> None:
        """Stop everything that start() started, saving the workspace for the next run."""
        self._stop.set()
        if self.replay is not None:
            self.replay.stop()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
            self._ticker = None
        # The page first, then the clock, then Baton: nothing acts on a stopped Baton.
        self._page = _shut(self._page)
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
        self._baton = _shut(self._baton)
        if self.app is not None:
            shutdown(self.app)  # both outboxes' workers, Bolt's listeners, the Slack client
            self.app = None
        if self.workspace is not None and self.phones is not None:
            self._save()
        for standin in (self.slack, self.twilio):
            if standin is not None:
                standin.stop()
        if self._embedded and self._redis is not None:
            self._stop_embedded_redis(self._redis)
            self._redis = None

    @staticmethod
    def _stop_embedded_redis(client: redis_lib.Redis) -> None:
        # store.connect leaves its embedded server running for the next process to
        # join; the sandbox's data dir is its own, so Ctrl-C stops that server too.
        path = client.connection_pool.connection_kwargs.get("path")
        client.close()
        if not path:
            return
        # No retries: the server hanging up is the answer, and retrying it takes seconds.
        once = redis_lib.Redis(unix_socket_path=path, retry=Retry(NoBackoff(), 0))
        with contextlib.suppress(redis_lib.RedisError):
            once.shutdown()
        once.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _tick(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            try:
                self.workspace.tick()
                self.phones.tick()
            except Exception:
                # One bad tick must not stop texts from being delivered for the rest of the run.
                logger.exception("sandbox tick failed")

    def _save(self) -> None:
        saved = {"workspace": self.workspace.snapshot(), "phones": self.phones.snapshot()}
        path = self.data_dir / SNAPSHOT
        path.write_text(json.dumps(saved), encoding="utf-8")

    def _restore(self) -> None:
        path = self.data_dir / SNAPSHOT
        if not self.kept or not path.exists():
            # Baton's records would point at cards this run never saw: start both afresh.
            if self.kept:
                logger.warning(
                    "the saved workspace is missing; run with --reset for a clean sandbox"
                )
            return
        saved = json.loads(path.read_text(encoding="utf-8"))
        self.workspace.restore(saved.get("workspace", {}))
        self.phones.restore(saved.get("phones", {}))

    # -- the page -----------------------------------------------------------------------------

    def state(self, user: str) -> dict[str, Any]:
        """Return everything the page shows for a visitor acting as user."""
        config = self.baton.config
        return {
            "slack": self.workspace.view(user),
            "phones": self.phones.view(),
            "replay": self.replay.view(),
            "team": [asdict(p) for p in TEAM],
            "business": config.business.name,
            "queues": [
                {
                    "name": q.name,
                    "channel": q.channel,
                    "keywords": list(q.keywords),
                    "default": q.default,
                }
                for q in config.queues
            ],
        }

    def page(self) -> Flask:
        """Return the sandbox page's web app: the static page and its JSON API."""
        page = Flask("sandbox", static_folder=None)

        def body() -> dict[str, Any]:
            data = request.get_json(silent=True)
            return data if isinstance(data, dict) else {}

        def who(data: dict[str, Any]) -> str:
            return str(data.get("user") or "U0ALEX")

        @page.errorhandler(ActionError)
        @page.errorhandler(PhoneNumberError)
        def refused(error: Exception) -> Response:
            # A visitor's mistake is an answer, not a failed request: like Slack's Web API,
            # 200 with ok false and the sentence to show (the browser logs every 4xx as an error).
            return jsonify(ok=False, error=str(error))

        @page.before_request
        def same_site_only() -> tuple[Response, int] | None:
            refusal = _foreign(request)
            if refusal:
                return jsonify(ok=False, error=refusal), 403
            return None

        @page.get("/")
        def index() -> Response:
            return send_from_directory(STATIC, "index.html")

        @page.get("/static/<path:name>")
        def static(name: str) -> Response:
            return send_from_directory(STATIC, name)

        @page.get("/api/state")
        def state() -> Response:
            response = jsonify(self.state(request.args.get("user") or "U0ALEX"))
            response.headers["Cache-Control"] = "no-store"
            return response

        @page.post("/api/text")
        def text() -> Response:
            data = body()
            message = str(data.get("body") or "")
            if not message.strip():
                raise ActionError("Type a text first.")
            sent = self.phones.text(str(data.get("number") or ""), message)
            return jsonify(asdict(sent))

        @page.post("/api/phone")
        def phone() -> Response:
            data = body()
            self.phones.set_unreachable(
                str(data.get("number") or ""), bool(data.get("unreachable"))
            )
            return jsonify(ok=True)

        @page.post("/api/click")
        def click() -> Response:
            data = body()
            self.workspace.click(
                who(data),
                str(data.get("channel") or ""),
                str(data.get("message_ts") or ""),
                data.get("element") or {},
                block_id=str(data.get("block_id") or ""),
                option=data.get("option"),
                ephemeral=data.get("ephemeral"),
                thread_ts=data.get("thread_ts"),
            )
            return jsonify(ok=True)

        @page.post("/api/reply")
        def reply() -> Response:
            data = body()
            ts = self.workspace.reply(
                who(data),
                str(data.get("channel") or ""),
                str(data.get("thread_ts") or ""),
                str(data.get("text") or ""),
            )
            return jsonify(ts=ts)

        @page.post("/api/command")
        def command() -> Response:
            data = body()
            note = self.workspace.command(
                who(data), str(data.get("channel") or ""), str(data.get("text") or "")
            )
            return jsonify(note)

        @page.post("/api/home")
        def home() -> Response:
            self.workspace.open_home(who(body()))
            return jsonify(ok=True)

        @page.post("/api/view/submit")
        def view_submit() -> Response:
            data = body()
            errors = self.workspace.submit_view(
                who(data), str(data.get("view_id") or ""), data.get("values") or {}
            )
            return jsonify(errors=errors)

        @page.post("/api/view/action")
        def view_action() -> Response:
            data = body()
            self.workspace.view_action(
                who(data),
                str(data.get("view_id") or ""),
                str(data.get("block_id") or ""),
                data.get("element") or {},
                data.get("option"),
            )
            return jsonify(ok=True)

        @page.post("/api/view/close")
        def view_close() -> Response:
            self.workspace.close_view(who(body()))
            return jsonify(ok=True)

        @page.post("/api/replay")
        def replay() -> Response:
            started = self.replay.start()
            return jsonify(started=started, replay=self.replay.view())

        @page.get("/api/file/<file_id>")
        def file(file_id: str) -> Response:
            found = self.slack.files.get(file_id) if self.slack else None
            if not found or found.get("data") is None:
                return Response("no such file\n", status=404, mimetype="text/plain")
            return Response(
                found["data"],
                mimetype="text/plain",
                headers={"Content-Disposition": f'inline; filename="{found["filename"]}"'},
            )

        return page
