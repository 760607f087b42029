"""Slack listeners, grouped by kind and registered from one place (as Slack's starter template)."""

from __future__ import annotations

from slack_bolt import App

from korebot.slack.listeners import actions, commands, events
from korebot.slack.listeners.context import Services


def register_listeners(app: App, services: Services) -> None:
    commands.register(app, services)
    actions.register(app, services)
    events.register(app, services)


__all__ = ["Services", "register_listeners"]
