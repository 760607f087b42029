"""Interactive components: the "Stop watching" button."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, Respond

from korebot.slack import messages
from korebot.slack.listeners.commands import acknowledge
from korebot.slack.listeners.context import Services

log = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    def stop_watching(body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        channel = (body.get("channel") or {}).get("id", "")
        user = (body.get("user") or {}).get("id", "")
        try:
            watch_id = int(action.get("value", ""))
        except ValueError:
            watch_id = -1
        view = services.engine.stop_by_id(watch_id, channel, user)
        if view is None:
            respond(
                replace_original=False,
                **messages.problem("That watch has already ended.", show_usage=False).kwargs(),
            )

    app.action(messages.STOP_ACTION)(ack=acknowledge, lazy=[stop_watching])
