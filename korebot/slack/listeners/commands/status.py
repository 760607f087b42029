"""`/faq-status BOT LANG [state]` (or `/ml-status`): a training's status; if it is running,
watch it.

The status is told even when watching cannot start (the database or Slack is down, the
channel's limit is reached): only the watch needs them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from korebot.errors import DatabaseUnavailable
from korebot.gateway import Fetched
from korebot.kore import JobStatus, Kind, KoreError, State, Status
from korebot.registry import Bot, JobKey
from korebot.slack import history_messages, messages, parsing
from korebot.slack.kinds import command as command_of
from korebot.slack.listeners.common import (
    Refusal,
    answering,
    asked_by,
    permalink,
    target,
)
from korebot.slack.listeners.context import Services
from korebot.slack.notifier import slack_error
from korebot.watch.types import LimitReached, Started, Undeliverable, WatchRequest

log = logging.getLogger(__name__)


def ask_status(
    services: Services,
    asked: parsing.AskStatus,
    command: dict[str, Any],
    respond: Respond,
    client: WebClient,
    kind: Kind = Kind.FAQ,
) -> None:
    with answering(respond, command_of(kind)):
        team, channel, user = asked_by(command)
        bot, language = target(services, asked, channel, user, kind)
        fetched = current_status(services, bot, language, asked.state, kind)
        result = fetched.status

        def tell_status() -> None:
            answer = messages.status(bot, language, asked.state, result, user, age=fetched.age)
            respond(response_type="in_channel", **answer.kwargs())

        if result.status is not Status.IN_PROGRESS:
            tell_status()
            return
        request = WatchRequest(
            team_id=team,
            channel_id=channel,
            user_id=user,
            bot=bot,
            language=language,
            state=asked.state,
            kind=kind,
        )
        started = begin_watch(services, request, result, tell_status)
        if started.existing:
            link = permalink(client, started.watch)
            note = history_messages.usual_note(started.watch)
            respond(**messages.already_watching(started.watch, link, note).kwargs())
        elif started.watch.thread_channel != channel:
            respond(**messages.moved_to_dm(channel).kwargs())


def begin_watch(
    services: Services,
    request: WatchRequest,
    result: JobStatus,
    tell_status: Callable[[], None] = lambda: None,
) -> Started:
    """Watch a running training for the request's channel (or join its watch); if that
    cannot be, ``tell_status`` (the status is still worth telling) and refuse, saying why."""
    bot = request.bot
    try:
        return services.engine.watch(request, result)
    except LimitReached as error:
        raise Refusal(str(error)) from None
    except DatabaseUnavailable as error:
        log.warning("Database unavailable, not watching %s: %s", bot.name, error.orig)
        tell_status()
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
        tell_status()
        raise Refusal(
            f"I could not post in this channel or message you ({code}), so I am not "
            "watching this training. Ask again in a few minutes."
        ) from None


def current_status(
    services: Services, bot: Bot, language: str, state: State, kind: Kind
) -> Fetched:
    """The training's status: its watch's last poll while one is due soon, else the gateway's."""
    try:
        watched = services.engine.watched_status(JobKey.of(bot, language, state, kind))
    except DatabaseUnavailable:
        watched = None  # Kore.ai can still be asked
    if watched is not None:
        return watched
    try:
        return services.gateway.status(bot, language, state, kind=kind)
    except KoreError as error:
        raise Refusal(str(error)) from None
