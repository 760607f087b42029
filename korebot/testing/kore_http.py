"""The fake Kore.ai's HTTP side: a server on 127.0.0.1 that hands each request (as an
`Incoming`) to its `FakeKore`, waits the answer's delay, records a `KoreRequest` and sends the
`Answer` (or drops the connection). `error` builds Kore.ai's JSON error answer.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from korebot.testing.fake_kore import FakeKore

__all__ = ["HOST", "Answer", "Incoming", "KoreRequest", "KoreServer", "error"]

HOST = "127.0.0.1"
_MAX_BODY = 1 << 20


@dataclass(frozen=True)
class KoreRequest:
    """What the fake saw: one request and the HTTP status it answered (0 for a Drop)."""

    method: str
    path: str
    query: dict[str, str]
    claims: dict[str, Any] | None
    http_status: int
    at: float


@dataclass(frozen=True)
class Answer:
    """What the handler must send (or not send, for a drop)."""

    http_status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    drop: bool = False


@dataclass(frozen=True)
class Incoming:
    """The raw parts of a request the checks look at."""

    method: str
    target: str
    auth: str | None
    has_authorization: bool
    body: bytes
    bot_language: str | None = None


def error(http_status: int, msg: str, code: int | None = None) -> Answer:
    body = {"errors": [{"msg": msg, "code": http_status if code is None else code}]}
    return Answer(http_status, json.dumps(body).encode())


class KoreServer(ThreadingHTTPServer):
    """The HTTP server; knows its FakeKore and keeps quiet about clients hanging up."""

    daemon_threads = True
    request_queue_size = 128  # the default 5 makes bursts of clients wait for SYN retries
    fake: FakeKore

    def __init__(self, fake: FakeKore, port: int) -> None:
        self.fake = fake
        super().__init__((HOST, port), _Handler)

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
        fake = cast(KoreServer, self.server).fake
        self.close_connection = True
        incoming = Incoming(
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
