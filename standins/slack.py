"""In-memory stand-in for the Slack Web API, served over real HTTP.

Point the real client at it with ``WebClient(token="xoxb-test", base_url=fake.url + "/api/")``.
Methods are taken from the last path segment (``/api/chat.postMessage``), params from the query
string merged with a form, multipart or JSON body. Like Slack, API errors are HTTP 200 with
``{"ok": false, "error": ...}``; only faults injected with `fail_next`/`set_down` use other
statuses, and a 429 always carries ``Retry-After`` (default "1").

Auth: every method needs a token (``Authorization: Bearer`` or ``token`` param): none gives
``not_authed``, ``xoxb-invalid`` gives ``invalid_auth``. The bot is ``UBATONBOT``/``BBATON``.
``apps.connections.open`` wants an app-level ``xapp-`` token and hands out `socket_mode_url`
(a `FakeSocketMode` url), so slack_sdk's Socket Mode client connects to the local stand-in.
Like Slack, every answer to an authenticated call carries the token's granted scopes in an
``x-oauth-scopes`` header (comma-separated): Baton's manifest's, unless `grant_scopes` says
otherwise (an app installed before a scope was added, say; None drops the header).

Message ``ts`` values come from the wall clock (microseconds) forced strictly increasing, so they
are unique, sort as strings, and still mean "when it was posted" to code that measures response
times. API renderings follow Slack: ``thread_ts`` only on threaded messages, ``blocks``,
``metadata`` and ``reactions`` only when present. The accessors (`messages`, `thread`,
`message`) return the full stored dicts instead, with every key present.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import math
import time
from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from typing import Any

from ops.manifest import BOT_SCOPES
from standins.server import Reply, Request, StandIn, flatten_form, parse_form

BOT_USER_ID = "UBATONBOT"
BOT_ID = "BBATON"
TEAM_ID = "T0BATON"
INVALID_TOKEN = "xoxb-invalid"

# Sent as JSON strings in form bodies; parsed so recorded params and stored state hold objects.
_JSON_FIELDS = ("blocks", "attachments", "metadata", "view", "files")
_MAX_TEXT = 40_000


# Slack's published per-workspace limits (calls a minute) of the methods Baton
# calls most, for `limit_rates`: Tier 3 is 50, Tier 4 100.
RATE_LIMITS_PER_MINUTE = {
    "chat.update": 50.0,
    "chat.postEphemeral": 100.0,
    "chat.getPermalink": 100.0,
    "reactions.add": 50.0,
    "conversations.history": 50.0,
    "conversations.replies": 50.0,
    "conversations.open": 50.0,
}


def in_threads(messages: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], str, str]]:
    """Yield the bot's messages that belong to threads: (message, its thread's ts, what it says).

    A reply says its text. A thread's parent with attachments (a conversation's
    card, showing the first text) says what its attachments say, in its own thread.
    """
    for message in messages:
        if message.get("user") != BOT_USER_ID:
            continue
        thread_ts = message.get("thread_ts")
        if thread_ts and thread_ts != message["ts"]:
            yield message, thread_ts, message.get("text") or ""
        elif message.get("attachments"):
            said = [
                str((block.get("text") or {}).get("text") or "")
                for attachment in message["attachments"]
                for block in attachment.get("blocks") or []
            ]
            yield message, message["ts"], "\n".join(said)


def _ok(**fields: Any) -> dict[str, Any]:
    return {"ok": True, **fields}


def _error(code: str, **fields: Any) -> dict[str, Any]:
    return {"ok": False, "error": code, **fields}


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, fraction = ts.partition(".")
    return int(seconds or 0), int(fraction or 0)


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes")


class FakeSlack(StandIn):
    """Slack Web API stand-in with an in-memory workspace."""

    keep_alive = True  # as slack.com: a client may send its next call on the same connection

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        # Set to a FakeSocketMode url to let apps.connections.open succeed; survives reset().
        self.socket_mode_url: str | None = None
        self._ids = itertools.count(1)
        self._last_us = 0
        # Fixtures: survive reset().
        self._channels: dict[str, dict[str, Any]] = {}
        self._users: dict[str, dict[str, Any]] = {}
        self._scopes: tuple[str, ...] | None = BOT_SCOPES
        # limit_rates: seconds between calls by ("post", channel) or ("method", name), and slack.
        self._intervals: dict[str, float] | None = None
        self._post_interval = 1.0
        self._slack = 0.1
        self._due: dict[tuple[str, str], float] = {}
        self._add_bot_user()
        self._reset_state()

    def _reset_state(self) -> None:
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._ephemerals: list[dict[str, Any]] = []
        self._views: dict[str, dict[str, Any]] = {}
        self._home_views: dict[str, dict[str, Any]] = {}
        self._files: dict[str, dict[str, Any]] = {}
        # Channels seen only through traffic are forgotten; add_channel ones are fixtures.
        for channel_id in [c for c, info in self._channels.items() if info.get("_auto")]:
            del self._channels[channel_id]

    # -- fixtures --------------------------------------------------------------------------

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        members: list[str] | tuple[str, ...] = (),
        is_private: bool = False,
        is_member: bool = True,
    ) -> dict[str, Any]:
        """Register a channel so conversations.info / conversations.members know it."""
        with self._lock:
            info = {
                "id": channel_id,
                "name": name,
                "is_channel": not is_private and not channel_id.startswith("D"),
                "is_group": is_private,
                "is_im": channel_id.startswith("D"),
                "is_private": is_private,
                "is_member": is_member,
                "is_archived": False,
                "members": list(members),
                "_auto": False,
            }
            self._channels[channel_id] = info
            return info

    def grant_scopes(self, scopes: tuple[str, ...] | list[str] | None) -> None:
        """Set the scopes the bot token was granted at install (survives reset()); None: no header."""
        with self._lock:
            self._scopes = None if scopes is None else tuple(scopes)

    def limit_rates(
        self,
        posts_per_second: float | None = 1.0,
        *,
        per_minute: dict[str, float] | None = None,
        burst: int = 5,
        slack: float = 0.1,
    ) -> None:
        """Answer like Slack past its rate limits: 429 with Retry-After, nothing done.

        chat.postMessage: posts_per_second per channel, no burst (Slack allows
        "short bursts"; this allows none, only calls up to slack seconds early).
        Other methods: per_minute calls a minute for the workspace
        (RATE_LIMITS_PER_MINUTE by default), burst calls at once. None turns it off.
        """
        with self._lock:
            if posts_per_second is None:
                self._intervals = None
                return
            limits = RATE_LIMITS_PER_MINUTE if per_minute is None else per_minute
            self._post_interval = 1.0 / posts_per_second
            self._intervals = {method: 60.0 / rate for method, rate in limits.items()}
            self._burst = burst
            self._slack = slack
            self._due.clear()

    def _rate_limited(self, method: str, params: dict[str, Any]) -> Reply | None:
        """Return a 429 when this call is past its limit, else take its turn and return None."""
        if self._intervals is None:
            return None
        if method == "chat.postMessage":
            key, interval, allowance = (
                ("post", str(params.get("channel"))),
                self._post_interval,
                0.0,
            )
        elif method in self._intervals:
            interval = self._intervals[method]
            key, allowance = ("method", method), interval * (self._burst - 1)
        else:
            return None
        now = time.monotonic()
        due = max(self._due.get(key, 0.0), now)
        early = due - allowance - now
        if early > self._slack:
            retry_after = str(max(1, math.ceil(early)))
            return Reply(429, _error("ratelimited"), {"Retry-After": retry_after})
        self._due[key] = due + interval
        return None

    def add_user(
        self,
        user_id: str,
        name: str,
        real_name: str | None = None,
        display_name: str | None = None,
        *,
        is_bot: bool = False,
        deleted: bool = False,
        tz: str | None = None,
        email: str | None = None,
    ) -> dict[str, Any]:
        """Register a user for users.info; return the stored user object."""
        real = real_name if real_name is not None else name
        display = display_name if display_name is not None else ""
        profile: dict[str, Any] = {
            "real_name": real,
            "real_name_normalized": real,
            "display_name": display,
            "display_name_normalized": display,
        }
        if email is not None:
            profile["email"] = email
        user: dict[str, Any] = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "real_name": real,
            "deleted": deleted,
            "is_bot": is_bot,
            "profile": profile,
        }
        if tz is not None:
            user["tz"] = tz
        with self._lock:
            self._users[user_id] = user
        return user

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str,
        thread_ts: str | None = None,
        blocks: list | None = None,
        metadata: dict | None = None,
    ) -> str:
        """Store a message as if a human posted it (no API call recorded); return its ts."""
        with self._lock:
            message = self._store(channel, text, thread_ts, blocks, None, metadata, user, None)
            return message["ts"]

    def _add_bot_user(self) -> None:
        self.add_user(BOT_USER_ID, "baton", "Baton", "Baton", is_bot=True)
        self._users[BOT_USER_ID]["profile"]["bot_id"] = BOT_ID

    # -- accessors -------------------------------------------------------------------------

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Return stored messages (parents and replies) in ts order, optionally for a channel."""
        with self._lock:
            channels = [channel] if channel is not None else list(self._messages)
            found = [m for ch in channels for m in self._messages.get(ch, [])]
            found.sort(key=lambda m: _ts_key(m["ts"]))
            return copy.deepcopy(found)

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """Return the parent at `ts` followed by its replies in order (empty if unknown)."""
        with self._lock:
            return copy.deepcopy(self._thread_of(channel, ts))

    def said(self, channel: str, ts: str) -> list[str]:
        """Return what the bot said in a thread, in order: a card's first text, then each reply."""
        return [text for _message, _thread, text in in_threads(self.thread(channel, ts))]

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """Return the stored message at (channel, ts), or None."""
        with self._lock:
            found = self._find(channel, ts)
            return copy.deepcopy(found) if found is not None else None

    @property
    def ephemerals(self) -> list[dict[str, Any]]:
        """Return ephemeral messages posted with chat.postEphemeral, oldest first."""
        with self._lock:
            return copy.deepcopy(self._ephemerals)

    @property
    def home_views(self) -> dict[str, dict[str, Any]]:
        """Return the last view published per user by views.publish."""
        with self._lock:
            return copy.deepcopy(self._home_views)

    @property
    def views(self) -> dict[str, dict[str, Any]]:
        """Return every view opened, pushed, updated or published, by view id."""
        with self._lock:
            return copy.deepcopy(self._views)

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        """Return uploads by file id: filename, title, data (bytes), channel_id, thread_ts..."""
        with self._lock:
            return copy.deepcopy(self._files)

    # -- request pipeline ------------------------------------------------------------------

    def _parse(self, request: Request) -> tuple[str, dict[str, Any]]:
        path = request.path
        if path.startswith("/upload/"):
            return "upload", {"file_id": path.rsplit("/", 1)[-1], "size": len(request.body)}
        method = path.rstrip("/").rsplit("/", 1)[-1]
        params: dict[str, Any] = flatten_form(request.query)
        content_type = request.header("Content-Type").lower()
        if request.body:
            if "application/json" in content_type:
                try:
                    decoded = json.loads(request.body)
                except ValueError:
                    decoded = {"_invalid_json": True}
                if isinstance(decoded, dict):
                    params.update(decoded)
            elif "multipart/form-data" in content_type:
                params.update(self._parse_multipart(request))
            else:
                params.update(flatten_form(parse_form(request.body)))
        for key in _JSON_FIELDS:
            value = params.get(key)
            if isinstance(value, str) and value[:1] in ("[", "{"):
                # Keep the raw string on bad JSON: handlers answer invalid_blocks etc.
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(value)
        return method, params

    @staticmethod
    def _parse_multipart(request: Request) -> dict[str, Any]:
        head = f"Content-Type: {request.header('Content-Type')}\r\n\r\n".encode()
        message = BytesParser(policy=policy.HTTP).parsebytes(head + request.body)
        fields: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not name:
                continue
            payload = part.get_payload(decode=True) or b""
            if part.get_filename():
                fields[name] = payload
            else:
                fields[name] = payload.decode("utf-8", "replace")
        return fields

    def _fault_reply(self, method: str, status: int, body: Any, headers: dict[str, str]) -> Reply:
        if body is None:
            if status == 429:
                body = _error("ratelimited")
            elif status == 503:
                body = _error("service_unavailable")
            elif status >= 500:
                body = _error("internal_error")
            else:
                body = _error("invalid_request")
        headers = dict(headers)
        if status == 429 and not any(k.lower() == "retry-after" for k in headers):
            headers["Retry-After"] = "1"
        return Reply(status, body, headers)

    def _answer(self, method: str, params: dict[str, Any], request: Request) -> Reply:
        if method == "upload":
            return self._upload(params["file_id"], request.body)
        handler = self._handlers().get(method)
        if handler is None:
            return Reply(200, _error("unknown_method", req_method=method))
        token = params.get("token") or ""
        auth = request.header("Authorization")
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        if not token:
            return Reply(200, _error("not_authed"))
        if token == INVALID_TOKEN:
            return Reply(200, _error("invalid_auth"))
        granted = {} if self._scopes is None else {"x-oauth-scopes": ",".join(self._scopes)}
        if params.get("_invalid_json"):
            return Reply(200, _error("invalid_json"), granted)
        limited = self._rate_limited(method, params)
        if limited is not None:
            return limited
        return Reply(200, handler({**params, "token": token}), granted)

    def _handlers(self) -> dict[str, Any]:
        return {
            "api.test": lambda p: _ok(args={k: v for k, v in p.items() if k != "token"}),
            "apps.connections.open": self._apps_connections_open,
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.members": self._conversations_members,
            "users.info": self._users_info,
            "views.open": lambda p: self._view_write(p, "open"),
            "views.push": lambda p: self._view_write(p, "push"),
            "views.update": lambda p: self._view_write(p, "update"),
            "views.publish": lambda p: self._view_write(p, "publish"),
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
        }

    # -- workspace internals (lock held) ---------------------------------------------------

    def _next_ts(self) -> str:
        now_us = time.time_ns() // 1000
        self._last_us = max(now_us, self._last_us + 1)
        return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08X}"

    def _resolve_channel(self, channel: Any) -> str | None:
        """Map a channel id, #name, or user id (DM) to a channel id; None if unknown."""
        if not channel or not isinstance(channel, str):
            return None
        if channel in self._channels:
            return channel
        name = channel.lstrip("#")
        for info in self._channels.values():
            if info["name"] == name:
                return info["id"]
        if channel[0] in "UW":
            # Posting to a user id lands in the bot's DM with them, as conversations.open says.
            return "D" + channel
        if channel[0] in "CGD":
            return channel
        return None

    def _remember_channel(self, channel_id: str) -> None:
        if channel_id not in self._channels:
            self._channels[channel_id] = {
                "id": channel_id,
                "name": channel_id.lower(),
                "is_channel": channel_id.startswith("C"),
                "is_group": channel_id.startswith("G"),
                "is_im": channel_id.startswith("D"),
                "is_private": not channel_id.startswith("C"),
                "is_member": True,
                "is_archived": False,
                "members": [],
                "_auto": True,
            }

    def _store(
        self,
        channel: str,
        text: str,
        thread_ts: str | None,
        blocks: Any,
        attachments: Any,
        metadata: Any,
        user: str,
        bot_id: str | None,
    ) -> dict[str, Any]:
        self._remember_channel(channel)
        message = {
            "channel": channel,
            "ts": self._next_ts(),
            "thread_ts": thread_ts or None,
            "text": text,
            "blocks": blocks,
            "attachments": attachments,
            "metadata": metadata,
            "user": user,
            "bot_id": bot_id,
            "reactions": [],
        }
        self._messages.setdefault(channel, []).append(message)
        return message

    def _find(self, channel: str, ts: str) -> dict[str, Any] | None:
        for message in self._messages.get(channel, []):
            if message["ts"] == ts:
                return message
        return None

    def _thread_of(self, channel: str, ts: str) -> list[dict[str, Any]]:
        found = self._find(channel, ts)
        if found is None:
            return []
        root = found["thread_ts"] or found["ts"]
        parent = self._find(channel, root)
        replies = [
            m for m in self._messages.get(channel, []) if m["thread_ts"] == root and m["ts"] != root
        ]
        return ([parent] if parent is not None else []) + replies

    def _render(self, message: dict[str, Any]) -> dict[str, Any]:
        """Shape a stored message the way Slack returns it from history/replies."""
        out: dict[str, Any] = {
            "type": "message",
            "user": message["user"],
            "text": message["text"],
            "ts": message["ts"],
        }
        if message["bot_id"]:
            out["bot_id"] = message["bot_id"]
        if message["blocks"]:
            out["blocks"] = message["blocks"]
        if message["attachments"]:
            out["attachments"] = message["attachments"]
        if message["metadata"] is not None:
            out["metadata"] = message["metadata"]
        if message.get("files"):
            out.update(files=message["files"], upload=True)
        if message.get("edited"):
            out["edited"] = message["edited"]
        if message["thread_ts"] and message["thread_ts"] != message["ts"]:
            out["thread_ts"] = message["thread_ts"]
            parent = self._find(message["channel"], message["thread_ts"])
            if parent is not None:
                out["parent_user_id"] = parent["user"]
        else:
            replies = self._thread_of(message["channel"], message["ts"])[1:]
            if replies:
                users = list(dict.fromkeys(r["user"] for r in replies))
                out.update(
                    thread_ts=message["ts"],
                    reply_count=len(replies),
                    reply_users=users,
                    reply_users_count=len(users),
                    latest_reply=replies[-1]["ts"],
                )
        if message["reactions"]:
            out["reactions"] = message["reactions"]
        return copy.deepcopy(out)

    @staticmethod
    def _window(messages: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
        inclusive = _truthy(params.get("inclusive", "0"))
        oldest = params.get("oldest")
        latest = params.get("latest")
        picked = []
        for message in messages:
            key = _ts_key(message["ts"])
            if oldest not in (None, ""):
                low = _ts_key(str(oldest))
                if key < low or (key == low and not inclusive):
                    continue
            if latest not in (None, ""):
                high = _ts_key(str(latest))
                if key > high or (key == high and not inclusive):
                    continue
            picked.append(message)
        return picked

    @staticmethod
    def _limit(params: dict[str, Any], default: int = 100) -> int:
        try:
            limit = int(params.get("limit") or default)
        except (TypeError, ValueError):
            limit = default
        return max(1, min(limit, 1000))

    # -- methods ---------------------------------------------------------------------------

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return _ok(
            url="https://example.slack.com/",
            team="Baton Test",
            user="baton",
            team_id=TEAM_ID,
            user_id=BOT_USER_ID,
            bot_id=BOT_ID,
            is_enterprise_install=False,
        )

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if not str(params.get("token") or "").startswith("xapp-"):
            return _error("invalid_auth")
        if self.socket_mode_url is None:
            return _error("not_allowed_token_type")
        return _ok(url=self.socket_mode_url)

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        if channel is None:
            return _error("channel_not_found")
        text = params.get("text") or ""
        blocks = params.get("blocks") or None
        attachments = params.get("attachments") or None
        if not text and not blocks and not attachments:
            return _error("no_text")
        if len(text) > _MAX_TEXT:
            return _error("msg_too_long")
        if blocks is not None and not isinstance(blocks, list):
            return _error("invalid_blocks")
        metadata = params.get("metadata") or None
        if metadata is not None and not isinstance(metadata, dict):
            return _error("invalid_metadata_format")
        thread_ts = params.get("thread_ts") or None
        message = self._store(
            channel, text, thread_ts, blocks, attachments, metadata, BOT_USER_ID, BOT_ID
        )
        return _ok(channel=channel, ts=message["ts"], message=self._render(message))

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        if channel is None:
            return _error("channel_not_found")
        message = self._find(channel, str(params.get("ts") or ""))
        if message is None:
            return _error("message_not_found")
        if message["user"] != BOT_USER_ID:
            return _error("cant_update_message")
        if "text" in params:
            message["text"] = params["text"] or ""
        if "blocks" in params:
            message["blocks"] = params["blocks"] or None
        if "attachments" in params:
            message["attachments"] = params["attachments"] or None
        if params.get("metadata"):
            message["metadata"] = params["metadata"]
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return _ok(
            channel=channel,
            ts=message["ts"],
            text=message["text"],
            message=self._render(message),
        )

    def _chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        if channel is None:
            return _error("channel_not_found")
        message = self._find(channel, str(params.get("ts") or ""))
        if message is None:
            return _error("message_not_found")
        if message["user"] != BOT_USER_ID:
            return _error("cant_delete_message")
        self._messages[channel].remove(message)
        return _ok(channel=channel, ts=message["ts"])

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        if channel is None:
            return _error("channel_not_found")
        user = params.get("user")
        if not user:
            return _error("user_not_found")
        text = params.get("text") or ""
        blocks = params.get("blocks") or None
        if not text and not blocks and not params.get("attachments"):
            return _error("no_text")
        message_ts = self._next_ts()
        self._ephemerals.append(
            {
                "channel": channel,
                "user": user,
                "text": text,
                "blocks": blocks,
                "thread_ts": params.get("thread_ts") or None,
                "message_ts": message_ts,
            }
        )
        return _ok(message_ts=message_ts)

    def _chat_get_permalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        ts = str(params.get("message_ts") or "")
        if channel is None:
            return _error("channel_not_found")
        if not ts:
            return _error("message_not_found")
        link = f"https://example.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return _ok(channel=channel, permalink=link)

    def _reaction_target(self, params: dict[str, Any]) -> dict[str, Any] | str:
        channel = self._resolve_channel(params.get("channel"))
        if channel is None:
            return "channel_not_found"
        message = self._find(channel, str(params.get("timestamp") or ""))
        if message is None:
            return "message_not_found"
        if not params.get("name"):
            return "invalid_name"
        return message

    def _reactions_add(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._reaction_target(params)
        if isinstance(message, str):
            return _error(message)
        name = str(params["name"]).strip(":")
        for reaction in message["reactions"]:
            if reaction["name"] == name:
                if BOT_USER_ID in reaction["users"]:
                    return _error("already_reacted")
                reaction["users"].append(BOT_USER_ID)
                reaction["count"] += 1
                return _ok()
        message["reactions"].append({"name": name, "users": [BOT_USER_ID], "count": 1})
        return _ok()

    def _reactions_remove(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._reaction_target(params)
        if isinstance(message, str):
            return _error(message)
        name = str(params["name"]).strip(":")
        for reaction in message["reactions"]:
            if reaction["name"] == name and BOT_USER_ID in reaction["users"]:
                reaction["users"].remove(BOT_USER_ID)
                reaction["count"] -= 1
                if not reaction["count"]:
                    message["reactions"].remove(reaction)
                return _ok()
        return _error("no_reaction")

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        if channel is None:
            return _error("channel_not_found")
        # History lists top-level messages only; replies live in conversations.replies.
        top = [
            m
            for m in self._messages.get(channel, [])
            if not m["thread_ts"] or m["thread_ts"] == m["ts"]
        ]
        picked = self._window(top, params)[::-1]
        limit = self._limit(params)
        return _ok(
            messages=[self._render(m) for m in picked[:limit]],
            has_more=len(picked) > limit,
            pin_count=0,
            response_metadata={"next_cursor": ""},
        )

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        if channel is None:
            return _error("channel_not_found")
        thread = self._thread_of(channel, str(params.get("ts") or ""))
        if not thread:
            return _error("thread_not_found")
        picked = [thread[0], *self._window(thread[1:], params)]
        limit = self._limit(params, default=1000)
        return _ok(
            messages=[self._render(m) for m in picked[:limit]],
            has_more=len(picked) > limit,
            response_metadata={"next_cursor": ""},
        )

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("channel"):
            channel = self._resolve_channel(params["channel"])
            if channel is None:
                return _error("channel_not_found")
            return _ok(channel={"id": channel})
        users = [u.strip() for u in str(params.get("users") or "").split(",") if u.strip()]
        if not users:
            return _error("users_list_not_supplied")
        # Group DMs get a stable id derived from the sorted member list.
        channel = "D" + users[0] if len(users) == 1 else "G" + "".join(sorted(users))[:20]
        self._remember_channel(channel)
        return _ok(channel={"id": channel})

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        info = self._channels.get(channel) if isinstance(channel, str) else None
        if info is None:
            return _error("channel_not_found")
        public = {k: v for k, v in info.items() if not k.startswith("_") and k != "members"}
        return _ok(channel=copy.deepcopy(public))

    def _conversations_members(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        info = self._channels.get(channel) if isinstance(channel, str) else None
        if info is None:
            return _error("channel_not_found")
        return _ok(members=list(info["members"]), response_metadata={"next_cursor": ""})

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self._users.get(str(params.get("user") or ""))
        if user is None:
            return _error("user_not_found")
        return _ok(user=copy.deepcopy(user))

    def _view_write(self, params: dict[str, Any], action: str) -> dict[str, Any]:
        view = params.get("view")
        if not isinstance(view, dict):
            return _error("invalid_arguments")
        if action in ("open", "push") and not params.get("trigger_id"):
            return _error("invalid_arguments")
        if action == "publish" and not params.get("user_id"):
            return _error("invalid_arguments")
        previous = None
        if action == "update":
            view_id = params.get("view_id")
            external_id = params.get("external_id")
            previous = self._views.get(view_id) if view_id else None
            if previous is None and external_id:
                previous = next(
                    (v for v in self._views.values() if v.get("external_id") == external_id),
                    None,
                )
            if previous is None:
                return _error("not_found")
        if action == "publish":
            previous = self._home_views.get(params["user_id"])
        view_id = previous["id"] if previous is not None else self._next_id("V")
        stored = {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": view.get("type", "home" if action == "publish" else "modal"),
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{time.time():.6f}.{view_id}",
            "root_view_id": previous["root_view_id"] if previous is not None else view_id,
            "previous_view_id": None,
            "app_id": "A0BATON",
            "bot_id": BOT_ID,
            **{k: v for k, v in view.items() if k not in ("id", "hash", "state")},
        }
        self._views[view_id] = stored
        if action == "publish":
            self._home_views[params["user_id"]] = stored
        return _ok(view=copy.deepcopy(stored))

    def _files_get_upload_url(self, params: dict[str, Any]) -> dict[str, Any]:
        filename = params.get("filename")
        length = params.get("length")
        if not filename or length in (None, ""):
            return _error("invalid_arguments")
        file_id = self._next_id("F")
        self._files[file_id] = {
            "id": file_id,
            "filename": filename,
            "title": filename,
            "length": int(length),
            "data": None,
            "completed": False,
            "channel_id": None,
            "thread_ts": None,
            "initial_comment": None,
        }
        return _ok(upload_url=f"{self.url}/upload/{file_id}", file_id=file_id)

    def _upload(self, file_id: str, data: bytes) -> Reply:
        entry = self._files.get(file_id)
        if entry is None:
            return Reply(404, "file not found")
        entry["data"] = data
        return Reply(200, f"OK - {len(data)}")

    def _files_complete_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        items = params.get("files")
        if not isinstance(items, list) or not items:
            return _error("invalid_arguments")
        channel = params.get("channel_id") or params.get("channels") or None
        if channel is not None:
            channel = self._resolve_channel(str(channel).split(",")[0])
            if channel is None:
                return _error("channel_not_found")
        done = []
        for item in items:
            entry = self._files.get(item.get("id")) if isinstance(item, dict) else None
            if entry is None or entry["data"] is None:
                return _error("file_not_found")
        for item in items:
            entry = self._files[item["id"]]
            entry.update(
                title=item.get("title") or entry["filename"],
                completed=True,
                channel_id=channel,
                thread_ts=params.get("thread_ts") or None,
                initial_comment=params.get("initial_comment") or None,
            )
            done.append(
                {
                    "id": entry["id"],
                    "name": entry["filename"],
                    "title": entry["title"],
                    "size": len(entry["data"]),
                    "user": BOT_USER_ID,
                    "channels": [channel] if channel else [],
                }
            )
        if channel is not None:
            # Sharing posts a message carrying the files, as Slack does; history lists it.
            message = self._store(
                channel,
                params.get("initial_comment") or "",
                params.get("thread_ts") or None,
                None,
                None,
                None,
                BOT_USER_ID,
                BOT_ID,
            )
            message["upload"] = True
            message["files"] = [
                {"id": f["id"], "name": f["name"], "title": f["title"], "size": f["size"]}
                for f in done
            ]
        return _ok(files=done)
