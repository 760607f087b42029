"""`/faq-status history BOT LANG [state]` (or `/ml-status`): a training's last runs, to
the asker only."""

from __future__ import annotations

from typing import Any

from slack_bolt import Respond

from korebot.kore import Kind
from korebot.registry import JobKey
from korebot.slack import history_messages, parsing
from korebot.slack.kinds import command as command_of
from korebot.slack.listeners.common import answering, asked_by, target
from korebot.slack.listeners.context import Services

#: Runs shown, newest first.
SHOWN = 10


def show_history(
    services: Services,
    asked: parsing.History,
    command: dict[str, Any],
    respond: Respond,
    kind: Kind = Kind.FAQ,
) -> None:
    with answering(respond, f"{command_of(kind)} history"):
        _, channel, user = asked_by(command)
        bot, language = target(services, asked, channel, user, kind)
        key = JobKey.of(bot, language, asked.state, kind)
        runs = services.engine.runs(key, SHOWN)
        answer = history_messages.history(kind, bot.name, language, asked.state, runs)
        respond(**answer.kwargs())
