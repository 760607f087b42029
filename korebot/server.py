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
from waitress.server import create_server

from korebot import config as config_module
from korebot.runtime import Runtime
from korebot.watch.schema import SchemaError

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger("korebot")

EVENTS_PATH = "/slack/events"
# After SIGTERM, in-flight work gets this long; platforms allow 30 s, korebot promises 10.
STOP_DEADLINE = 8.0


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
            with runtime.acks.request():
                return bolt(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Socket Mode: Slack events do not come over HTTP here.\n"]

    return application


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
        runtime = Runtime(loaded)
    except config_module.ConfigError as error:
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
    try:
        runtime.start()
    except SchemaError as error:
        print(f"korebot: {error}", file=sys.stderr)
        runtime.stop()
        return 2
    socket_mode = None
    if settings.slack_app_token:
        socket_mode = SocketModeHandler(runtime.app, settings.slack_app_token.get_secret_value())
        socket_mode.connect()  # type: ignore[no-untyped-call]  # untyped in slack_bolt
        log.info("Connected to Slack in Socket Mode")
    server = create_server(
        wsgi_app(runtime, slack_over_http=socket_mode is None),
        host="0.0.0.0",  # noqa: S104  (platforms route $PORT from outside)
        port=settings.port,
        threads=8,
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
