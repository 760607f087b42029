"""``app_home_opened``: publish the user's Home tab from what the store knows.

The Messages tab sends the same event (``tab == "messages"``): nothing to do there.
"""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient

from korebot.slack.listeners.context import Services
from korebot.slack.listeners.home_tab import publish_home


def app_home_opened(
    services: Services, body: dict[str, Any], event: dict[str, Any], client: WebClient
) -> None:
    user = str(event.get("user") or "")
    if event.get("tab") != "home" or not user:
        return
    publish_home(services, client, str(body.get("team_id") or ""), user)
