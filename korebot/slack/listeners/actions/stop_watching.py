"""The "Stop watching" button on a watch's message."""

from __future__ import annotations

from typing import Any

from slack_bolt import Respond

from korebot.slack.listeners.common import Refusal, answering
from korebot.slack.listeners.context import Services


def stop_watching(
    services: Services, body: dict[str, Any], action: dict[str, Any], respond: Respond
) -> None:
    # The answer goes beside the watch's message (its update says who stopped it), not over it.
    with answering(respond, "the Stop watching button", replace_original=False):
        channel = (body.get("channel") or {}).get("id", "")
        user = (body.get("user") or {}).get("id", "")
        try:
            watch_id = int(action.get("value", ""))
        except (TypeError, ValueError):
            watch_id = -1  # no such watch: told as one that has ended
        if services.engine.stop_by_id(watch_id, channel, user) is None:
            raise Refusal("That watch has already ended.")
