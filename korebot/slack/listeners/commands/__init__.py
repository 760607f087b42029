"""The slash commands, one per kind of job (``/faq-status``, ``/ml-status``,
``/batch-test``): the trainings' share one module per subcommand and `dispatch` between
them; ``/batch-test`` is batch_test.py.

Slack waits 3 seconds for the acknowledgement, so ``ack()`` comes first, in the request's
thread, and every Kore.ai or Web API call happens after it, in a lazy listener on Bolt's
thread pool (``process_before_response=True``, korebot/slack/app.py). Before it acks, it
records the command, so that a crash before the work ends does not lose it (durable.py).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from korebot.kore import Kind
from korebot.slack.kinds import COMMANDS
from korebot.slack.listeners.commands.dispatch import slash_command
from korebot.slack.listeners.commands.durable import LEASE, record, run_recorded
from korebot.slack.listeners.context import Services

Lazy = Callable[[dict[str, Any], Respond, WebClient, BoltContext], None]


def register(app: App, services: Services) -> None:
    # Bolt passes its arguments by name; the services are the app's.
    def ack_status(command: dict[str, Any], ack: Ack, context: BoltContext) -> None:
        record(services, command, ack, context)

    for kind, name in COMMANDS.items():
        app.command(name)(ack=ack_status, lazy=[_lazy(services, kind)])


def _lazy(services: Services, kind: Kind) -> Lazy:
    def lazy_status(
        command: dict[str, Any], respond: Respond, client: WebClient, context: BoltContext
    ) -> None:
        lease = context.get(LEASE)
        command_id = lease.id if lease is not None else None
        work = partial(
            slash_command, services, command, respond, client, kind=kind, command_id=command_id
        )
        run_recorded(services, lease, work)

    lazy_status.__name__ = f"lazy_{kind.value}_status"  # how Bolt's logs name it
    return lazy_status
