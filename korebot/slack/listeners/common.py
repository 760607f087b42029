"""What every listener shares: the ack, refusals, the answer to each failure, the per-user
command limit, and the bot a command names (with the bot's access rules).

Listeners raise `Refusal` for anything the asker should be told instead of an answer;
`answering` turns it, a database outage or any other failure into a private answer, so
nobody is left with silence or a traceback.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from slack_bolt import Ack, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from korebot.errors import DatabaseUnavailable
from korebot.kore import InvalidInput, Kind
from korebot.registry import Bot, JobKey
from korebot.slack import messages, parsing
from korebot.slack.kinds import command as command_of
from korebot.slack.listeners.context import Services
from korebot.slack.notifier import slack_error
from korebot.watch.types import ReleaseView, StartRequestView, WatchView

log = logging.getLogger(__name__)

DATABASE_UNAVAILABLE = (
    "My database is unavailable right now, so I can't do that; try again in a minute."
)
FAILED = "Something went wrong on my side; it has been logged. Try again in a minute."


class Refusal(Exception):
    """A reason to give the asker instead of an answer."""


def acknowledge(ack: Ack) -> None:
    """Runs in the request's own thread, so the ack never queues behind earlier work."""
    ack()


@contextmanager
def answering(respond: Respond, what: str, **extra: Any) -> Iterator[None]:
    """Answer the asker privately, instead of raising, if the block refuses or fails.

    ``what`` names the listener in the log; ``extra`` goes to `respond` (a button's
    answer must not replace the message the button is on).
    """
    try:
        yield
    except Refusal as refusal:
        _tell(respond, str(refusal), extra)
    except DatabaseUnavailable as error:
        # The database cannot be reached (refused, cut, locked): a clear answer, no traceback.
        log.warning("Database unavailable answering %s: %s", what, error.orig)
        _tell(respond, DATABASE_UNAVAILABLE, extra)
    except Exception:
        log.exception("Unexpected error answering %s", what)
        _tell(respond, FAILED, extra)


def _tell(respond: Respond, reason: str, extra: dict[str, Any]) -> None:
    respond(**extra, **messages.problem(reason, show_usage=False).kwargs())


def asked_by(command: dict[str, Any]) -> tuple[str, str, str]:
    """The team, channel and user of a slash command."""
    return command.get("team_id", ""), command.get("channel_id", ""), command.get("user_id", "")


def within_limit(services: Services, team: str, user: str) -> None:
    """Refuse a user's command beyond their commands per minute."""
    wait = services.commands.acquire((team, user), time.monotonic())
    if wait > 0:
        raise Refusal(f"That's a lot of commands in a minute; try again in {math.ceil(wait)} s.")


def target(
    services: Services,
    asked: parsing.Targeted,
    channel: str,
    user: str,
    kind: Kind = Kind.FAQ,
) -> tuple[Bot, str]:
    """Resolve the bot and language, applying the bot's access rules (``kind``: the
    command's, named in refusals)."""
    name = command_of(kind)
    try:
        bot = services.gateway.registry.resolve(asked.bot, allow_raw_id=services.allow_raw_ids)
    except InvalidInput as error:
        raise Refusal(f"{error} See `{name} bots`.") from None
    if bot.channels and channel not in bot.channels:
        raise Refusal(
            f"{bot.name} can't be asked about in this channel (the configuration allows "
            "other channels); ask an admin."
        )
    if bot.users and user not in bot.users:
        raise Refusal(f"You are not on the list of people who may ask about {bot.name}.")
    language = asked.language
    if language is None:
        if not bot.languages:
            raise Refusal(f"Say which language: `{name} {bot.name} en`.")
        language = bot.languages[0]
    return bot, language


def clicked(body: dict[str, Any], action: dict[str, Any]) -> tuple[str, str]:
    """Who clicked a button, and its value (a confirmation's token)."""
    return (body.get("user") or {}).get("id", ""), str(action.get("value") or "")


def requested_bot(services: Services, request: StartRequestView, user: str) -> Bot:
    """A start request's bot, with its rules checked for ``user`` now (Refusal if the
    configuration changed what the request names)."""
    key = request.key
    asked = parsing.Targeted(request.bot_name, key.language, key.state)
    bot, _ = target(services, asked, request.channel_id, user, key.kind)
    if JobKey.of(bot, key.language, key.state, key.kind, key.subject) != key:
        raise Refusal(f"{bot.name} is configured differently now; ask again.")
    return bot


def permalink(client: WebClient, item: WatchView | ReleaseView) -> str | None:
    """A link to a watch's message or a release's checklist, if Slack can link to it."""
    channel, ts = (
        (item.thread_channel, item.thread_ts)
        if isinstance(item, WatchView)
        else (item.message_channel, item.message_ts)
    )
    if not (channel and ts):
        return None
    try:
        response = client.chat_getPermalink(channel=channel, message_ts=ts)
    except SlackApiError as error:
        log.info("No permalink for %s in %s: %s", ts, channel, slack_error(error))
        return None
    link = response.get("permalink")
    return link if isinstance(link, str) else None
