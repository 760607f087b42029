"""`/faq-status stop BOT LANG [state]`: stop this channel's watch of a training."""

from __future__ import annotations

from typing import Any

from slack_bolt import Respond

from korebot.kore import Kind
from korebot.registry import JobKey
from korebot.slack import messages, parsing
from korebot.slack.kinds import command as command_of
from korebot.slack.kinds import label
from korebot.slack.listeners.common import Refusal, answering, asked_by, target
from korebot.slack.listeners.context import Services


def stop_watch(
    services: Services,
    asked: parsing.StopWatch,
    command: dict[str, Any],
    respond: Respond,
    kind: Kind = Kind.FAQ,
) -> None:
    with answering(respond, f"{command_of(kind)} stop"):
        _, channel, user = asked_by(command)
        bot, language = target(services, asked, channel, user, kind)
        view = services.engine.stop(channel, JobKey.of(bot, language, asked.state, kind), user)
        if view is None:
            raise Refusal(
                f"Nothing to stop: {label(kind)} training of {bot.name} ({language}, "
                f"{asked.state.value}) is not watched here."
            )
        respond(**messages.stopped_confirmation(view).kwargs())
