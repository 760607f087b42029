"""Slack's Socket Mode endpoint, served on 127.0.0.1 beside `FakeSlack`'s Web API.

`FakeSlackSocket(slack)` makes `slack` answer `apps.connections.open` (with the app-level
token only) with a one-use ``ws://127.0.0.1:PORT/link/?ticket=…`` URL. Each connection gets
``{"type": "hello"}``; a test then sends envelopes (slash commands, button clicks) or
``{"type": "disconnect"}``, and every ack is recorded with its delay and payload and
checked against the envelopes sent. Needs `websockets` (a test dependency), so only tests
import this module.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from korebot.testing.fake_slack import FakeSlack
from korebot.testing.slack_payloads import (
    app_home_opened_event,
    block_actions_payload,
    slash_command_fields,
)

__all__ = ["Envelope", "FakeSlackSocket", "SocketAck"]

#: Slack shows the user an error when an envelope is not acked within this many seconds.
ACK_DEADLINE = 3.0
_LINK_PATH = "/link/"


@dataclass(frozen=True)
class Envelope:
    """One envelope sent to the app."""

    envelope_id: str
    type: str
    payload: dict[str, Any]
    accepts_response_payload: bool
    connection: int  # the number of the connection it went out on (1 is the first)
    sent_at: float  # time.monotonic()


@dataclass(frozen=True)
class SocketAck:
    """The app's acknowledgement of an envelope."""

    envelope_id: str
    payload: dict[str, Any] | None
    seconds: float  # after the envelope was sent
    connection: int

    @property
    def in_time(self) -> bool:
        return self.seconds < ACK_DEADLINE


