"""The confirmation's buttons: **Train now** starts the training at most once; **Cancel**.

A click is checked again as the command was (the configuration may have changed, and a
button's payload can be replayed), then claims its request in the database: only the
one click that wins the claim goes on, and every other is told it was handled. The
winner asks for the status first: a training already running is joined, not started
again. The train POST is never retried: when its answer is lost (timeout, 5xx), the
status says what happened, and a new confirmation is offered if nothing runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Respond

from korebot.kore import KoreError, KoreUnavailable, KoreUnreachable, Status, TrainingStatus
from korebot.registry import Bot, TrainingKey
from korebot.slack import parsing, training_messages
from korebot.slack.kinds import command as command_of
from korebot.slack.listeners.commands.status import begin_watch
from korebot.slack.listeners.commands.train import may_train, offer
from korebot.slack.listeners.common import Refusal, answering, target
from korebot.slack.listeners.context import Services
from korebot.watch.contract import TrainRequestView
from korebot.watch.model import TrainState, Via, WatchRequest

log = logging.getLogger(__name__)


def _clicked(body: dict[str, Any], action: dict[str, Any]) -> tuple[str, str]:
    return (body.get("user") or {}).get("id", ""), str(action.get("value") or "")


def _request(services: Services, user: str, token: str) -> tuple[TrainRequestView, Bot]:
    """The click's request and its bot, with the asker's rules checked again now."""
    request = services.engine.store.train_request(token) if token else None
    if request is None:
        raise Refusal("I don't know this confirmation; ask again with `train BOT LANG`.")
    if user != request.user_id:
        raise Refusal("This confirmation is someone else's; ask for your own with `train`.")
    key = request.key
    asked = parsing.Train(request.bot_name, key.language, key.state)
    bot, _ = target(services, asked, request.channel_id, user, key.kind)
    if TrainingKey.of(bot, key.language, key.state, key.kind) != key:
        raise Refusal(f"{bot.name} is configured differently now; ask again.")
    may_train(services, bot, user)
    return request, bot


def cancel_train(
    services: Services, body: dict[str, Any], action: dict[str, Any], respond: Respond
) -> None:
    with answering(respond, "the Cancel button", replace_original=False):
        user, token = _clicked(body, action)
        request, _ = _request(services, user, token)
        now, cancelled = services.engine.store.cancel_train_request(token)
        key = request.key
        if cancelled:
            answer = training_messages.cancelled(key.kind, request.bot_name, key.language)
            respond(replace_original=True, **answer.kwargs())
        elif now is not None:
            respond(replace_original=False, **training_messages.handled(now.state).kwargs())


def train_now(
    services: Services, body: dict[str, Any], action: dict[str, Any], respond: Respond
) -> None:
    with answering(respond, "the Train now button", replace_original=False):
        user, token = _clicked(body, action)
        _, bot = _request(services, user, token)
        claimed, won = services.engine.store.claim_train_request(token, user)
        if claimed is None:
            raise Refusal("I don't know this confirmation; ask again with `train BOT LANG`.")
        if won:
            _start(services, claimed, bot, respond)
            return
        key = claimed.key
        if claimed.state is TrainState.EXPIRED:
            name = command_of(key.kind)
            answer = training_messages.expired(key.kind, claimed.bot_name, key.language, name)
            respond(replace_original=True, **answer.kwargs())
        else:
            respond(replace_original=False, **training_messages.handled(claimed.state).kwargs())


def _start(services: Services, request: TrainRequestView, bot: Bot, respond: Respond) -> None:
    """The claimed request's one attempt: join a running training, or POST once."""
    store, key, user = services.engine.store, request.key, request.user_id
    kind, language = key.kind, key.language

    def finish(state: TrainState, result: str, watch_id: int | None = None) -> None:
        store.finish_train_request(request.request_id, state, result, watch_id)
        log.info(
            "Training from Slack: user=%s bot=%s (%s) language=%s kind=%s host=%s: %s (%s)",
            user, bot.name, bot.bot_id, language, kind.value, bot.host, state.value, result,
        )  # fmt: skip

    def watch(status: TrainingStatus, via: Via) -> int:
        watched = WatchRequest(
            request.team_id, request.channel_id, user, bot, language, key.state, kind, via
        )
        return begin_watch(services, watched, status).watch.watch_id

    try:
        before = services.gateway.status(bot, language, key.state, "poll", kind).status
    except KoreError as error:
        finish(TrainState.FAILED, f"status unknown: {error}")
        raise Refusal(f"Nothing was started: I could not check the status first. {error}") from None
    if before.status is Status.IN_PROGRESS:
        finish(TrainState.JOINED, before.message, watch(before, Via.ASK))
        answer = training_messages.already_running(kind, bot.name, language)
        respond(replace_original=True, **answer.kwargs())
        return
    try:
        started = services.gateway.start_training(bot, language, kind)
    except (KoreUnreachable, KoreUnavailable) as error:
        _answer_lost(services, request, bot, respond, str(error), finish, watch)
        return
    except KoreError as error:  # refused: nothing started
        finish(TrainState.FAILED, str(error))
        reason = training_messages.refused(error, bot, language)
        answer = training_messages.not_started(kind, bot.name, language, reason)
        respond(replace_original=True, **answer.kwargs())
        return
    finish(TrainState.STARTED, started.message, watch(started, Via.TRAIN))
    answer = training_messages.started_elsewhere(kind, bot.name, language)
    respond(replace_original=True, **answer.kwargs())


def _answer_lost(
    services: Services,
    request: TrainRequestView,
    bot: Bot,
    respond: Respond,
    error: str,
    finish: Callable[..., None],
    watch: Callable[[TrainingStatus, Via], int],
) -> None:
    """The POST may or may not have started it: never POST again, ask the status."""
    key, kind, language = request.key, request.key.kind, request.key.language
    log.warning("Train POST for %s (%s) got no answer: %s", bot.name, language, error)
    try:
        now = services.gateway.status(bot, language, key.state, "poll", kind).status
    except KoreError as status_error:
        finish(TrainState.UNKNOWN, f"{error}; status unknown: {status_error}")
        raise Refusal(
            f"Kore.ai did not answer my request to start {bot.name} ({language}), and I "
            f"cannot tell whether it started ({status_error}). Check with "
            f"`{command_of(kind)} {bot.name} {language}` before trying again."
        ) from None
    if now.status is Status.IN_PROGRESS:
        finish(TrainState.UNKNOWN, f"{error}; then running", watch(now, Via.TRAIN))
        answer = training_messages.started_elsewhere(kind, bot.name, language)
        respond(replace_original=True, **answer.kwargs())
        return
    finish(TrainState.UNKNOWN, f"{error}; then not running")
    reason = f"Kore.ai did not answer ({error}) and no training is running."
    answer = training_messages.not_started(kind, bot.name, language, reason)
    respond(replace_original=True, **answer.kwargs())
    offer(
        services, request.team_id, request.channel_id, request.user_id, bot, language, kind, respond
    )
