"""`/publish-status`: a bot's latest publish (watched while it runs), publishing it from
Slack behind a confirmation, releasing it (train, gate, publish, live), its history and
subscriptions.

Publishing needs the bot's Admin Console app (``AdminCredentialsMissing`` says what to
set); everything else about the bot keeps working without it. ``publish BOT`` only shows
a publisher the confirmation, recorded in the database first as a start request;
korebot.slack.listeners.actions.publish runs the click. ``release BOT LANG [SUITE]`` shows
one who may train and publish the bot the release's confirmation, recorded first as a
release; korebot.slack.listeners.actions.release runs its buttons, and the engine its steps.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient

from korebot.kore import Kind, KoreError, Status
from korebot.kore.kinds import publish
from korebot.registry import Bot, JobKey
from korebot.slack import messages, parsing, publish_messages, release_messages
from korebot.slack.listeners.commands.batch_test import find_suite
from korebot.slack.listeners.commands.bots import list_bots
from korebot.slack.listeners.commands.list import list_watches
from korebot.slack.listeners.commands.status import begin_watch
from korebot.slack.listeners.commands.train import may_train
from korebot.slack.listeners.common import (
    Refusal,
    answering,
    asked_by,
    permalink,
    target,
    within_limit,
)
from korebot.slack.listeners.context import Services
from korebot.watch.types import ReleaseAsk, StartAsk, WatchRequest

NAME = parsing.PUBLISH_COMMAND
#: How long a publish confirmation can be clicked.
VALID_FOR = 600.0


def publish_command(
    services: Services, command: dict[str, Any], respond: Respond, client: WebClient
) -> None:
    """The work of one `/publish-status` after its ack."""
    with answering(respond, NAME):
        team, channel, user = asked_by(command)
        within_limit(services, team, user)
        match parsing.parse_publish(str(command.get("text", ""))):
            case parsing.Help():
                respond(**publish_messages.help_message().kwargs())
            case parsing.Invalid(reason):
                respond(**messages.problem(reason, kind=Kind.PUBLISH).kwargs())
            case parsing.ListBots():
                list_bots(services, respond)
            case parsing.ListWatches():
                list_watches(services, command, respond, client, Kind.PUBLISH)
            case parsing.PublishStatus(name):
                _status(services, _bot(services, name, channel, user), command, respond, client)
            case parsing.PublishHistory(name):
                bot = _bot(services, name, channel, user)
                runs = services.engine.runs(key_of(bot))
                releases = services.engine.releases(bot)
                respond(**publish_messages.history(bot.name, runs, releases).kwargs())
            case parsing.SubscribePublishes(name):
                bot = _bot(services, name, channel, user)
                sub, how = services.engine.subscribe(team, channel, user, key_of(bot), bot.name)
                shown = "ephemeral" if how == "already" else "in_channel"
                respond(response_type=shown, **messages.subscribed(sub, how, user).kwargs())
            case parsing.UnsubscribePublishes(name):
                bot = _bot(services, name, channel, user)
                gone = services.engine.unsubscribe(channel, key_of(bot), user)
                if gone is None:
                    raise Refusal(f"This channel is not subscribed to {bot.name}'s publishes.")
                respond(response_type="in_channel", **messages.unsubscribed(gone, user).kwargs())
            case parsing.StopPublishWatch(name):
                bot = _bot(services, name, channel, user)
                view = services.engine.stop(channel, key_of(bot), user)
                if view is None:
                    raise Refusal(f"Nothing to stop: no publish of {bot.name} is watched here.")
                respond(**messages.stopped_confirmation(view).kwargs())
            case parsing.Publish(name, comment):
                _offer(services, _bot(services, name, channel, user), comment, command, respond)
            case parsing.Release(name, language, suite):
                bot = _bot(services, name, channel, user)
                _offer_release(services, bot, language, suite, command, respond, client)


def key_of(bot: Bot) -> JobKey:
    """The bot's publishes, as one job key (a publish has no language)."""
    return JobKey.of(bot, publish.LANGUAGE, publish.STATE, Kind.PUBLISH)


