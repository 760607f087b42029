"""A local stand-in for Slack: a recording Web API server and a sender of signed requests.

`FakeSlack` answers the Web API methods korebot uses over real HTTP on 127.0.0.1, keeps
channels, messages and threads in memory, validates Block Kit payloads with slack_sdk and
records every call. `SlackSender` posts slash commands and button clicks to the app, signed
as Slack signs them. Used by the tests, the benchmarks and `korebot demo`. Socket Mode's
endpoint is in `fake_slack_socket.py` (it needs `websockets`, a test dependency).
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, cast
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from slack_sdk.models.blocks import Block
from slack_sdk.signature import SignatureVerifier

from korebot.testing.slack_payloads import block_actions_payload, slash_command_fields

__all__ = ["FakeSlack", "SlackCall", "SlackSender"]

Message = dict[str, Any]

#: Form fields whose values are JSON documents (slack_sdk sends them as JSON strings).
JSON_FIELDS = frozenset({"blocks", "attachments", "metadata"})
#: Methods that take the app-level token (xapp-…) rather than the bot token.
APP_LEVEL_METHODS = frozenset({"apps.connections.open"})
#: Slack refuses messages with more blocks than this.
MAX_BLOCKS = 50
_FIRST_TS_MICROS = 1_700_000_000_000_000
_SUMMARY_LINES = 50


@dataclass(frozen=True)
class SlackCall:
    """One recorded request to the fake, with what the fake answered."""

    method: str
    args: dict[str, Any]
    ok: bool
    error: str | None
    result: dict[str, Any]

    def summary(self, width: int = 40) -> str:
        """One line: method, shortened arguments and outcome."""
        parts = [f"{key}={_short(value, width)}" for key, value in self.args.items()]
        outcome = "ok" if self.ok else f"error={self.error}"
        return f"{self.method}({', '.join(parts)}) -> {outcome}"


class _ApiError(Exception):
    """Raised by a method handler to answer {"ok": false, "error": ...}."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class _Channel:
    exists: bool = True
    member: bool = True
    archived: bool = False


@dataclass
class _Failure:
    error: str
    remaining: int
    http_status: int
    retry_after: int | None


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, data: dict[str, Any], status: int = 200, **headers: str) -> _Answer:
        body = json.dumps(data).encode()
        return cls(status, body, "application/json; charset=utf-8", tuple(headers.items()))

    @classmethod
    def text(cls, text: str, status: int = 200, **headers: str) -> _Answer:
        return cls(status, text.encode(), "text/plain; charset=utf-8", tuple(headers.items()))


