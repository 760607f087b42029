"""`/faq-status train BOT LANG` (or `/ml-status`): ask to start a training.

Nothing starts here: a trainer gets, only to them, a confirmation recorded in the
database before its buttons are shown (korebot.slack.listeners.actions.train runs the
click). Everyone else is told who may train and how an admin grants it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Respond

from korebot.kore import Kind, State
from korebot.registry import Bot, JobKey
from korebot.slack import parsing, training_messages
from korebot.slack.kinds import command as command_of
from korebot.slack.listeners.common import Refusal, answering, asked_by, target
from korebot.slack.listeners.context import Services
from korebot.watch.types import StartAsk

#: How long a confirmation can be clicked.
VALID_FOR = 600.0


def may_train(services: Services, bot: Bot, user: str) -> None:
    """Refuse a user who may not start the bot's trainings: the bot's ``trainers`` if
    the configuration file names them, else KOREBOT_TRAINERS (empty: nobody)."""
    trainers = bot.trainers if bot.trainers is not None else services.trainers
    if user not in trainers:
        raise Refusal(training_messages.not_a_trainer(bot, trainers))


def request_training(
    services: Services,
    asked: parsing.Train,
    command: dict[str, Any],
    respond: Respond,
    kind: Kind = Kind.FAQ,
) -> None:
    with answering(respond, command_of(kind)):
        team, channel, user = asked_by(command)
        bot, language = target(services, asked, channel, user, kind)
        may_train(services, bot, user)
        if asked.state is not State.CONFIGURED:
            raise Refusal(
                "Only the in-development (configured) version can be trained: "
                f"`{command_of(kind)} train {bot.name} {language}`."
            )
        offer(services, team, channel, user, bot, language, kind, respond)


def offer(
    services: Services,
    team: str,
    channel: str,
    user: str,
    bot: Bot,
    language: str,
    kind: Kind,
    respond: Callable[..., Any],
) -> None:
    """Record a fresh request, then show its confirmation to the user only (``respond``:
    the command's, a click's, or a post in the user's DM from the Home tab)."""
    key = JobKey.of(bot, language, State.CONFIGURED, kind)
    ask = StartAsk(team, channel, user, key, bot.name, valid_for=VALID_FOR)
    request = services.engine.record_start_request(ask)
    minutes = round(VALID_FOR / 60)
    respond(**training_messages.confirmation(bot, language, kind, request.token, minutes).kwargs())
