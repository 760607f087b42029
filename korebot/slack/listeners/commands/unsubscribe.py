"""`/faq-status unsubscribe BOT LANG [state]`: stop announcing a bot's trainings here."""

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


def unsubscribe(
    services: Services,
    asked: parsing.Unsubscribe,
    command: dict[str, Any],
    respond: Respond,
    kind: Kind = Kind.FAQ,
) -> None:
    with answering(respond, f"{command_of(kind)} unsubscribe"):
        _, channel, user = asked_by(command)
        bot, language = target(services, asked, channel, user, kind)
        gone = services.engine.unsubscribe(
            channel, JobKey.of(bot, language, asked.state, kind), user
        )
        if gone is None:
            raise Refusal(
                f"This channel is not subscribed to {bot.name} ({language}, "
                f"{asked.state.value}) for {label(kind)} training."
            )
        respond(response_type="in_channel", **messages.unsubscribed(gone, user).kwargs())