def _bot(services: Services, name: str, channel: str, user: str) -> Bot:
    """The bot, with its channel and user rules applied."""
    asked = parsing.Targeted(name, publish.LANGUAGE, publish.STATE)
    bot, _ = target(services, asked, channel, user, Kind.PUBLISH)
    return bot


def may_publish(services: Services, bot: Bot, user: str) -> None:
    """Refuse a user who may not publish the bot: its ``publishers`` if the configuration
    file names them, else KOREBOT_PUBLISHERS (empty: nobody)."""
    publishers = bot.publishers if bot.publishers is not None else services.publishers
    if user not in publishers:
        raise Refusal(
            f"Only publishers may publish {bot.name}; an admin adds Slack user IDs to "
            "KOREBOT_PUBLISHERS (or the bot's `publishers` in the KOREBOT_CONFIG file)."
        )


def _status(
    services: Services, bot: Bot, command: dict[str, Any], respond: Respond, client: WebClient
) -> None:
    team, channel, user = asked_by(command)
    try:
        fetched = services.engine.watched_status(key_of(bot)) or services.gateway.status(
            bot, publish.LANGUAGE, publish.STATE, kind=Kind.PUBLISH
        )
    except KoreError as error:
        raise Refusal(str(error)) from None
    result = fetched.status

    def tell_status() -> None:
        answer = publish_messages.status(bot, result, user, age=fetched.age)
        respond(response_type="in_channel", **answer.kwargs())

    if result.status is not Status.IN_PROGRESS:
        tell_status()
        return
    request = WatchRequest(team, channel, user, bot, publish.LANGUAGE, publish.STATE, Kind.PUBLISH)
    started = begin_watch(services, request, result, tell_status)
    if started.existing:
        link = permalink(client, started.watch)
        respond(**messages.already_watching(started.watch, link).kwargs())
    elif started.watch.thread_channel != channel:
        respond(**messages.moved_to_dm(channel).kwargs())


def _offer(
    services: Services,
    bot: Bot,
    comment: str | None,
    command: dict[str, Any],
    respond: Respond,
) -> None:
    """Show a publisher the confirmation (recorded first), only to them."""
    team, channel, user = asked_by(command)
    may_publish(services, bot, user)
    services.gateway.registry.client(bot, admin=True)  # AdminCredentialsMissing: say so now
    text = comment or f"Published from Slack by <@{user}>"
    try:
        text = publish.version_comment(text)
    except KoreError as error:
        raise Refusal(str(error)) from None
    request = services.engine.record_start_request(
        StartAsk(team, channel, user, key_of(bot), bot.name, VALID_FOR, note=text)
    )
    respond(**publish_messages.confirmation(bot, text, True, request.token).kwargs())


def may_release(services: Services, bot: Bot, user: str) -> None:
    """Refuse a user who may not both train and publish the bot."""
    may_train(services, bot, user)
    may_publish(services, bot, user)


def _offer_release(
    services: Services,
    bot: Bot,
    language: str,
    suite: str,
    command: dict[str, Any],
    respond: Respond,
    client: WebClient,
) -> None:
    """Show one who may train and publish the bot the release's confirmation (recorded
    first), only to them; or point them to the bot's release already running."""
    team, channel, user = asked_by(command)
    may_release(services, bot, user)
    services.gateway.registry.client(bot, admin=True)  # AdminCredentialsMissing: say so now
    running = services.engine.running_release(bot)
    if running is not None:
        respond(**release_messages.already_running(running, permalink(client, running)).kwargs())
        return
    if suite:  # an unknown suite is refused now, with the bot's suites
        suite = find_suite(services, bot, language, suite).name
    bar = services.bar_of(bot.name)
    ask = ReleaseAsk(team, channel, user, bot, language, suite, bar.min_f1, bar.max_drop, VALID_FOR)
    release = services.engine.record_release(ask)
    respond(**release_messages.confirmation(bot, language, suite, bar, release.token).kwargs())
