"""Events API listeners: the App Home tab opened (acked first, the work lazily, as
commands are)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from korebot.slack.listeners.context import Services
from korebot.slack.listeners.events.app_home_opened import app_home_opened


def register(app: App, services: Services) -> None:
    def ack_event(ack: Ack) -> None:
        ack()

    def lazy_app_home_opened(
        body: dict[str, Any], event: dict[str, Any], client: WebClient
    ) -> None:
        app_home_opened(services, body, event, client)

    app.event("app_home_opened")(ack=ack_event, lazy=[lazy_app_home_opened])