class FakeSlack:
    """In-memory Slack Web API served on 127.0.0.1 that records every call.

    Use as a context manager, then point `slack_sdk.WebClient(base_url=fake.api_url)` at it.
    All public methods are thread-safe.
    """

    def __init__(
        self,
        token: str = "xoxb-fake-token",  # noqa: S107 - a fake token for a fake server
        *,
        app_token: str = "xapp-1-A0KOREBOT-1-fake-app-token",  # noqa: S107 - likewise
        team_id: str = "T0FAKE",
        bot_user_id: str = "U0KOREBOT",
        response_url_max_uses: int = 5,
    ) -> None:
        self.token = token
        self.app_token = app_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = "B" + bot_user_id[1:]
        self.response_url_max_uses = response_url_max_uses
        self.block_errors: list[str] = []
        self._cond = threading.Condition(threading.RLock())
        self._calls: list[SlackCall] = []
        self._channels: dict[str, _Channel] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._top: dict[str, list[Message]] = {}
        self._replies: dict[tuple[str, str], list[Message]] = {}
        self._index: dict[tuple[str, str], Message] = {}
        self._response_uses: dict[str, int] = {}
        self._ts_counter = itertools.count(1)
        self._url_counter = itertools.count(1)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "conversations.replies": self._conversations_replies,
            "conversations.history": self._conversations_history,
        }

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> FakeSlack:
        """Start serving on a free port of 127.0.0.1 (no-op when already running)."""
        with self._cond:
            if self._server is not None:
                return self
            server = _Server(self)
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.01},
                name=f"fake-slack-{server.server_address[1]}",
                daemon=True,
            )
            self._server, self._thread = server, thread
        thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port; recorded state stays readable."""
        with self._cond:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT` of the running server."""
        server = self._server
        if server is None:
            raise RuntimeError("FakeSlack is not running; call start() first")
        return f"http://127.0.0.1:{server.server_address[1]}"

    @property
    def api_url(self) -> str:
        """Web API base URL with its trailing slash, for `WebClient(base_url=...)`."""
        return f"{self.base_url}/api/"

    # ------------------------------------------------------------ configuration

    def response_url(self, key: str = "") -> str:
        """A fresh response_url; `key` (letters, digits, - and _ kept) labels it."""
        label = re.sub(r"[^A-Za-z0-9_-]", "", key)
        with self._cond:
            number = next(self._url_counter)
            rid = f"{label}-{number}" if label else str(number)
            self._response_uses[rid] = 0
        return f"{self.base_url}/response/{rid}"

    def set_channel(
        self, channel: str, *, member: bool = True, exists: bool = True, archived: bool = False
    ) -> None:
        """Configure a channel; unknown channels exist and have the bot as a member."""
        with self._cond:
            self._channels[channel] = _Channel(exists=exists, member=member, archived=archived)

    def fail(
        self,
        method: str,
        error: str,
        *,
        times: int = 1,
        http_status: int = 200,
        retry_after: int | None = None,
    ) -> None:
        """Make the next `times` calls of `method` (or "response_url") fail with `error`.

        "ratelimited" answers HTTP 429 with a Retry-After header (1 s unless given);
        an `http_status` >= 500 answers a plain-text body.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        status = 429 if error == "ratelimited" and http_status == 200 else http_status
        if status == 429 and retry_after is None:
            retry_after = 1
        with self._cond:
            self._failures.setdefault(method, []).append(
                _Failure(error, times, status, retry_after)
            )

    def serve_socket_mode(self, issue_url: Callable[[], str] | None) -> None:
        """Answer `apps.connections.open` with `issue_url()` (None: the method is unknown).

        `fake_slack_socket.FakeSlackSocket` calls this with its own URLs.
        """
        with self._cond:
            if issue_url is None:
                self._methods.pop("apps.connections.open", None)
            else:
                self._methods["apps.connections.open"] = lambda args: {
                    "ok": True,
                    "url": issue_url(),
                }

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str = "U0ASKER",
        thread_ts: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
    ) -> str:
        """Seed a message written by `user` (not recorded as a call); returns its ts."""
        with self._cond:
            message = self._new_message(
                text=text, blocks=blocks or [], user=user, thread_ts=thread_ts
            )
            self._store(self._dm(channel), message, broadcast=False)
            return cast(str, message["ts"])

    # ------------------------------------------------------------------ queries

    @property
    def calls(self) -> list[SlackCall]:
        """Every recorded call, in arrival order (a copy)."""
        with self._cond:
            return list(self._calls)

    def calls_to(self, method: str) -> list[SlackCall]:
        """Recorded calls of one method ("chat.postMessage", "response_url", ...)."""
        with self._cond:
            return [call for call in self._calls if call.method == method]

    def messages(self, channel: str) -> list[Message]:
        """Top-level messages of a channel, oldest first, each with its "replies"."""
        with self._cond:
            channel = self._dm(channel)
            result = []
            for message in self._top.get(channel, []):
                view = self._view(channel, message, metadata=True)
                view["replies"] = [copy.deepcopy(r) for r in self._thread_of(channel, message)]
                result.append(view)
            return result

    def thread(self, channel: str, ts: str) -> list[Message]:
        """Replies in the thread under `ts`, oldest first (not the parent)."""
        with self._cond:
            return copy.deepcopy(self._replies.get((self._dm(channel), ts), []))

    def wait_for(
        self, predicate: Callable[[FakeSlack], bool], timeout: float = 10.0, what: str = ""
    ) -> None:
        """Block until `predicate(self)` holds, re-checking after every recorded call.

        Raises AssertionError listing the recorded calls when `timeout` seconds pass.
        """
        with self._cond:
            if self._cond.wait_for(lambda: predicate(self), timeout=timeout):
                return
            calls = list(self._calls)
        lines = [f"  {i}. {call.summary()}" for i, call in enumerate(calls, 1)]
        if len(lines) > _SUMMARY_LINES:
            skipped = len(lines) - _SUMMARY_LINES
            lines = [f"  ... {skipped} earlier calls", *lines[-_SUMMARY_LINES:]]
        listing = "\n".join(lines) if lines else "  (no calls)"
        raise AssertionError(
            f"timed out after {timeout:g}s waiting for {what or 'a condition'}; "
            f"{len(calls)} calls recorded:\n{listing}"
        )

    # ------------------------------------------------------- request processing

    def _handle_api(self, method: str, args: dict[str, Any], bearer: str | None) -> _Answer:
        """Answer one Web API request and record it."""
        failure = None
        with self._cond:
            form_token = args.pop("token", None)
            token = bearer if bearer is not None else form_token
            expected = self.app_token if method in APP_LEVEL_METHODS else self.token
            if not token:
                result: dict[str, Any] = {"ok": False, "error": "not_authed"}
            elif token in (self.token, self.app_token) and token != expected:
                result = {"ok": False, "error": "not_allowed_token_type"}
            elif token != expected:
                result = {"ok": False, "error": "invalid_auth"}
            elif (failure := self._take_failure(method)) is not None:
                result = {"ok": False, "error": failure.error}
            elif method not in self._methods:
                result = {"ok": False, "error": "unknown_method"}
            else:
                try:
                    result = self._methods[method](args)
                except _ApiError as exc:
                    result = {"ok": False, "error": exc.error, **exc.extra}
            self._record(method, args, result)
        return _Answer.json(result) if failure is None else _failure_answer(failure, result)

    def _handle_response_url(self, rid: str, raw: bytes) -> _Answer:
        """Answer a POST to a response_url and record it."""
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        with self._cond:
            args: dict[str, Any] = dict(body) if isinstance(body, dict) else {}
            args["_url"] = f"{self.base_url}/response/{rid}"
            failure = self._take_failure("response_url")
            uses = self._response_uses.get(rid)
            status, error = 200, ""
            if failure is not None:
                status, error = failure.http_status, failure.error
            elif uses is None:
                status, error = 404, "expired_url"
            elif uses >= self.response_url_max_uses:
                status, error = 404, "used_url"
            elif not isinstance(body, dict):
                status, error = 400, "invalid_payload"
            else:
                self._response_uses[rid] = uses + 1
                if body.get("blocks") is not None:
                    self._check_blocks("response_url", body["blocks"])
                    if body["blocks"] and not body.get("text"):
                        self._block_error("response_url", "blocks without a text fallback")
            result = {"ok": True} if status == 200 else {"ok": False, "error": error}
            self._record("response_url", args, result)
        return _Answer.text("ok") if status == 200 else _Answer.text(error, status)

    def _take_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.pop(0)
        return failure

    def _record(self, method: str, args: dict[str, Any], result: dict[str, Any]) -> None:
        ok = bool(result.get("ok"))
        error = None if ok else str(result.get("error"))
        self._calls.append(SlackCall(method, args, ok, error, result))
        self._cond.notify_all()

    # ---------------------------------------------------------------- methods

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake.slack.test/",
            "team": "Fake Team",
            "user": "korebot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args, "post")
        text, blocks = self._content("chat.postMessage", args)
        metadata = _metadata(args)
        thread_ts = str(args.get("thread_ts") or "") or None
        message = self._new_message(
            text=text, blocks=blocks, user=self.bot_user_id, thread_ts=thread_ts
        )
        if metadata is not None:
            message["metadata"] = metadata
        if args.get("attachments"):
            message["attachments"] = copy.deepcopy(args["attachments"])
        self._store(channel, message, broadcast=_flag(args.get("reply_broadcast")))
        return {
            "ok": True,
            "channel": channel,
            "ts": message["ts"],
            "message": self._view(channel, message, metadata=True),
        }

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args, "edit")
        message = self._find(channel, args)
        if message.get("user") != self.bot_user_id:
            raise _ApiError("cant_update_message")
        text = str(args["text"] or "") if "text" in args else str(message["text"])
        blocks = message["blocks"]
        if "blocks" in args:
            blocks = self._valid_blocks("chat.update", args["blocks"])
        if not text and not blocks and not args.get("attachments"):
            raise _ApiError("no_text")
        if blocks and not text:
            self._block_error("chat.update", "blocks without a text fallback")
        metadata = _metadata(args)
        message["text"] = text
        message["blocks"] = copy.deepcopy(blocks)
        if metadata is not None:
            message["metadata"] = metadata
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "ok": True,
            "channel": channel,
            "ts": message["ts"],
            "text": text,
            "message": self._view(channel, message, metadata=True),
        }

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        self._resolve(args, "post")
        if not args.get("user"):
            raise _ApiError("user_not_found")
        self._content("chat.postEphemeral", args)
        return {"ok": True, "message_ts": self._next_ts()}

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args, "edit")
        message = self._find(channel, args)
        if message.get("user") != self.bot_user_id:
            raise _ApiError("cant_delete_message")
        ts = message["ts"]
        del self._index[(channel, ts)]
        for bucket in (self._top.get(channel, []), *self._replies.values()):
            if any(m is message for m in bucket):
                bucket[:] = [m for m in bucket if m is not message]
        return {"ok": True, "channel": channel, "ts": ts}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args, "read")
        message = self._find(channel, {"ts": args.get("message_ts")})
        link = f"https://fake.slack.test/archives/{channel}/p{message['ts'].replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = args.get("users")
        if isinstance(users, str):
            users = [u.strip() for u in users.split(",") if u.strip()]
        if not users:
            if args.get("channel"):
                return {"ok": True, "channel": {"id": str(args["channel"])}}
            raise _ApiError("users_list_not_supplied")
        ids = [str(u) for u in users]
        channel_id = "D" + ids[0] if len(ids) == 1 else "G" + "".join(sorted(ids))
        return {"ok": True, "channel": {"id": channel_id}}

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args, "read")
        message = self._index.get((channel, str(args.get("ts") or "")))
        if message is None:
            raise _ApiError("thread_not_found")
        with_metadata = _flag(args.get("include_all_metadata"))
        if message.get("thread_ts", message["ts"]) != message["ts"]:
            thread = [message]
        else:
            thread = [message, *self._thread_of(channel, message)]
        limit = _limit(args.get("limit"))
        views = [self._view(channel, m, metadata=with_metadata) for m in thread[:limit]]
        return {"ok": True, "messages": views, "has_more": len(thread) > limit}

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args, "read")
        with_metadata = _flag(args.get("include_all_metadata"))
        newest_first = list(reversed(self._top.get(channel, [])))
        limit = _limit(args.get("limit"))
        views = [self._view(channel, m, metadata=with_metadata) for m in newest_first[:limit]]
        return {"ok": True, "messages": views, "has_more": len(newest_first) > limit}

    # ----------------------------------------------------------------- helpers

    def _resolve(self, args: dict[str, Any], mode: Literal["post", "edit", "read"]) -> str:
        """The channel a call addresses, checked against the configured channel state."""
        channel = str(args.get("channel") or "")
        if not channel:
            raise _ApiError("channel_not_found")
        if channel[0] in "UW":
            return "D" + channel
        state = self._channels.get(channel, _Channel())
        if not state.exists:
            raise _ApiError("channel_not_found")
        if mode != "read" and state.archived:
            raise _ApiError("is_archived")
        if mode == "post" and not state.member:
            raise _ApiError("not_in_channel")
        return channel

    @staticmethod
    def _dm(channel: str) -> str:
        return "D" + channel if channel[:1] in ("U", "W") else channel

    def _find(self, channel: str, args: dict[str, Any]) -> Message:
        message = self._index.get((channel, str(args.get("ts") or "")))
        if message is None:
            raise _ApiError("message_not_found")
        return message

    def _content(self, method: str, args: dict[str, Any]) -> tuple[str, list[Any]]:
        """Text and validated blocks of a new message; raises no_text / invalid_blocks."""
        text = str(args.get("text") or "")
        blocks = self._valid_blocks(method, args.get("blocks"))
        if not text and not blocks and not args.get("attachments"):
            raise _ApiError("no_text")
        if blocks and not text:
            self._block_error(method, "blocks without a text fallback")
        return text, blocks

    def _valid_blocks(self, method: str, blocks: Any) -> list[Any]:
        if blocks is None or blocks == "":
            return []
        problems = self._check_blocks(method, blocks)
        if problems:
            raise _ApiError("invalid_blocks", errors=problems)
        return list(blocks)

    def _check_blocks(self, method: str, blocks: Any) -> list[str]:
        """Validate a blocks payload with slack_sdk; problems also go to `block_errors`."""
        problems = _block_problems(blocks)
        for problem in problems:
            self._block_error(method, problem)
        return problems

    def _block_error(self, method: str, problem: str) -> None:
        self.block_errors.append(f"{method}: {problem}")

    def _next_ts(self) -> str:
        micros = _FIRST_TS_MICROS + 100 * next(self._ts_counter)
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _new_message(
        self, *, text: str, blocks: list[Any], user: str, thread_ts: str | None
    ) -> Message:
        message: Message = {
            "type": "message",
            "ts": self._next_ts(),
            "user": user,
            "text": text,
            "blocks": copy.deepcopy(blocks),
            "team": self.team_id,
        }
        if user == self.bot_user_id:
            message["bot_id"] = self.bot_id
        if thread_ts:
            message["thread_ts"] = thread_ts
        return message

    def _store(self, channel: str, message: Message, *, broadcast: bool) -> None:
        thread_ts = message.get("thread_ts")
        if thread_ts:
            parent = self._index.get((channel, thread_ts))
            if parent is not None and parent.get("thread_ts"):
                thread_ts = message["thread_ts"] = parent["thread_ts"]
            self._replies.setdefault((channel, thread_ts), []).append(message)
            if broadcast:
                message["subtype"] = "thread_broadcast"
                self._top.setdefault(channel, []).append(message)
        else:
            self._top.setdefault(channel, []).append(message)
        self._index[(channel, message["ts"])] = message

    def _thread_of(self, channel: str, message: Message) -> list[Message]:
        if message.get("thread_ts", message["ts"]) != message["ts"]:
            return []
        return self._replies.get((channel, message["ts"]), [])

    def _view(self, channel: str, message: Message, *, metadata: bool) -> Message:
        """A copy of a stored message as the API shows it."""
        view = copy.deepcopy(message)
        if not metadata:
            view.pop("metadata", None)
        replies = self._thread_of(channel, message)
        if replies:
            view["thread_ts"] = message["ts"]
            view["reply_count"] = len(replies)
            view["latest_reply"] = replies[-1]["ts"]
        return view


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        fake = cast(_Server, self.server).fake
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            if url.path.startswith("/api/"):
                method = url.path.removeprefix("/api/")
                args = _parse_args(url.query, raw, self.headers.get("Content-Type", ""))
                if args is None:
                    answer = _Answer.json({"ok": False, "error": "invalid_form_data"})
                else:
                    answer = fake._handle_api(
                        method, args, _bearer(self.headers.get("Authorization"))
                    )
            elif url.path.startswith("/response/") and self.command == "POST":
                answer = fake._handle_response_url(url.path.removeprefix("/response/"), raw)
            else:
                answer = _Answer.text("not found", 404)
        except Exception as exc:
            self._send(_Answer.text(f"fake_slack internal error: {exc!r}", 500))
            raise
        self._send(answer)

    def _send(self, answer: _Answer) -> None:
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.body)
        except OSError:
            pass  # the client went away


def _failure_answer(failure: _Failure, result: dict[str, Any]) -> _Answer:
    headers = {}
    if failure.retry_after is not None:
        headers["Retry-After"] = str(failure.retry_after)
    if failure.http_status >= 500:
        return _Answer.text(failure.error, failure.http_status, **headers)
    return _Answer.json(result, failure.http_status, **headers)


def _bearer(value: str | None) -> str | None:
    value = value or ""
    return value[7:].strip() if value[:7].lower() == "bearer " else None


def _parse_args(query: str, raw: bytes, content_type: str) -> dict[str, Any] | None:
    """Query and body arguments, JSON-valued fields decoded; None if unreadable."""
    try:
        args = _form(query)
        if content_type.split(";")[0].strip().lower() == "application/json":
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                return None
            args.update(body)
        elif raw:
            args.update(_form(raw.decode("utf-8")))
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None
    for key in JSON_FIELDS & args.keys():
        if isinstance(args[key], str) and args[key]:
            with contextlib.suppress(ValueError):  # else left as a string for validation
                args[key] = json.loads(args[key])
    return args


def _form(text: str) -> dict[str, Any]:
    parsed = parse_qs(text, keep_blank_values=True)
    return {key: values[0] if len(values) == 1 else values for key, values in parsed.items()}


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


def _limit(value: Any) -> int:
    try:
        limit = int(value)
    except (TypeError, ValueError):
        return 100
    return limit if limit > 0 else 100


def _metadata(args: dict[str, Any]) -> dict[str, Any] | None:
    metadata = args.get("metadata")
    if metadata is None or metadata == "":
        return None
    if (
        not isinstance(metadata, dict)
        or not isinstance(metadata.get("event_type"), str)
        or not isinstance(metadata.get("event_payload", {}), dict)
    ):
        raise _ApiError("invalid_metadata_format")
    return copy.deepcopy(metadata)


def _block_problems(blocks: Any) -> list[str]:
    """What slack_sdk finds wrong with a blocks payload (empty if valid)."""
    if not isinstance(blocks, list):
        return [f"blocks must be a JSON array, got {type(blocks).__name__}"]
    problems = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"{len(blocks)} blocks (at most {MAX_BLOCKS})")
    for i, raw in enumerate(blocks):
        if not isinstance(raw, dict):
            problems.append(f"blocks[{i}]: not an object")
            continue
        where = f"blocks[{i}] ({raw.get('type')})"
        try:
            block = Block.parse(raw)
            if block is None:
                problems.append(f"{where}: unknown block type")
                continue
            block.validate_json()
            block.to_dict()  # validates nested elements and text objects too
        except Exception as exc:  # SlackObjectFormationError, or TypeError on odd input
            problems.append(f"{where}: {exc}")
    return problems


def _short(value: Any, width: int) -> str:
    if isinstance(value, list):
        return f"[{len(value)} items]"
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


class SlackSender:
    """Sends slash commands and block actions to the app, signed as Slack signs them."""

    def __init__(
        self,
        app_url: str,
        signing_secret: str,
        *,
        team_id: str = "T0FAKE",
        api_app_id: str = "A0KOREBOT",
        timeout: float = 10.0,
    ) -> None:
        self.app_url = app_url
        self.team_id = team_id
        self.api_app_id = api_app_id
        self._verifier = SignatureVerifier(signing_secret)
        self._client = httpx.Client(timeout=timeout)

    def command(
        self,
        text: str,
        *,
        user_id: str = "U0ASKER",
        channel_id: str = "C0CHANNEL",
        response_url: str = "",
        command: str = "/faq-status",
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> httpx.Response:
        """POST a slash command; `timestamp`/`signature` override the signing."""
        fields = slash_command_fields(
            text,
            user_id=user_id,
            channel_id=channel_id,
            response_url=response_url,
            command=command,
            team_id=self.team_id,
            api_app_id=self.api_app_id,
        )
        return self._post(urlencode(fields), timestamp, signature)

    def action(
        self,
        action_id: str,
        value: str,
        *,
        user_id: str = "U0ASKER",
        channel_id: str = "C0CHANNEL",
        message_ts: str = "",
        response_url: str = "",
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> httpx.Response:
        """POST a block_actions payload for a button click, signed like `command`."""
        payload = block_actions_payload(
            action_id,
            value,
            user_id=user_id,
            channel_id=channel_id,
            message_ts=message_ts,
            response_url=response_url,
            team_id=self.team_id,
            api_app_id=self.api_app_id,
        )
        return self._post(urlencode({"payload": json.dumps(payload)}), timestamp, signature)

    def _post(self, body: str, timestamp: int | None, signature: str | None) -> httpx.Response:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        if signature is None:
            signature = self._verifier.generate_signature(timestamp=ts, body=body)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature or "",
        }
        return self._client.post(self.app_url, content=body.encode(), headers=headers)

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def __enter__(self) -> SlackSender:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
