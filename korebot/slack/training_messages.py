"""The messages of a training started from Slack: the confirmation, the refusal and the
answers to its buttons (korebot.slack.messages has the watch's own)."""

from __future__ import annotations

import math
import re

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ContextBlock, SectionBlock

from korebot.kore import BadRequest, Kind, KoreError, RateLimited
from korebot.kore.errors import BudgetExhausted
from korebot.registry import Bot
from korebot.slack.kinds import label
from korebot.slack.messages import Message, escape
from korebot.watch.types import StartState

TRAIN_ACTION = "train_now"
CANCEL_TRAIN_ACTION = "cancel_train"
#: The setting that grants it, named in refusals.
TRAINERS_SETTING = "KOREBOT_TRAINERS"


def _plain(text: str, *context: str) -> Message:
    blocks: list[SectionBlock | ContextBlock] = [SectionBlock(text=text)]
    blocks += [ContextBlock(elements=[{"type": "mrkdwn", "text": line}]) for line in context]
    return Message(text=text, blocks=tuple(blocks))


def what(kind: Kind, bot: Bot | str, language: str) -> str:
    """ "FAQ training for support (en)"."""
    name = bot.name if isinstance(bot, Bot) else bot
    return f"{label(kind)} training for {escape(name)} ({escape(language)})"


def confirmation(bot: Bot, language: str, kind: Kind, token: str, minutes: int) -> Message:
    """Only to the asker: what would start, what happens next, and the two buttons."""
    training = what(kind, bot, language)
    text = (
        f"*Start {training}?*\n"
        f"Bot: *{escape(bot.name)}* (`{escape(bot.bot_id)}`) · language `{escape(language)}` · "
        f"{label(kind)} training · host `{escape(bot.host)}`\n"
        "If you click *Train now*, I check the status first: if a training is already "
        "running I start nothing and watch it here; otherwise I start one in Kore.ai, "
        "announce it in this channel and post its result in that message's thread."
    )
    return Message(
        text=f"Start {training}? Train now or Cancel (valid {minutes} minutes).",
        blocks=(
            SectionBlock(text=text),
            ContextBlock(
                elements=[
                    {"type": "mrkdwn", "text": f"This confirmation expires in {minutes} minutes."}
                ]
            ),
            ActionsBlock(
                elements=[
                    ButtonElement(
                        text="Train now", action_id=TRAIN_ACTION, value=token, style="primary"
                    ),
                    ButtonElement(text="Cancel", action_id=CANCEL_TRAIN_ACTION, value=token),
                ]
            ),
        ),
    )


def not_a_trainer(bot: Bot, trainers: tuple[str, ...]) -> str:
    """Why the asker may not start this bot's trainings, who may, and how an admin grants
    it (plain text: refusals are escaped as they are shown)."""
    who = ", ".join(trainers) if trainers else "nobody yet"
    where = (
        f"the `trainers` list of {bot.name} in the configuration file"
        if bot.trainers is not None
        else f"`{TRAINERS_SETTING}` (or a bot's `trainers` in the configuration file)"
    )
    return (
        f"You may not start trainings of {bot.name}. Who may (Slack user IDs): {who}. "
        f"An admin grants it by adding your Slack user ID to {where}."
    )


def cancelled(kind: Kind, bot_name: str, language: str) -> Message:
    return _plain(f"Cancelled: {what(kind, bot_name, language)} was not started.")


def expired(kind: Kind, bot_name: str, language: str, command: str) -> Message:
    return _plain(
        f"This confirmation has expired, so {what(kind, bot_name, language)} was not started. "
        f"Ask again: `{command} train {escape(bot_name)} {escape(language)}`."
    )


_HANDLED = {
    StartState.CANCELLED: "it was cancelled",
    StartState.EXPIRED: "it expired",
    StartState.STARTING: "it is being handled",
    StartState.STARTED: "the training was started",
    StartState.JOINED: "a training was already running and is watched",
    StartState.FAILED: "starting it failed",
    StartState.UNKNOWN: "it was sent to Kore.ai already",
}


def handled_as(state: StartState) -> str:
    """What became of a request, in a few words ("starting it failed")."""
    return _HANDLED.get(state, state.value)


def handled(state: StartState) -> Message:
    """Any click after the first: nothing more is sent."""
    return _plain(
        f"This confirmation was already used ({_HANDLED.get(state, state.value)}); "
        "nothing more is started."
    )


def already_running(kind: Kind, bot_name: str, language: str) -> Message:
    return _plain(
        f"{what(kind, bot_name, language)} is already running, so I started nothing; "
        "I am watching it in this channel and will post its result in the thread."
    )


def started_elsewhere(kind: Kind, bot_name: str, language: str) -> Message:
    return _plain(f"Started {what(kind, bot_name, language)}; its result will come in the thread.")


def just_started(kind: Kind, bot_name: str, language: str, starter: str) -> Message:
    """To a trainer whose confirmation came while another's was starting the same training."""
    return _plain(
        f"<@{escape(starter)}> just started {what(kind, bot_name, language)}, so I started "
        "nothing more; I am watching it in this channel, and you'll get its result in the "
        "thread."
    )


def started_by_nobody(
    kind: Kind, bot_name: str, language: str, starter: str, outcome: str
) -> Message:
    """To that trainer when the other start ended with nothing running."""
    return _plain(
        f":warning: {what(kind, bot_name, language)} was not started: <@{escape(starter)}> "
        f"was starting it at the same moment ({escape(outcome, 300)}), and no training is "
        "running now."
    )


def not_running_after_restart(kind: Kind, bot_name: str, language: str, command: str) -> Message:
    """To a trainer whose start was interrupted (korebot stopped around it), found later."""
    return _plain(
        f":warning: I stopped while starting {what(kind, bot_name, language)}, and no "
        "training of it is running now. Nothing more was sent to Kore.ai: ask again with "
        f"`{command} train {escape(bot_name)} {escape(language)}` to start one."
    )


def not_watched(kind: Kind, bot_name: str, language: str, reason: str) -> Message:
    """To a trainer whose interrupted start turned out running, but cannot be watched."""
    return _plain(
        f":warning: {what(kind, bot_name, language)} is running, but I am not watching it: "
        f"{escape(reason, 400)}"
    )


def not_started(kind: Kind, bot_name: str, language: str, reason: str) -> Message:
    return _plain(
        f":warning: {what(kind, bot_name, language)} was not started: {escape(reason, 400)}"
    )


def refused(error: KoreError, bot: Bot, language: str) -> str:
    """What a refused train POST means and what to do (plain: shown escaped)."""
    text = str(error)
    if isinstance(error, RateLimited | BudgetExhausted):
        wait = math.ceil(error.retry_after) if error.retry_after else 60
        return f"{text} Nothing was started; try again in {wait} s."
    if isinstance(error, BadRequest) and _PUBLISHING.search(text):
        return (
            f"{bot.name} is being published, and Kore.ai does not start a training meanwhile; "
            f"try again once publishing has ended. ({text})"
        )
    if isinstance(error, BadRequest) and _LANGUAGE.search(text):
        return (
            f"The language {language} is not enabled for {bot.name}: enable it in the bot "
            f"builder (or pick another), then ask again. ({text})"
        )
    return text


_PUBLISHING = re.compile(r"publish", re.IGNORECASE)
_LANGUAGE = re.compile(r"language", re.IGNORECASE)
