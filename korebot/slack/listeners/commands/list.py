"""`/faq-status list` (or any command's `list`): the channel's running releases, watches
and subscriptions, of every kind."""

from __future__ import annotations

from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient

from korebot.kore import Kind
from korebot.slack import messages, release_messages
from korebot.slack.kinds import command as command_of
from korebot.slack.listeners.common import answering, asked_by, permalink
from korebot.slack.listeners.context import Services


def list_watches(
    services: Services,
    command: dict[str, Any],
    respond: Respond,
    client: WebClient,
    kind: Kind = Kind.FAQ,
) -> None:
    with answering(respond, f"{command_of(kind)} list"):
        _, channel, _ = asked_by(command)
        watches = services.engine.watches_in(channel)
        listed = [(watch, permalink(client, watch)) for watch in watches]
        subscriptions = services.engine.subscriptions_in(channel)
        running = [r for r in services.engine.running_releases() if r.channel_id == channel]
        releases = release_messages.running_lines(running)
        respond(**messages.watch_list(listed, subscriptions, kind, releases).kwargs())
