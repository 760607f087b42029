"""The Home tab's controls: "Watch in a channel…" and a trainer's "Train…".

A Home tab has no channel and no response_url: each click's outcome is told by
republishing the tab with a notice line on top. Both go through the command path's
checks (the bot's channel and user rules, the per-user limit, the trainers) and do
what the command does: the watch of `/faq-status BOT LANG` in the chosen channel, or
the confirmation of `/faq-status train BOT LANG`, posted in the user's DM with the app
(its Train now/Cancel buttons are the usual ones and work there).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from korebot.errors import DatabaseUnavailable
from korebot.kore import Kind, State, Status
from korebot.registry import Bot
from korebot.slack import messages, parsing
from korebot.slack.kinds import label
from korebot.slack.listeners.commands.status import begin_watch, current_status
from korebot.slack.listeners.commands.train import may_train, offer
from korebot.slack.listeners.common import (
    DATABASE_UNAVAILABLE,
    FAILED,
    Refusal,
    target,
    within_limit,
)
from korebot.slack.listeners.context import Services
from korebot.slack.listeners.home_tab import publish_home
from korebot.slack.notifier import slack_error
from korebot.watch.types import WatchRequest

log = logging.getLogger(__name__)


def _who(body: dict[str, Any]) -> tuple[str, str]:
    user = body.get("user") or {}
    team = (body.get("team") or {}).get("id") or user.get("team_id") or ""
    return str(team), str(user.get("id") or "")


def _training(ref: str) -> tuple[str, str, Kind, State]:
    """The (bot, language, kind, state) a control names (``HomeTraining.ref``)."""
    try:
        bot, language, kind, state = ref.split("|")
        return bot, language, Kind(kind), State(state)
    except ValueError:
        raise Refusal("I don't know this training; open the Home tab again.") from None


def _outcome(what: str, work: Callable[[], str]) -> str:
    """The notice for a click: what ``work`` did, or why it could not."""
    try:
        return work()
    except Refusal as refusal:
        return f":no_entry: {refusal}"
    except DatabaseUnavailable as error:
        log.warning("Database unavailable answering %s: %s", what, error.orig)
        return f":warning: {DATABASE_UNAVAILABLE}"
    except SlackApiError as error:  # a post the click needed (the channel, the DM)
        code = slack_error(error)
        log.warning("Slack refused a post answering %s: %s", what, code)
        return f":warning: Slack refused my message there ({code}); invite me, or try again."
    except Exception:
        log.exception("Unexpected error answering %s", what)
        return f":warning: {FAILED}"


def watch_in_channel(
    services: Services, body: dict[str, Any], action: dict[str, Any], client: WebClient
) -> None:
    team, user = _who(body)

    def work() -> str:
        channel = str(action.get("selected_conversation") or "")
        if not channel:
            raise Refusal("Pick a channel to watch it in.")
        within_limit(services, team, user)
        block = str(action.get("block_id") or "")
        name, language, kind, state = _training(block.partition("|")[2])
        asked = parsing.AskStatus(name, language, state)
        bot, language = target(services, asked, channel, user, kind)
        request = WatchRequest(team, channel, user, bot, language, state, kind)
        return _watch(services, client, request)

    publish_home(services, client, team, user, _outcome("the Home tab's watch", work))


def _watch(services: Services, client: WebClient, request: WatchRequest) -> str:
    """What `/faq-status BOT LANG` does in the request's channel, said as a notice."""
    bot, channel = request.bot, request.channel_id
    fetched = current_status(services, bot, request.language, request.state, request.kind)
    result = fetched.status
    what = f"{label(request.kind)} training for {messages.escape(bot.name)}"
    what += f" ({messages.escape(request.language)})"
    if result.status is not Status.IN_PROGRESS:
        answer = messages.status(bot, request.language, request.state, result, request.user_id)
        client.chat_postMessage(channel=channel, **answer.kwargs())
        return f"{what} is not running, so nothing to watch: I posted its status in <#{channel}>."
    started = begin_watch(services, request, result)
    if started.existing:
        return f"{what} was already watched in <#{channel}>: you will be mentioned in its result."
    if started.watch.thread_channel != channel:
        return f"I can't post in <#{channel}> (invite me there); I am watching {what} in our DM."
    return f"Watching {what} in <#{channel}>: its result will be posted in the thread there."


def train_from_home(
    services: Services, body: dict[str, Any], action: dict[str, Any], client: WebClient
) -> None:
    team, user = _who(body)

    def work() -> str:
        within_limit(services, team, user)
        name, language, kind, _ = _training(str(action.get("value") or ""))
        # The confirmation goes to the user's DM with the app (im:write): its channel.
        dm = str(client.conversations_open(users=user)["channel"]["id"])
        asked = parsing.Train(name, language, State.CONFIGURED)
        bot, language = target(services, asked, dm, user, kind)
        may_train(services, bot, user)
        _offer(services, client, team, dm, user, bot, language, kind)
        return (
            f"I sent you the confirmation to start {label(kind)} training for "
            f"{messages.escape(bot.name)} ({messages.escape(language)}) in my Messages tab."
        )

    publish_home(services, client, team, user, _outcome("the Home tab's Train button", work))


def _offer(
    services: Services,
    client: WebClient,
    team: str,
    dm: str,
    user: str,
    bot: Bot,
    language: str,
    kind: Kind,
) -> None:
    def post(**answer: Any) -> None:
        client.chat_postMessage(channel=dm, **answer)

    offer(services, team, dm, user, bot, language, kind, post)