class FakeSlackSocket:
    """The Socket Mode side of a `FakeSlack`; all public methods are thread-safe."""

    def __init__(self, slack: FakeSlack, *, app_id: str = "A0KOREBOT") -> None:
        self.slack = slack
        self.app_id = app_id
        #: What the app did wrong: acks of unknown envelopes, repeated acks, bad frames.
        self.problems: list[str] = []
        self._cond = threading.Condition()
        self._tickets: dict[str, bool] = {}  # ticket -> used
        self._refusals = 0
        self._connections: list[ServerConnection] = []  # by number - 1
        self._closed: set[int] = set()
        self._envelopes: dict[str, Envelope] = {}
        self._acks: list[SocketAck] = []
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> FakeSlackSocket:
        server = serve(
            self._session,
            "127.0.0.1",
            0,
            process_request=self._check_ticket,
            compression=None,  # Slack's builtin client offers no extensions anyway
        )
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="fake-slack-socket", daemon=True
        )
        self._thread.start()
        self.slack.serve_socket_mode(self._issue_url)
        return self

    def stop(self) -> None:
        """Stop answering apps.connections.open, close every connection and the port."""
        self.slack.serve_socket_mode(None)
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeSlackSocket:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def refuse_connections(self, times: int = 1) -> None:
        """Answer the next `times` WebSocket handshakes with 503, as a Slack outage would."""
        with self._cond:
            self._refusals += times

    # ------------------------------------------------------------------ sending

    def send(
        self, type: str, payload: dict[str, Any], *, accepts_response_payload: bool
    ) -> Envelope:
        """Send an envelope on the newest open connection (AssertionError if none)."""
        with self._cond:
            number = self._newest_open()
            envelope = Envelope(
                envelope_id=str(uuid.uuid4()),
                type=type,
                payload=payload,
                accepts_response_payload=accepts_response_payload,
                connection=number,
                sent_at=time.monotonic(),
            )
            self._envelopes[envelope.envelope_id] = envelope
            connection = self._connections[number - 1]
        connection.send(
            json.dumps(
                {
                    "envelope_id": envelope.envelope_id,
                    "type": type,
                    "payload": payload,
                    "accepts_response_payload": accepts_response_payload,
                }
            )
        )
        return envelope

    def command(self, text: str, **fields: str) -> Envelope:
        """A slash command; `fields` as for `slack_payloads.slash_command_fields`."""
        payload = slash_command_fields(text, api_app_id=self.app_id, **fields)
        return self.send("slash_commands", payload, accepts_response_payload=True)

    def action(self, action_id: str, value: str, **fields: str) -> Envelope:
        """A button click; `fields` as for `slack_payloads.block_actions_payload`."""
        payload = block_actions_payload(action_id, value, api_app_id=self.app_id, **fields)
        return self.send("interactive", payload, accepts_response_payload=False)

    def home_opened(self, user_id: str, **fields: Any) -> Envelope:
        """``app_home_opened`` as an ``events_api`` envelope; `fields` as for
        `slack_payloads.app_home_opened_event`."""
        payload = app_home_opened_event(user_id, api_app_id=self.app_id, **fields)
        return self.send("events_api", payload, accepts_response_payload=False)

    def disconnect(self, reason: str = "refresh_requested") -> int:
        """Ask the app to reconnect, as Slack does every few hours; returns the connection."""
        with self._cond:
            number = self._newest_open()
            connection = self._connections[number - 1]
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake"}}
        connection.send(json.dumps(message))
        return number

    def drop(self) -> int:
        """Close the newest connection from Slack's side; returns its number."""
        with self._cond:
            number = self._newest_open()
            connection = self._connections[number - 1]
        connection.close(1001, "going away")
        return number

    # ------------------------------------------------------------------ queries

    @property
    def connections(self) -> int:
        """How many connections the app has opened (closed ones included)."""
        with self._cond:
            return len(self._connections)

    def is_open(self, number: int) -> bool:
        with self._cond:
            return 0 < number <= len(self._connections) and number not in self._closed

    @property
    def acks(self) -> list[SocketAck]:
        with self._cond:
            return list(self._acks)

    def ack_of(self, envelope: Envelope) -> SocketAck | None:
        with self._cond:
            return next((a for a in self._acks if a.envelope_id == envelope.envelope_id), None)

    def wait_ack(self, envelope: Envelope, timeout: float = 10.0) -> SocketAck:
        """The ack of `envelope`, once it came."""
        self.wait_for(lambda s: s.ack_of(envelope) is not None, timeout, "the ack")
        ack = self.ack_of(envelope)
        assert ack is not None
        return ack

    def wait_for(
        self, predicate: Callable[[FakeSlackSocket], bool], timeout: float = 10.0, what: str = ""
    ) -> None:
        """Block until `predicate(self)` holds, re-checked after every connection and ack."""
        with self._cond:
            if self._cond.wait_for(lambda: predicate(self), timeout=timeout):
                return
            state = (
                f"{len(self._connections)} connections ({len(self._closed)} closed), "
                f"{len(self._envelopes)} envelopes sent, {len(self._acks)} acked, "
                f"problems: {self.problems or 'none'}"
            )
        raise AssertionError(
            f"timed out after {timeout:g}s waiting for {what or 'a condition'}; {state}"
        )

    # --------------------------------------------------------------- the server

    def _issue_url(self) -> str:
        ticket = uuid.uuid4().hex
        with self._cond:
            self._tickets[ticket] = False
        assert self._server is not None
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}{_LINK_PATH}?ticket={ticket}&app_id={self.app_id}"

    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        """Refuse the handshake without a ticket from apps.connections.open, or a used one."""
        ticket = _ticket(request.path)
        with self._cond:
            if urlsplit(request.path).path != _LINK_PATH or self._tickets.get(ticket) is not False:
                self.problems.append(f"connection with an unknown or used ticket: {request.path}")
                self._cond.notify_all()
                return connection.respond(401, "invalid ticket\n")
            self._tickets[ticket] = True
            if self._refusals > 0:
                self._refusals -= 1
                return connection.respond(503, "unavailable\n")
        return None

    def _session(self, connection: ServerConnection) -> None:
        with self._cond:
            others = len(self._connections) - len(self._closed)
        hello = {
            "type": "hello",
            "num_connections": others + 1,
            "debug_info": {"host": "fake", "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        }
        connection.send(json.dumps(hello))
        with self._cond:
            self._connections.append(connection)
            number = len(self._connections)
            self._cond.notify_all()
        try:
            for frame in connection:
                self._receive(number, frame)
        except ConnectionClosed:
            pass  # the app went away or reconnected: recorded below
        finally:
            with self._cond:
                self._closed.add(number)
                self._cond.notify_all()

    def _receive(self, number: int, frame: str | bytes) -> None:
        received = time.monotonic()
        try:
            message = json.loads(frame)
        except ValueError:
            message = None
        with self._cond:
            envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
            envelope = self._envelopes.get(str(envelope_id))
            payload = message.get("payload") if isinstance(message, dict) else None
            if envelope is None:
                self.problems.append(f"a frame that acks no envelope sent: {frame!r:.200}")
            elif any(ack.envelope_id == envelope_id for ack in self._acks):
                self.problems.append(f"a second ack of envelope {envelope_id}")
            elif payload is not None and not envelope.accepts_response_payload:
                self.problems.append(f"a payload in the ack of {envelope.type} {envelope_id}")
            elif payload is not None and not isinstance(payload, dict):
                self.problems.append(f"an ack payload that is not an object: {payload!r:.200}")
            else:
                seconds = received - envelope.sent_at
                self._acks.append(SocketAck(envelope.envelope_id, payload, seconds, number))
            self._cond.notify_all()

    def _newest_open(self) -> int:
        for number in range(len(self._connections), 0, -1):
            if number not in self._closed:
                return number
        raise AssertionError("the app has no open Socket Mode connection")


def _ticket(path: str) -> str:
    values = parse_qs(urlsplit(path).query).get("ticket") or [""]
    return values[0]
