"""The ``/faq-status`` slash command: one module per subcommand, `dispatch` between them.

Slack waits 3 seconds for the acknowledgement, so ``ack()`` comes first, in the request's
thread, and every Kore.ai or Web API call happens after it, in a lazy listener on Bolt's
thread pool (``process_before_response=True``, korebot/slack/app.py). Before it acks, it
records the command, so that a crash before the work ends does not lose it (durable.py).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from korebot.slack.listeners.commands.dispatch import faq_status
from korebot.slack.listeners.commands.durable import LEASE, record, run_recorded
from korebot.slack.listeners.context import Services

COMMAND = "/faq-status"


def register(app: App, services: Services) -> None:
    # Bolt passes its arguments by name; the services are the app's.
    def ack_faq_status(command: dict[str, Any], ack: Ack, context: BoltContext) -> None:
        record(services, command, ack, context)

    def lazy_faq_status(
        command: dict[str, Any], respond: Respond, client: WebClient, context: BoltContext
    ) -> None:
        work = partial(faq_status, services, command, respond, client)
        run_recorded(services, context.get(LEASE), work)

    app.command(COMMAND)(ack=ack_faq_status, lazy=[lazy_faq_status])
