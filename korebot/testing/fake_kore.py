"""A fake Kore.ai server speaking real HTTP on 127.0.0.1, strict the way Kore.ai is.

It serves the FAQ and the ML training APIs (status ``GET`` and train ``POST`` of each),
checks every request as Kore.ai would (path, ``auth`` JWT, the JWT app's scopes, bot, query,
body or ``bot-language`` header, per-bot rate limits shared by both kinds) and answers from
per-bot scripts. Used by the tests, the benchmarks and ``korebot demo``::

    with FakeKore(bots=[BOT]) as kore:
        kore.script(BOT, "en", Status("in-progress"), Status("success"))
        kore.script(BOT, "en", MlStatus("Inprogress"), MlStatus("Finished"), kind="ml")
        ...  # point a client at kore.url with kore.client_id / kore.client_secret
        assert kore.count(BOT) == 2

Token expiry (``exp``/``iat``) is checked against real time, because clients mint tokens with
real time; the injected ``clock`` drives rate limits, ``KoreRequest.at`` and ``modifiedOn``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qsl

import jwt

from korebot.testing import fake_ml
from korebot.testing.fake_ml import MlStatus

__all__ = [
    "Delay",
    "Drop",
    "Fail",
    "FakeKore",
    "KoreRequest",
    "MlStatus",
    "Status",
    "Step",
]

_HOST = "127.0.0.1"
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_BOT_ID = re.compile(rf"st-{_UUID}")
_STATUS_PATH = re.compile(rf"/api/public/bot/(st-{_UUID})/(faqs|ml)/train/status")
_TRAIN_PATH = re.compile(rf"/api/public/bot/(st-{_UUID})/(faqs|ml)/train")
#: The kinds of training (``faq``, ``ml``) by their path segment, and the scope each needs.
_TRAININGS = {"faqs": "faq", "ml": "ml"}
SCOPES = {"faq": "Train FAQ", "ml": "Train ML"}
_ANY_BOT_PATH = re.compile(r"/api/public/bot/([^/?]+)(?:/|$)")
_FORBIDDEN_IN_PATH = ("..", "%", "@", "//")
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:[_-][a-z]{2,4})?", re.IGNORECASE)
_STATES = ("configured", "published")
_KINDS = ("status", "train", "any")
_MAX_BODY = 1 << 20
_POLL_INTERVAL = 0.01  # how soon stop() takes effect (serve_forever polls for shutdown)
_MINUTE, _HOUR = 60.0, 3600.0
_DEFAULT_MESSAGES = {"success": "Success", "in-progress": "in-progress", "failure": "failure"}
_RATE_LIMIT_MSG = "Rate limit for this API has been reached. Please try again later"


@dataclass(frozen=True)
class Status:
    """One scripted answer of the status API (200 with Kore's status JSON)."""

    status: str = "success"
    message: str | None = None
    modified_on: datetime | None = None
    training_id: str | None = None
    modified_by: str = "u-00000000-0000-0000-0000-000000000001"


@dataclass(frozen=True)
class Fail:
    """A scripted error answer; the default body is Kore-style JSON naming the HTTP reason."""

    http_status: int
    body: str | None = None
    retry_after: float | None = None
    content_type: str = "application/json"

    def __post_init__(self) -> None:
        if not 100 <= self.http_status <= 599:
            raise ValueError(f"http_status must be 100-599, not {self.http_status}")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("retry_after must not be negative")


@dataclass(frozen=True)
class Delay:
    """Wait this many real seconds, then give the next step's answer (consumed with it)."""

    seconds: float

    def __post_init__(self) -> None:
        if self.seconds < 0:
            raise ValueError("Delay seconds must not be negative")


@dataclass(frozen=True)
class Drop:
    """Close the connection without answering (a network failure for the client)."""


Step = Status | MlStatus | Fail | Delay | Drop
_Answerable = Status | MlStatus | Fail | Drop


@dataclass(frozen=True)
class KoreRequest:
    """What the fake saw: one request and the HTTP status it answered (0 for a Drop)."""

    method: str
    path: str
    query: dict[str, str]
    claims: dict[str, Any] | None
    http_status: int
    at: float


@dataclass
class _Script:
    """Units of (delay seconds, answer) for one (bot, language, state); the last one sticks."""

    units: list[tuple[float, _Answerable]]
    training_id: str
    taken: int = 0
    #: The ML model's trainVersion while this script plays (one more after each train POST).
    version: int = 1

    def take(self) -> tuple[float, _Answerable]:
        unit = self.units[min(self.taken, len(self.units) - 1)]
        self.taken += 1
        return unit


@dataclass(frozen=True)
class _Answer:
    """What the handler must send (or not send, for a drop)."""

    http_status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    drop: bool = False


@dataclass(frozen=True)
class _Verdict:
    """The fake's decision for one request, plus what gets recorded about it."""

    answer: _Answer
    path: str
    query: dict[str, str]
    claims: dict[str, Any] | None
    at: float


@dataclass(frozen=True)
class _Incoming:
    """The raw parts of a request the checks look at."""

    method: str
    target: str
    auth: str | None
    has_authorization: bool
    body: bytes
    bot_language: str | None = None


class _Refused(Exception):
    """A check failed; carries the error answer."""

    def __init__(self, answer: _Answer) -> None:
        super().__init__(answer.http_status)
        self.answer = answer


def _error(http_status: int, msg: str, code: int | None = None) -> _Answer:
    body = {"errors": [{"msg": msg, "code": http_status if code is None else code}]}
    return _Answer(http_status, json.dumps(body).encode())


def _reason(http_status: int) -> str:
    try:
        return HTTPStatus(http_status).phrase
    except ValueError:
        return "Error"


def _seconds_header(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


def _iso_ms(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _units(steps: Sequence[Step], kind: str = "faq") -> list[tuple[float, _Answerable]]:
    """Group each run of Delays with the step that follows it."""
    if not steps:
        raise ValueError("give at least one step")
    if kind not in SCOPES:
        raise ValueError(f"kind must be one of {tuple(SCOPES)}, not {kind!r}")
    units: list[tuple[float, _Answerable]] = []
    delay = 0.0
    for step in steps:
        wrong = MlStatus if kind == "faq" else Status
        if isinstance(step, wrong):
            raise TypeError(f"a {kind} script takes no {type(step).__name__}: {step!r}")
        if isinstance(step, Delay):
            delay += step.seconds
        elif isinstance(step, Status | MlStatus | Fail | Drop):
            units.append((delay, step))
            delay = 0.0
        else:
            raise TypeError(f"not a step: {step!r}")
    if isinstance(steps[-1], Delay):
        raise ValueError("a script must not end with a Delay")
    return units


def _check_bot_id(bot_id: str) -> None:
    if not _BOT_ID.fullmatch(bot_id):
        raise ValueError(f"not a Kore.ai bot id (st- and a lower-case UUID): {bot_id!r}")


def _check_state(state: str) -> None:
    if state not in _STATES:
        raise ValueError(f"state must be one of {_STATES}, not {state!r}")


def _route(method: str, path: str) -> tuple[str, str, str | None]:
    """(request kind: "status", "train" or "other"; training kind; bot ID)."""
    if method == "GET" and (match := _STATUS_PATH.fullmatch(path)):
        return "status", _TRAININGS[match.group(2)], match.group(1)
    if method == "POST" and (match := _TRAIN_PATH.fullmatch(path)):
        return "train", _TRAININGS[match.group(2)], match.group(1)
    loose = _ANY_BOT_PATH.match(path)
    return "other", "", loose.group(1) if loose else None


class FakeKore:
    """A scripted, checking Kore.ai FAQ and ML training API on 127.0.0.1 (thread-safe).

    ``client_id`` and ``client_secret`` are public: clients under test mint tokens with them.
    ``scopes``: the kinds of training ("faq", "ml") the JWT app is granted; the others'
    calls get Kore.ai's 401 "Permission denied. Scope is incorrect!".
    """

    def __init__(
        self,
        client_id: str = "cs-fake-client",
        client_secret: str = "fake-secret-do-not-use-in-production",  # noqa: S107 (a fake)
        *,
        bots: Iterable[str] = (),
        enforce_jti: bool = True,
        rate_limit: tuple[int, int] | None = (60, 1800),
        retry_after_on_limit: bool = True,
        latency: float = 0.0,
        clock: Callable[[], float] = time.time,
        port: int = 0,
        scopes: Iterable[str] = tuple(SCOPES),
    ) -> None:
        if rate_limit is not None and min(rate_limit) < 1:
            raise ValueError("rate limits must be positive")
        if latency < 0:
            raise ValueError("latency must not be negative")
        self.client_id = client_id
        self.client_secret = client_secret
        self._enforce_jti = enforce_jti
        self._rate_limit = rate_limit
        self._retry_after_on_limit = retry_after_on_limit
        self._latency = latency
        self._clock = clock
        self._port = port
        self.scopes = set(scopes)
        self._cond = threading.Condition()
        self._bots: set[str] = set()
        # Keyed by (kind, bot, language, state) and (kind, bot, language).
        self._scripts: dict[tuple[str, str, str, str], _Script] = {}
        self._trains: dict[tuple[str, str, str], tuple[Step, ...]] = {}
        self._seen_jti: set[str] = set()
        self._calls: dict[str, list[float]] = {}
        self._requests: list[KoreRequest] = []
        self._generation = itertools.count(1)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        for bot_id in bots:
            self.add_bot(bot_id)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT``; only valid after :meth:`start`."""
        if self._server is None:
            raise RuntimeError("FakeKore is not started")
        return f"http://{_HOST}:{self._server.server_address[1]}"

    def start(self) -> FakeKore:
        """Bind 127.0.0.1 and serve from a daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError("FakeKore is already started")
        server = _Server((_HOST, self._port), _Handler)
        server.fake = self
        thread = threading.Thread(
            target=server.serve_forever, args=(_POLL_INTERVAL,), name="fake-kore", daemon=True
        )
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> FakeKore:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- scripting -------------------------------------------------------------------------

    def add_bot(self, bot_id: str) -> None:
        """Make a bot known (unknown bots get 404)."""
        _check_bot_id(bot_id)
        with self._cond:
            self._bots.add(bot_id)

    def script(
        self,
        bot_id: str,
        language: str,
        *steps: Step,
        state: str = "configured",
        kind: str = "faq",
    ) -> None:
        """Replace the status script of the kind's (bot, language, state) training; the last
        step repeats forever. FAQ scripts take Status steps, ML ones MlStatus steps."""
        _check_bot_id(bot_id)
        _check_state(state)
        units = _units(steps, kind)
        with self._cond:
            self._bots.add(bot_id)
            key = (kind, bot_id, language.lower(), state)
            old = self._scripts.get(key)
            version = old.version if old else 1
            self._scripts[key] = _Script(units, self._new_training_id(key), version=version)

    def on_train(self, bot_id: str, language: str, *steps: Step, kind: str = "faq") -> None:
        """Script what a train POST of the kind does.

        If the first non-Delay step is a Fail or Drop, every POST answers with it (after the
        leading Delays). Otherwise a POST answers as Kore.ai does (FAQ: in-progress; ML:
        "Training Queued.") and replaces the "configured" status script of (bot, language)
        with ``steps`` (ML: with the model's trainVersion one higher).
        """
        _check_bot_id(bot_id)
        _units(steps, kind)
        with self._cond:
            self._bots.add(bot_id)
            self._trains[(kind, bot_id, language.lower())] = steps

    # -- inspection ------------------------------------------------------------------------

    @property
    def requests(self) -> list[KoreRequest]:
        """A copy of every request answered so far, in the order answered."""
        with self._cond:
            return list(self._requests)

    def count(
        self, bot_id: str | None = None, *, kind: str = "status", training: str | None = None
    ) -> int:
        """Count recorded requests (refused ones too) of a kind: "status", "train" or "any";
        of one kind of training ("faq", "ml") only, if ``training`` is given."""
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, not {kind!r}")
        total = 0
        for request in self.requests:
            request_kind, request_training, request_bot = _route(request.method, request.path)
            if kind != "any" and request_kind != kind:
                continue
            if training is not None and request_training != training:
                continue
            if bot_id is None or request_bot == bot_id:
                total += 1
        return total

    def wait_for_requests(self, n: int, timeout: float = 10.0) -> None:
        """Block until at least ``n`` requests were answered, else raise AssertionError."""
        with self._cond:
            if self._cond.wait_for(lambda: len(self._requests) >= n, timeout):
                return
            seen = [f"{r.method} {r.path} -> {r.http_status}" for r in self._requests]
        raise AssertionError(
            f"expected at least {n} requests within {timeout}s, saw {len(seen)}: {seen}"
        )

    # -- internals (called from handler threads) ----------------------------------------------

    def _new_training_id(self, key: tuple[str, ...]) -> str:
        seed = "|".join((*key, str(next(self._generation))))
        return hashlib.sha256(seed.encode()).hexdigest()[:24]

    def _record(self, request: KoreRequest) -> None:
        with self._cond:
            self._requests.append(request)
            self._cond.notify_all()

    def _decide(self, incoming: _Incoming) -> _Verdict:
        """Run Kore's checks in order and pick the answer; all state under the one lock."""
        path, _, raw_query = incoming.target.partition("?")
        pairs = parse_qsl(raw_query, keep_blank_values=True)
        with self._cond:
            now = self._clock()
            claims: dict[str, Any] | None = None
            try:
                kind, training, bot_id = self._check_path(incoming.method, path)
                claims = self._check_auth(incoming)
                if training not in self.scopes:
                    # What Kore.ai answers a JWT app without the API's scope.
                    raise _Refused(_error(401, "Permission denied. Scope is incorrect!", 4002))
                if bot_id not in self._bots:
                    raise _Refused(_error(404, "Bot not found"))
                if kind == "status":
                    # ML's language is optional (the bot's default, here English).
                    language, state = self._check_query(pairs, required=training == "faq")
                elif training == "faq":
                    language, state = self._check_body(incoming.body), "configured"
                else:
                    language, state = self._check_ml_train(incoming), "configured"
                # One budget per bot, whatever the kind: Kore.ai counts training calls by bot.
                self._check_rate(bot_id, now)
                if kind == "status":
                    answer = self._status_answer((training, bot_id, language, state), now)
                else:
                    answer = self._train_answer(training, bot_id, language, now)
            except _Refused as refused:
                answer = refused.answer
        return _Verdict(answer, path, dict(pairs), claims, now)

    def _check_path(self, method: str, path: str) -> tuple[str, str, str]:
        raw_ok = path.startswith("/") and not any(bad in path for bad in _FORBIDDEN_IN_PATH)
        raw_ok = raw_ok and not any(char.isspace() for char in path)
        kind, training, bot_id = _route(method, path)
        if not raw_ok or kind == "other" or bot_id is None:
            raise _Refused(_error(404, "Not Found"))
        return kind, training, bot_id

    def _check_auth(self, incoming: _Incoming) -> dict[str, Any]:
        def refuse(why: str) -> _Refused:
            return _Refused(_error(401, f"Invalid SDK credentials: {why}", 4002))

        if incoming.auth is None:
            if incoming.has_authorization:
                raise refuse("no auth header (Authorization is not accepted)")
            raise refuse("no auth header")
        try:
            claims = jwt.decode(
                incoming.auth,
                self.client_secret,
                algorithms=["HS256"],
                options={"require": ["exp", "iat"]},
            )
        except jwt.InvalidTokenError as exc:
            raise refuse(f"bad token ({exc})") from None
        if claims.get("appId") != self.client_id:
            raise refuse("appId mismatch")
        if self._enforce_jti:
            jti = claims.get("jti")
            if not isinstance(jti, str) or not jti:
                raise refuse("jti missing")
            if jti in self._seen_jti:
                raise refuse("jti reused")
            self._seen_jti.add(jti)
        return claims

    @staticmethod
    def _check_language(value: object) -> str:
        if not isinstance(value, str) or not value:
            raise _Refused(_error(400, "language is required"))
        if not _LANGUAGE.fullmatch(value):
            raise _Refused(_error(400, f"language is invalid: {value!r}"))
        return value.lower()

    def _check_query(
        self, pairs: list[tuple[str, str]], *, required: bool = True
    ) -> tuple[str, str]:
        keys = [key for key, _ in pairs]
        for key in keys:
            if key not in ("language", "state"):
                raise _Refused(_error(400, f"unexpected query parameter: {key!r}"))
            if keys.count(key) > 1:
                raise _Refused(_error(400, f"repeated query parameter: {key!r}"))
        query = dict(pairs)
        given = query.get("language")
        language = self._check_language(given if required or given is not None else "en")
        state = query.get("state", "configured")
        if state not in _STATES:
            raise _Refused(_error(400, f"state must be configured or published, not {state!r}"))
        return language, state

    def _check_body(self, body: bytes) -> str:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise _Refused(_error(400, "body must be a JSON object")) from None
        if not isinstance(document, dict):
            raise _Refused(_error(400, "body must be a JSON object"))
        return self._check_language(document.get("language"))

    def _check_ml_train(self, incoming: _Incoming) -> str:
        """``POST …/ml/train``: no body; the language in ``bot-language`` (English if absent)."""
        if incoming.body.strip():
            raise _Refused(_error(400, "the ML train request takes no body"))
        given = incoming.bot_language
        return self._check_language(given if given is not None else "en")

    def _check_rate(self, bot_id: str, now: float) -> None:
        if self._rate_limit is None:
            return
        calls = [t for t in self._calls.get(bot_id, []) if t > now - _HOUR]
        self._calls[bot_id] = calls
        waits: list[float] = []
        for window, limit in zip((_MINUTE, _HOUR), self._rate_limit, strict=True):
            inside = [t for t in calls if t > now - window]
            if len(inside) >= limit:
                waits.append(inside[len(inside) - limit] + window - now)
        if waits:
            answer = _error(429, _RATE_LIMIT_MSG)
            if self._retry_after_on_limit:
                retry = str(max(1, math.ceil(max(waits))))
                answer = _Answer(429, answer.body, headers=(("Retry-After", retry),))
            raise _Refused(answer)
        calls.append(now)

    def _script_for(self, key: tuple[str, str, str, str]) -> _Script:
        script = self._scripts.get(key)
        if script is None:
            first: _Answerable = Status() if key[0] == "faq" else MlStatus()
            script = _Script([(0.0, first)], self._new_training_id(key))
            self._scripts[key] = script
        return script

    def _status_answer(self, key: tuple[str, str, str, str], now: float) -> _Answer:
        script = self._script_for(key)
        delay, step = script.take()
        return self._render(step, script, now, delay)

    def _train_answer(self, training: str, bot_id: str, language: str, now: float) -> _Answer:
        steps = self._trains.get((training, bot_id, language))
        if steps is None:
            steps = (
                (Status("in-progress"), Status("success"))
                if training == "faq"
                else (MlStatus("Inprogress"), MlStatus("Finished"))
            )
        delay, first = _units(steps, training)[0]
        key = (training, bot_id, language, "configured")
        if isinstance(first, Fail | Drop):
            return self._render(first, self._script_for(key), now, delay)
        version = self._script_for(key).version + 1
        script = _Script(_units(steps, training), self._new_training_id(key), version=version)
        self._scripts[key] = script
        if isinstance(first, MlStatus):
            body = json.dumps(fake_ml.queued(script.training_id)).encode()
            return _Answer(200, body)
        answer = Status("in-progress", training_id=first.training_id)
        return self._render(answer, script, now, 0.0)

    @staticmethod
    def _render(step: _Answerable, script: _Script, now: float, delay: float) -> _Answer:
        training_id = script.training_id
        if isinstance(step, Drop):
            return _Answer(0, delay=delay, drop=True)
        if isinstance(step, Fail):
            if step.body is None:
                body = _error(step.http_status, _reason(step.http_status)).body
            else:
                body = step.body.encode()
            headers: tuple[tuple[str, str], ...] = ()
            if step.retry_after is not None:
                headers = (("Retry-After", _seconds_header(step.retry_after)),)
            return _Answer(step.http_status, body, step.content_type, headers, delay)
        if isinstance(step, MlStatus):
            body = json.dumps(fake_ml.document(step, script.version)).encode()
            return _Answer(200, body, delay=delay)
        modified = step.modified_on or datetime.fromtimestamp(now, UTC)
        message = step.message
        if message is None:
            message = _DEFAULT_MESSAGES.get(step.status, step.status)
        document = {
            "_id": step.training_id or training_id,
            "message": message,
            "status": step.status,
            "__v": 0,
            "modifiedOn": _iso_ms(modified),
            "lastModifiedBy": step.modified_by,
        }
        return _Answer(200, json.dumps(document).encode(), delay=delay)


class _Server(ThreadingHTTPServer):
    """The HTTP server; knows its FakeKore and keeps quiet about clients hanging up."""

    daemon_threads = True
    request_queue_size = 128  # the default 5 makes bursts of clients wait for SYN retries
    fake: FakeKore

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Hands each request to FakeKore._decide and sends (or drops) the answer."""

    protocol_version = "HTTP/1.1"
    server_version = "FakeKore/1.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr log."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(min(max(length, 0), _MAX_BODY)) if length > 0 else b""

    def _raw_target(self) -> str:
        # http.server collapses a leading "//" in self.path; check what the client really sent.
        words = self.requestline.split()
        return words[1] if len(words) == 3 else self.path

    def _handle(self) -> None:
        fake = cast(_Server, self.server).fake
        self.close_connection = True
        incoming = _Incoming(
            method=self.command,
            target=self._raw_target(),
            auth=self.headers.get("auth"),
            has_authorization="Authorization" in self.headers,
            body=self._read_body(),
            bot_language=self.headers.get("bot-language"),
        )
        verdict = fake._decide(incoming)
        answer = verdict.answer
        pause = fake._latency + answer.delay
        if pause > 0:
            time.sleep(pause)
        fake._record(
            KoreRequest(
                method=incoming.method,
                path=verdict.path,
                query=verdict.query,
                claims=verdict.claims,
                http_status=answer.http_status,
                at=verdict.at,
            )
        )
        if answer.drop:
            return
        self.send_response(answer.http_status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.send_header("Connection", "close")
        for name, value in answer.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)
