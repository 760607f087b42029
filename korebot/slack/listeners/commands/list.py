"""`/faq-status list`: the trainings watched and the subscriptions in this channel."""

from __future__ import annotations

from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient

from korebot.slack import messages
from korebot.slack.listeners.common import answering, asked_by, permalink
from korebot.slack.listeners.context import Services


def list_watches(
    services: Services, command: dict[str, Any], respond: Respond, client: WebClient
) -> None:
    with answering(respond, "/faq-status list"):
        _, channel, _ = asked_by(command)
        watches = services.engine.watches_in(channel)
        listed = [(watch, permalink(client, watch)) for watch in watches]
        subscriptions = services.engine.subscriptions_in(channel)
        respond(**messages.watch_list(listed, subscriptions).kwargs())
