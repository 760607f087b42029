"""The ``/faq-status`` slash command: one module per subcommand, `dispatch` between them.

Slack waits 3 seconds for the acknowledgement, so ``ack()`` comes first, in the request's
thread, and every Kore.ai or Web API call happens after it, in a lazy listener on Bolt's
thread pool (``process_before_response=True``, korebot/slack/app.py).
"""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from korebot.slack.listeners.commands.dispatch import faq_status
from korebot.slack.listeners.common import acknowledge
from korebot.slack.listeners.context import Services

COMMAND = "/faq-status"


def register(app: App, services: Services) -> None:
    # Bolt passes its arguments by name; the services are the app's.
    def lazy_faq_status(command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        faq_status(services, command, respond, client)

    app.command(COMMAND)(ack=acknowledge, lazy=[lazy_faq_status])
