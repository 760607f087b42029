"""A release's buttons: **Release** begins it at most once, **Cancel**, **Stop release**.

Release re-checks the click (the releaser's own confirmation, the bot's rules, the right
to train and publish), then begins the release in the database: one conditional UPDATE,
so of any number of clicks, replays or processes one begins it, and while another
release of the bot runs, none does (the clicker is pointed to its thread). The steps are
the engine's (korebot.watch.releasing): the next tick takes the first. Stop release asks
the engine to end it at its next look; what it started at Kore.ai goes on.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient

from korebot.kore import State
from korebot.registry import Bot
from korebot.slack import release_messages
from korebot.slack.listeners.commands.publish_status import may_release
from korebot.slack.listeners.common import Refusal, answering, clicked, permalink, target
from korebot.slack.listeners.context import Services
from korebot.slack.parsing import Targeted
from korebot.watch.types import ReleaseState, ReleaseView

log = logging.getLogger(__name__)


def _bot(services: Services, view: ReleaseView, user: str) -> Bot:
    """The release's bot, with its rules and the user's rights checked again now."""
    asked = Targeted(view.bot_name, view.language, State.CONFIGURED)
    bot, _ = target(services, asked, view.channel_id, user)
    if (bot.host, bot.bot_id) != (view.host, view.bot_id):
        raise Refusal(f"{bot.name} is configured differently now; ask again.")
    may_release(services, bot, user)
    return bot


def _mine(services: Services, user: str, token: str) -> ReleaseView:
    view = services.engine.release(token) if token else None
    if view is None:
        raise Refusal("I don't know this release; ask again with `/publish-status release`.")
    if user != view.user_id:
        raise Refusal("This confirmation is someone else's; ask for your own with `release`.")
    return view


def release_now(
    services: Services,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Respond,
    client: WebClient,
) -> None:
    with answering(respond, "the Release button", replace_original=False):
        user, token = clicked(body, action)
        view = _mine(services, user, token)
        _bot(services, view, user)
        begun = services.engine.begin_release(token)
        if begun.won:
            log.info(
                "Release from Slack: user=%s bot=%s (%s) %s suite=%r",
                user, view.bot_name, view.bot_id, view.language, view.suite,
            )  # fmt: skip
            text = (
                f"Releasing {view.bot_name} ({view.language}): the checklist comes in this "
                "channel, and each step in its thread."
            )
            respond(replace_original=True, **release_messages.answer(text).kwargs())
        elif begun.running is not None:
            link = permalink(client, begun.running)
            respond(
                replace_original=True,
                **release_messages.already_running(begun.running, link).kwargs(),
            )
        else:
            _handled(services, token, respond)


def cancel_release(
    services: Services, body: dict[str, Any], action: dict[str, Any], respond: Respond
) -> None:
    with answering(respond, "the Cancel button", replace_original=False):
        user, token = clicked(body, action)
        view = _mine(services, user, token)
        _, cancelled = services.engine.cancel_release(token)
        if cancelled:
            text = f"Release of {view.bot_name} cancelled; nothing was started."
            respond(replace_original=True, **release_messages.answer(text).kwargs())
        else:
            _handled(services, token, respond)


def stop_release(
    services: Services, body: dict[str, Any], action: dict[str, Any], respond: Respond
) -> None:
    """Anyone who may release the bot may stop its release."""
    with answering(respond, "the Stop release button", replace_original=False):
        user, token = clicked(body, action)
        view = services.engine.release(token) if token else None
        if view is None:
            raise Refusal("I don't know this release.")
        _bot(services, view, user)
        stopped = services.engine.stop_release(view.release_id, user)
        if stopped is None:
            text = "This release is not running any more, or was already asked to stop."
        else:
            text = (
                f"Stopping the release of {view.bot_name}: no further step starts; what it "
                "started at Kore.ai goes on."
            )
        respond(replace_original=False, **release_messages.answer(text).kwargs())


def _handled(services: Services, token: str, respond: Respond) -> None:
    now = services.engine.release(token)
    if now is not None and now.state is ReleaseState.PENDING:
        text = "This confirmation expired; ask again with `/publish-status release BOT LANG`."
    else:
        text = f"This confirmation was already handled ({now.state.value if now else 'gone'})."
    respond(replace_original=False, **release_messages.answer(text).kwargs())
