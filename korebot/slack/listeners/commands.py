"""The ``/faq-status`` slash command.

Slack waits 3 seconds for the acknowledgement, so ``ack()`` comes first and
every Kore.ai or Web API call happens after it (Bolt runs the rest of the
listener on its thread pool).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from korebot.errors import DatabaseUnavailable
from korebot.gateway import Fetched
from korebot.kore import InvalidInput, KoreError, State, Status
from korebot.registry import Bot
from korebot.slack import messages, parsing
from korebot.slack.listeners.context import Services
from korebot.slack.notifier import slack_error
from korebot.watch.model import LimitReached, Undeliverable, WatchRequest, WatchView

log = logging.getLogger(__name__)

COMMAND = "/faq-status"
# The database cannot be reached (refused, cut, locked): worth a clear answer, not a traceback.
DATABASE_DOWN = (DatabaseUnavailable,)


class Refusal(Exception):
    """A reason to give the asker instead of an answer."""


def acknowledge(ack: Ack) -> None:
    """Runs in the request's own thread, so the ack never queues behind earlier work."""
    ack()


def register(app: App, services: Services) -> None:
    def faq_status(command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        try:
            _answer(services, command, respond, client)
        except Refusal as refusal:
            respond(**messages.problem(str(refusal), show_usage=False).kwargs())
        except DATABASE_DOWN as error:
            log.warning("Database unavailable answering %s: %s", COMMAND, error.orig)
            respond(
                **messages.problem(
                    "My database is unavailable right now, so I can't do that; "
                    "try again in a minute.",
                    show_usage=False,
                ).kwargs()
            )
        except Exception:
            log.exception("Unexpected error answering %s", COMMAND)
            respond(
                **messages.problem(
                    "Something went wrong on my side; it has been logged. Try again in a minute.",
                    show_usage=False,
                ).kwargs()
            )

    app.command(COMMAND)(ack=acknowledge, lazy=[faq_status])


def _answer(
    services: Services, command: dict[str, Any], respond: Respond, client: WebClient
) -> None:
    channel, user = command.get("channel_id", ""), command.get("user_id", "")
    wait = services.commands.acquire((command.get("team_id", ""), user), time.monotonic())
    if wait > 0:
        raise Refusal(f"That's a lot of commands in a minute; try again in {math.ceil(wait)} s.")
    parsed = parsing.parse(command.get("text", ""))
    match parsed:
        case parsing.Help():
            respond(**messages.usage().kwargs())
        case parsing.Invalid(reason):
            respond(**messages.problem(reason).kwargs())
        case parsing.ListBots():
            respond(**messages.bot_list(services.gateway.registry).kwargs())
        case parsing.ListWatches():
            watches = services.engine.watches_in(channel)
            listed = [(watch, _permalink(client, watch)) for watch in watches]
            subscriptions = services.engine.subscriptions_in(channel)
            respond(**messages.watch_list(listed, subscriptions).kwargs())
        case parsing.Subscribe(name, language, state):
            bot, lang = _target(services, name, language, channel, user)
            team = command.get("team_id", "")
            sub, how = services.engine.subscribe(team, channel, user, bot, lang, state)
            kind = "ephemeral" if how == "already" else "in_channel"
            respond(response_type=kind, **messages.subscribed(sub, how, user).kwargs())
        case parsing.Unsubscribe(name, language, state):
            bot, lang = _target(services, name, language, channel, user)
            gone = services.engine.unsubscribe(channel, bot, lang, state, user)
            if gone is None:
                raise Refusal(
                    f"This channel is not subscribed to {bot.name} ({lang}, {state.value})."
                )
            respond(response_type="in_channel", **messages.unsubscribed(gone, user).kwargs())
        case parsing.StopWatch(name, language, state):
            bot, lang = _target(services, name, language, channel, user)
            view = services.engine.stop(channel, bot, lang, state, user)
            if view is None:
                raise Refusal(
                    f"Nothing to stop: {bot.name} ({lang}, {state.value}) is not watched here."
                )
            respond(**messages.stopped_confirmation(view).kwargs())
        case parsing.AskStatus(name, language, state):
            bot, lang = _target(services, name, language, channel, user)
            fetched = _status(services, bot, lang, state)
            result = fetched.status
            if result.status is not Status.IN_PROGRESS:
                answer = messages.status(bot, lang, state, result, user, age=fetched.age)
                respond(response_type="in_channel", **answer.kwargs())
                return
            request = WatchRequest(
                team_id=command.get("team_id", ""),
                channel_id=channel,
                user_id=user,
                bot=bot,
                language=lang,
                state=state,
            )
            try:
                started = services.engine.watch(request, result)
            except LimitReached as error:
                raise Refusal(str(error)) from None
            except DATABASE_DOWN as error:
                # The status can still be told; only watching needs the database.
                log.warning("Database unavailable, not watching %s: %s", bot.name, error.orig)
                answer = messages.status(bot, lang, state, result, user, age=fetched.age)
                respond(response_type="in_channel", **answer.kwargs())
                raise Refusal(
                    "I can't watch this training for now: my database is unavailable. "
                    "Ask again in a few minutes to have its result posted here."
                ) from None
            except (Undeliverable, SlackApiError, OSError) as error:
                # OSError: Slack could not be reached (slack_sdk's retries included).
                if isinstance(error, SlackApiError):
                    code = slack_error(error)
                else:
                    code = str(error) if isinstance(error, Undeliverable) else "Slack unreachable"
                log.warning("Not watching %s: cannot post (%s)", bot.name, code)
                # The answer does not need the Web API: the status is told all the same.
                answer = messages.status(bot, lang, state, result, user, age=fetched.age)
                respond(response_type="in_channel", **answer.kwargs())
                raise Refusal(
                    f"I could not post in this channel or message you ({code}), so I am not "
                    "watching this training. Ask again in a few minutes."
                ) from None
            if started.existing:
                respond(
                    **messages.already_watching(
                        started.watch, _permalink(client, started.watch)
                    ).kwargs()
                )
            elif started.watch.thread_channel != channel:
                respond(**messages.moved_to_dm(channel).kwargs())


def _status(services: Services, bot: Bot, language: str, state: State) -> Fetched:
    """The training's status: its watch's last poll while one is due soon, else the gateway's."""
    try:
        watched = services.engine.watched_status(bot, language, state)
    except DATABASE_DOWN:
        watched = None  # Kore.ai can still be asked
    if watched is not None:
        return watched
    try:
        return services.gateway.status(bot, language, state)
    except KoreError as error:
        raise Refusal(str(error)) from None


def _target(
    services: Services, name: str, language: str | None, channel: str, user: str
) -> tuple[Bot, str]:
    """Resolve the bot and language, applying the bot's access rules."""
    try:
        bot = services.gateway.registry.resolve(name, allow_raw_id=services.allow_raw_ids)
    except InvalidInput as error:
        raise Refusal(f"{error} See `/faq-status bots`.") from None
    if bot.channels and channel not in bot.channels:
        raise Refusal(
            f"{bot.name} can't be asked about in this channel (the configuration allows "
            "other channels); ask an admin."
        )
    if bot.users and user not in bot.users:
        raise Refusal(f"You are not on the list of people who may ask about {bot.name}.")
    if language is None:
        if not bot.languages:
            raise Refusal(f"Say which language: `/faq-status {bot.name} en`.")
        language = bot.languages[0]
    return bot, language


def _permalink(client: WebClient, watch: WatchView) -> str | None:
    if not (watch.thread_channel and watch.thread_ts):
        return None
    try:
        response = client.chat_getPermalink(
            channel=watch.thread_channel, message_ts=watch.thread_ts
        )
    except SlackApiError as error:
        log.info("No permalink for watch %d: %s", watch.watch_id, slack_error(error))
        return None
    link = response.get("permalink")
    return link if isinstance(link, str) else None
