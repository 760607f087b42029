"""`/faq-status subscribe BOT LANG [state]`: announce every training of a bot here."""

from __future__ import annotations

from typing import Any

from slack_bolt import Respond

from korebot.kore import Kind
from korebot.registry import JobKey
from korebot.slack import messages, parsing
from korebot.slack.kinds import command as command_of
from korebot.slack.listeners.common import answering, asked_by, target
from korebot.slack.listeners.context import Services


def subscribe(
    services: Services,
    asked: parsing.Subscribe,
    command: dict[str, Any],
    respond: Respond,
    kind: Kind = Kind.FAQ,
) -> None:
    with answering(respond, f"{command_of(kind)} subscribe"):
        team, channel, user = asked_by(command)
        bot, language = target(services, asked, channel, user, kind)
        sub, how = services.engine.subscribe(
            team, channel, user, JobKey.of(bot, language, asked.state, kind), bot.name
        )
        # A new or resumed subscription is news for the channel; "already" is for the asker.
        shown = "ephemeral" if how == "already" else "in_channel"
        respond(response_type=shown, **messages.subscribed(sub, how, user).kwargs())
