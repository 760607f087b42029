"""Interactive components: the "Stop watching" button, a training's, a publish's and a
release's confirmations, Stop release, and the Home tab's controls (acked first, as
commands are)."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from korebot.slack import home, messages, publish_messages, release_messages, training_messages
from korebot.slack.listeners.actions.home_controls import train_from_home, watch_in_channel
from korebot.slack.listeners.actions.publish import cancel_publish, publish_now
from korebot.slack.listeners.actions.release import cancel_release, release_now, stop_release
from korebot.slack.listeners.actions.stop_watching import stop_watching
from korebot.slack.listeners.actions.train import cancel_train, train_now
from korebot.slack.listeners.common import acknowledge
from korebot.slack.listeners.context import Services


def register(app: App, services: Services) -> None:
    def lazy_stop_watching(body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        stop_watching(services, body, action, respond)

    app.action(messages.STOP_ACTION)(ack=acknowledge, lazy=[lazy_stop_watching])

    def lazy_train_now(body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        train_now(services, body, action, respond)

    def lazy_cancel_train(body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        cancel_train(services, body, action, respond)

    app.action(training_messages.TRAIN_ACTION)(ack=acknowledge, lazy=[lazy_train_now])
    app.action(training_messages.CANCEL_TRAIN_ACTION)(ack=acknowledge, lazy=[lazy_cancel_train])

    def lazy_publish(body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        publish_now(services, body, action, respond)

    def lazy_cancel_publish(body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        cancel_publish(services, body, action, respond)

    app.action(publish_messages.PUBLISH_ACTION)(ack=acknowledge, lazy=[lazy_publish])
    app.action(publish_messages.CANCEL_ACTION)(ack=acknowledge, lazy=[lazy_cancel_publish])

    def lazy_release(
        body: dict[str, Any], action: dict[str, Any], respond: Respond, client: WebClient
    ) -> None:
        release_now(services, body, action, respond, client)

    def lazy_cancel_release(body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        cancel_release(services, body, action, respond)

    def lazy_stop_release(body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        stop_release(services, body, action, respond)

    app.action(release_messages.RELEASE_ACTION)(ack=acknowledge, lazy=[lazy_release])
    app.action(release_messages.CANCEL_RELEASE_ACTION)(ack=acknowledge, lazy=[lazy_cancel_release])
    app.action(release_messages.STOP_RELEASE_ACTION)(ack=acknowledge, lazy=[lazy_stop_release])

    def lazy_home_watch(body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        watch_in_channel(services, body, action, client)

    def lazy_home_train(body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        train_from_home(services, body, action, client)

    app.action(home.WATCH_ACTION)(ack=acknowledge, lazy=[lazy_home_watch])
    app.action(home.TRAIN_ACTION)(ack=acknowledge, lazy=[lazy_home_train])
