"""A local stand-in for Slack: a recording Web API server and a sender of signed requests.

`FakeSlack` answers the Web API methods korebot uses over real HTTP on 127.0.0.1, keeps
channels, messages and threads in memory, validates Block Kit payloads with slack_sdk and
records every call. `SlackSender` posts slash commands and button clicks to the app, signed
as Slack signs them. Used by the tests, the benchmarks and `korebot demo`. Socket Mode's
endpoint is in `fake_slack_socket.py` (it needs `websockets`, a test dependency).

This module holds `FakeSlack` itself: its lifecycle, configuration, recorded calls and the
checks every call goes through (token, scripted failures, response_url uses). The pieces:
`slack_http` (the server and routing), `slack_workspace` (channels, messages and the Web API
methods), `slack_validation` (Block Kit and argument checks), `slack_sender` (`SlackSender`).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from korebot.testing.slack_http import Answer as _Answer  # tests/chaos.py uses this name
from korebot.testing.slack_http import SlackServer
from korebot.testing.slack_sender import SlackSender
from korebot.testing.slack_validation import ApiError
from korebot.testing.slack_workspace import Message, Method, SlackWorkspace

__all__ = ["FakeSlack", "SlackCall", "SlackSender"]

#: Methods that take the app-level token (xapp-…) rather than the bot token.
APP_LEVEL_METHODS = frozenset({"apps.connections.open"})
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


@dataclass
class _Failure:
    error: str
    remaining: int
    http_status: int
    retry_after: int | None


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
        self.response_url_max_uses = response_url_max_uses
        self.block_errors: list[str] = []
        self._workspace = SlackWorkspace(
            team_id=team_id, bot_user_id=bot_user_id, block_errors=self.block_errors
        )
        self.bot_id = self._workspace.bot_id
        self._cond = threading.Condition(threading.RLock())
        self._calls: list[SlackCall] = []
        self._failures: dict[str, list[_Failure]] = {}
        self._response_uses: dict[str, int] = {}
        self._url_counter = itertools.count(1)
        self._server: SlackServer | None = None
        self._thread: threading.Thread | None = None
        self._methods: dict[str, Method] = self._workspace.methods()

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> FakeSlack:
        """Start serving on a free port of 127.0.0.1 (no-op when already running)."""
        with self._cond:
            if self._server is not None:
                return self
            server = SlackServer(self)
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
            self._workspace.set_channel(channel, member=member, exists=exists, archived=archived)

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
            return self._workspace.add_message(
                channel, text, user=user, thread_ts=thread_ts, blocks=blocks or []
            )

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
            return self._workspace.messages(channel)

    def home(self, user: str) -> dict[str, Any] | None:
        """The Home tab last published for the user (views.publish), if any."""
        with self._cond:
            return self._workspace.home(user)

    def thread(self, channel: str, ts: str) -> list[Message]:
        """Replies in the thread under `ts`, oldest first (not the parent)."""
        with self._cond:
            return self._workspace.thread(channel, ts)

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
                except ApiError as exc:
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
                    self._workspace.check_blocks("response_url", body["blocks"])
                    if body["blocks"] and not body.get("text"):
                        self._workspace.block_error(
                            "response_url", "blocks without a text fallback"
                        )
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


def _failure_answer(failure: _Failure, result: dict[str, Any]) -> _Answer:
    headers = {}
    if failure.retry_after is not None:
        headers["Retry-After"] = str(failure.retry_after)
    if failure.http_status >= 500:
        return _Answer.text(failure.error, failure.http_status, **headers)
    return _Answer.json(result, failure.http_status, **headers)


def _short(value: Any, width: int) -> str:
    if isinstance(value, list):
        return f"[{len(value)} items]"
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."
