"""A bare Bolt app that only acknowledges ``/faq-status``: the yardstick for korebot's acks.

Served exactly like korebot (``korebot.server``): waitress with the same number of threads,
``slack_bolt.adapter.wsgi.SlackRequestHandler`` on ``POST /slack/events``, a Bolt ``App`` with
token verification off and a listener executor of the same size. The only difference is the
listener: it calls ``ack()`` and returns. Binds 127.0.0.1 only.

    SLACK_SIGNING_SECRET=... SLACK_BOT_TOKEN=... SLACK_API_URL=... \
        python -m benchmarks.bare_app --threads 8 --port 0

Prints ``bare app listening on http://127.0.0.1:PORT`` once the socket is bound. The
benchmarks pass korebot's thread counts (``korebot.runtime``); it imports no korebot code.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from types import FrameType
from typing import TYPE_CHECKING

from slack_bolt import Ack, App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from waitress.server import create_server

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

EVENTS_PATH = "/slack/events"


def build(signing_secret: str, listener_threads: int) -> WSGIApplication:
    # Like korebot: a Web API client with a bot token, pointed at SLACK_API_URL; Bolt calls
    # auth.test once, on the first request, and caches it.
    client = WebClient(
        token=os.environ.get("SLACK_BOT_TOKEN", "xoxb-bare-app"),
        base_url=os.environ.get("SLACK_API_URL", "https://slack.com/api/"),
        timeout=15,
    )
    app = App(
        client=client,
        signing_secret=signing_secret,
        token_verification_enabled=False,
        listener_executor=ThreadPoolExecutor(listener_threads, thread_name_prefix="bare-listener"),
    )

    @app.command("/faq-status")
    def faq_status(ack: Ack) -> None:
        ack()

    bolt = SlackRequestHandler(app, path=EVENTS_PATH)

    def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"status": "ok"}']
        return bolt(environ, start_response)

    return application


def _stop(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bare_app", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads")
    parser.add_argument(
        "--listener-threads", type=int, default=8, help="Bolt listener executor size"
    )
    args = parser.parse_args(argv)
    secret = os.environ.get("SLACK_SIGNING_SECRET", "")
    if not secret:
        print("bare app: SLACK_SIGNING_SECRET is not set", file=sys.stderr)
        return 2
    # Like korebot at its default LOG_LEVEL: INFO, to stderr.
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    server = create_server(
        build(secret, args.listener_threads),
        host="127.0.0.1",
        port=args.port,
        threads=args.threads,
        ident="bare",
    )
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    port = server.effective_port  # type: ignore[union-attr]  # one socket: a BaseWSGIServer
    print(f"bare app listening on http://127.0.0.1:{port}", flush=True)
    try:
        server.run()
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
