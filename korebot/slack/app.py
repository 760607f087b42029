"""Builds the Bolt app: the Web API client, request verification, the listeners."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.internals import build_context
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from korebot.slack.ack_first import AckFirst, AckFirstExecutor
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


class FormRequest(BoltRequest):
    """A form-encoded request read as a form even when a value says "payload".

    Bolt takes any form body containing the word "payload" for an interactivity request
    and, finding no ``payload`` field, reads it as empty: ``/faq-status payload``, or any
    command from a channel named "payload-team", would get a 404. The body is verified
    and copied (for lazy listeners) as Bolt's own request is.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if _misread(self):
            form = dict(parse_qsl(self.raw_body, keep_blank_values=True))
            if "payload" not in form:
                self.body = form
                self.context = build_context(BoltContext(kwargs.get("context") or {}), form)

    @classmethod
    def of(cls, req: BoltRequest) -> BoltRequest:
        if not _misread(req):
            return req
        return cls(body=req.raw_body, query=req.query, headers=req.headers, mode=req.mode)

    def to_copyable(self) -> BoltRequest:
        return FormRequest(
            body=self.raw_body,
            query=self.query,
            headers=self.headers,
            context=self.context.to_copyable(),
            mode=self.mode,
        )


def _misread(req: BoltRequest) -> bool:
    form = req.content_type == "application/x-www-form-urlencoded"
    return form and req.mode == "http" and bool(req.raw_body) and not req.body


class AckCountingApp(App):
    """A Bolt app that counts each request it handles until its ack (ack_first.py).

    HTTP (the WSGI adapter) and Socket Mode (SocketModeHandler) both hand every request
    to `dispatch`, which returns the ack: counting here covers both in one place. Bolt's
    middleware cannot do it, as its `next()` does not run the rest of the request.
    """

    def __init__(self, acks: AckFirst, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.acks = acks

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        with self.acks.request():
            return super().dispatch(FormRequest.of(req))


def build_app(
    client: WebClient, signing_secret: str, services: Services, executor: AckFirstExecutor
) -> App:
    token = client.token

    def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        # One workspace, one bot token: nothing to ask Slack. Bolt's own authorization calls
        # auth.test at the first request, so a Slack hiccup then (refused, 5xx, ratelimited)
        # would turn commands away with "reinstall this app". `korebot doctor` checks the token.
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

    app = AckCountingApp(
        # The executor's work waits for the requests this app counts.
        executor.acks,
        # The same client without its token (authorize gives it), so that Bolt does not warn
        # that the token is unused.
        client=WebClient(
            base_url=client.base_url,
            timeout=client.timeout,
            retry_handlers=client.retry_handlers,
        ),
        signing_secret=signing_secret,
        authorize=authorize,
        listener_executor=executor,
        # Ack functions run in the request's thread and the work in lazy listeners on the
        # executor, so a burst of commands never delays an ack behind earlier work.
        process_before_response=True,
    )
    register_listeners(app, services)
    return app
