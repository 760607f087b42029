"""Builds the Bolt app: the Web API client, request verification, the listeners."""

from __future__ import annotations

from concurrent.futures import Executor

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from korebot.slack.listeners import Services, register_listeners


def web_client(token: str, base_url: str) -> WebClient:
    """A Web API client that rides out rate limits, 5xx and dropped connections."""
    return WebClient(
        token=token,
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        timeout=15,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def build_app(
    client: WebClient, signing_secret: str, services: Services, executor: Executor
) -> App:
    app = App(
        client=client,
        signing_secret=signing_secret,
        # The token is checked by `korebot doctor`; a Slack hiccup must not stop start-up.
        token_verification_enabled=False,
        listener_executor=executor,
    )
    register_listeners(app, services)
    return app
