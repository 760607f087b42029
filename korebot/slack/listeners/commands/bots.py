"""`/faq-status bots`: the bots this app knows."""

from __future__ import annotations

from slack_bolt import Respond

from korebot.slack import messages
from korebot.slack.listeners.context import Services


def list_bots(services: Services, respond: Respond) -> None:
    respond(**messages.bot_list(services.gateway.registry).kwargs())
