"""Serves the app: waitress (a production WSGI server) on 0.0.0.0:$PORT, or Socket Mode.

``POST /slack/events`` takes slash commands and interactivity; ``GET /healthz``
says whether the database and the scheduler are up. SIGTERM stops taking new
requests and polls, lets in-flight work finish, and exits, within ``STOP_DEADLINE``
seconds: work still in flight then is abandoned, and redone after the restart.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterable
from types import FrameType
from typing import TYPE_CHECKING

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk.errors import SlackApiError
from waitress.server import create_server

from korebot import config as config_module
from korebot.runtime import WAITRESS_THREADS, Runtime
from korebot.watch.store.migrate import SchemaError, open_engine

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger("korebot")

EVENTS_PATH = "/slack/events"
# After SIGTERM, in-flight work gets this long; platforms allow 30 s, korebot promises 10.
STOP_DEADLINE = 8.0
SOCKET_MODE_LOG = "korebot.socket_mode"


class StartError(Exception):
    """Serving cannot start; the message says why and what to do."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def wsgi_app(runtime: Runtime, *, slack_over_http: bool = True) -> WSGIApplication:
    bolt = SlackRequestHandler(runtime.app, path=EVENTS_PATH)

    def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            healthy, report = runtime.health()
            body = json.dumps(report).encode()
            status = "200 OK" if healthy else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json")])
            return [body]
        if slack_over_http:
            return bolt(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Socket Mode: Slack events do not come over HTTP here.\n"]

    return application


def connect_socket_mode(runtime: Runtime, app_token: str, api_url: str) -> SocketModeHandler:
    """Open the Socket Mode connection (Bolt reconnects by itself after that)."""
    handler = SocketModeHandler(runtime.app, app_token, logger=logging.getLogger(SOCKET_MODE_LOG))
    try:
        handler.connect()  # type: ignore[no-untyped-call]  # untyped in slack_bolt
    except SlackApiError as error:
        handler.close()  # type: ignore[no-untyped-call]
        raise StartError(
            f"Slack refused SLACK_APP_TOKEN for Socket Mode ({error.response.get('error')}). "
            "Use the app-level token (xapp-…) from the Slack app's Basic Information > "
            "App-Level Tokens, with the connections:write scope, and turn Socket Mode on.",
            code=2,
        ) from None
    except OSError as error:  # urllib's URLError, after the client's retries
        handler.close()  # type: ignore[no-untyped-call]
        raise StartError(
            f"Cannot reach Slack at {api_url} to open a Socket Mode connection ({error}).",
            code=1,
        ) from None
    if handler.client.is_connected():
        log.info("Connected to Slack in Socket Mode")
    else:  # the WebSocket refused: the client tries again every ping interval
        log.warning("Socket Mode: Slack's WebSocket did not connect yet; retrying")
    return handler


def _abandon() -> None:
    # Safe: outcomes are recorded before they are posted, leases expire, and a restarted
    # process checks Slack before posting again. A hung poll is simply done again.
    log.warning(
        "In-flight work did not finish within %g s of the stop signal; exiting anyway "
        "(it is picked up again after the restart)",
        STOP_DEADLINE,
    )
    logging.shutdown()
    os._exit(0)


def _stop(signum: int, _frame: FrameType | None) -> None:
    # waitress leaves its loop on SystemExit and drains its worker threads.
    log.info("Received %s; finishing in-flight work", signal.Signals(signum).name)
    raise SystemExit(0)


def serve() -> int:
    """Run until SIGTERM/SIGINT. Returns the process exit code."""
    try:
        loaded = config_module.load()
        # A DATABASE_URL that is no URL gets its one line here, not a traceback from Runtime.
        open_engine(loaded.settings.database_url).dispose()
        runtime = Runtime(loaded)
    except (config_module.ConfigError, SchemaError) as error:
        print(f"korebot: {error}", file=sys.stderr)
        return 2
    settings = loaded.settings
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # One line per poll and per request would drown what matters.
    for noisy in ("apscheduler", "httpx"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    # Its DEBUG lines hold every envelope whole, response_url included; INFO tells reconnects.
    logging.getLogger(SOCKET_MODE_LOG).setLevel(max(logging.INFO, logging.getLogger().level))
    try:
        runtime.start()
    except SchemaError as error:
        print(f"korebot: {error}", file=sys.stderr)
        runtime.stop()
        return 2
    socket_mode = None
    if settings.slack_app_token:
        try:
            socket_mode = connect_socket_mode(
                runtime, settings.slack_app_token.get_secret_value(), settings.slack_api_url
            )
        except StartError as error:
            runtime.stop()
            print(f"korebot: {error}", file=sys.stderr)
            return error.code
    server = create_server(
        wsgi_app(runtime, slack_over_http=socket_mode is None),
        host="0.0.0.0",  # noqa: S104  (platforms route $PORT from outside)
        port=settings.port,
        threads=WAITRESS_THREADS,
        ident="korebot",
    )
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    # Tests and the demo read the bound port from this line (PORT=0 picks a free one).
    log.info(
        "korebot listening on http://0.0.0.0:%s (POST %s, GET /healthz)",
        server.effective_port,  # type: ignore[union-attr]  # one socket: a BaseWSGIServer
        EVENTS_PATH,
    )
    try:
        server.run()
    finally:
        deadline = threading.Timer(STOP_DEADLINE, _abandon)
        deadline.daemon = True
        deadline.start()
        server.close()
        if socket_mode is not None:
            socket_mode.close()  # type: ignore[no-untyped-call]
        runtime.stop()
        deadline.cancel()
        log.info("korebot stopped")
    return 0
