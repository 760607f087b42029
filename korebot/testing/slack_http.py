"""The fake Slack's HTTP side: a server on 127.0.0.1 that routes Web API calls (`/api/…`,
arguments parsed from query, form or JSON) and response_url POSTs (`/response/…`) to its
`FakeSlack`, and the `Answer` it sends back."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from korebot.testing.fake_slack import FakeSlack

__all__ = ["Answer", "SlackServer"]

#: Form fields whose values are JSON documents (slack_sdk sends them as JSON strings).
JSON_FIELDS = frozenset({"blocks", "attachments", "metadata"})


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, body, content type and extra headers."""

    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, data: dict[str, Any], status: int = 200, **headers: str) -> Answer:
        body = json.dumps(data).encode()
        return cls(status, body, "application/json; charset=utf-8", tuple(headers.items()))

    @classmethod
    def text(cls, text: str, status: int = 200, **headers: str) -> Answer:
        return cls(status, text.encode(), "text/plain; charset=utf-8", tuple(headers.items()))


class SlackServer(ThreadingHTTPServer):
    """The HTTP server on a free port of 127.0.0.1; knows its FakeSlack."""

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
        fake = cast(SlackServer, self.server).fake
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            if url.path.startswith("/api/"):
                method = url.path.removeprefix("/api/")
                args = _parse_args(url.query, raw, self.headers.get("Content-Type", ""))
                if args is None:
                    answer = Answer.json({"ok": False, "error": "invalid_form_data"})
                else:
                    answer = fake._handle_api(
                        method, args, _bearer(self.headers.get("Authorization"))
                    )
            elif url.path.startswith("/response/") and self.command == "POST":
                answer = fake._handle_response_url(url.path.removeprefix("/response/"), raw)
            else:
                answer = Answer.text("not found", 404)
        except Exception as exc:
            self._send(Answer.text(f"fake_slack internal error: {exc!r}", 500))
            raise
        self._send(answer)

    def _send(self, answer: Answer) -> None:
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
