"""A slash command's work after the ack: the per-user limit, one parse, the subcommand.

Every kind's command comes here with its kind: the trainings' (``/faq-status``,
``/ml-status``) share this grammar; ``/batch-test`` has its own (batch_test.py).
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient

from korebot.kore import Kind
from korebot.slack import messages, parsing
from korebot.slack.kinds import command as command_of
from korebot.slack.listeners.commands.batch_test import batch_command
from korebot.slack.listeners.commands.bots import list_bots
from korebot.slack.listeners.commands.help import show_help
from korebot.slack.listeners.commands.history import show_history
from korebot.slack.listeners.commands.list import list_watches
from korebot.slack.listeners.commands.publish_status import publish_command
from korebot.slack.listeners.commands.status import ask_status
from korebot.slack.listeners.commands.stop import stop_watch
from korebot.slack.listeners.commands.subscribe import subscribe
from korebot.slack.listeners.commands.train import request_training
from korebot.slack.listeners.commands.unsubscribe import unsubscribe
from korebot.slack.listeners.common import answering, asked_by, within_limit
from korebot.slack.listeners.context import Services


def slash_command(
    services: Services,
    command: dict[str, Any],
    respond: Respond,
    client: WebClient,
    *,
    kind: Kind = Kind.FAQ,
    command_id: int | None = None,
) -> None:
    """``command_id``: the command's durable record (durable.py), when it has one."""
    if kind is Kind.BATCH:
        batch_command(services, command, respond, client, command_id)
        return
    if kind is Kind.PUBLISH:
        publish_command(services, command, respond, client)
        return
    name = command_of(kind)
    with answering(respond, name):
        team, _, user = asked_by(command)
        within_limit(services, team, user)
        match parsing.parse(command.get("text", ""), name):
            case parsing.Help():
                show_help(respond, kind)
            case parsing.Invalid(reason):
                respond(**messages.problem(reason, kind=kind).kwargs())
            case parsing.ListBots():
                list_bots(services, respond)
            case parsing.ListWatches():
                list_watches(services, command, respond, client, kind)
            case parsing.Subscribe() as asked:
                subscribe(services, asked, command, respond, kind)
            case parsing.Unsubscribe() as asked:
                unsubscribe(services, asked, command, respond, kind)
            case parsing.StopWatch() as asked:
                stop_watch(services, asked, command, respond, kind)
            case parsing.Train() as asked:
                request_training(services, asked, command, respond, kind)
            case parsing.History() as asked:
                show_history(services, asked, command, respond, kind)
            case parsing.AskStatus() as asked:
                ask_status(services, asked, command, respond, client, kind)
