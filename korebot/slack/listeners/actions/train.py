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
from dataclasses import dataclass
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
from korebot.slack.messages import Message
from korebot.watch.types import TrainRequestView, TrainState, Via, WatchRequest

log = logging.getLogger(__name__)

#: Seconds after which a request still starting is its dead claimer's (a train POST
#: waits KORE_TIMEOUT at most, 10 s by default).
STALE_AFTER = 120.0
LOST = "I stopped before Kore.ai's answer to the start was recorded."


def _clicked(body: dict[str, Any], action: dict[str, Any]) -> tuple[str, str]:
    return (body.get("user") or {}).get("id", ""), str(action.get("value") or "")


def _request(services: Services, user: str, token: str) -> tuple[TrainRequestView, Bot]:
    """The click's request and its bot, with the asker's rules checked again now."""
    request = services.engine.train_request(token) if token else None
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
        now, cancelled = services.engine.cancel_train_request(token)
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
        claimed, won = services.engine.claim_train_request(token, user)
        if claimed is None:
            raise Refusal("I don't know this confirmation; ask again with `train BOT LANG`.")
        if won:
            _start(_Attempt(services, claimed, bot, respond))
            return
        if claimed.state is TrainState.STARTING:
            # Its claimer died around the POST: whoever takes it over asks, never POSTs.
            taken = services.engine.reclaim_train_request(token, STALE_AFTER)
            if taken is not None:
                _answer_lost(_Attempt(services, taken, bot, respond), LOST)
                return
        key = claimed.key
        if claimed.state is TrainState.EXPIRED:
            name = command_of(key.kind)
            answer = training_messages.expired(key.kind, claimed.bot_name, key.language, name)
            respond(replace_original=True, **answer.kwargs())
        else:
            respond(replace_original=False, **training_messages.handled(claimed.state).kwargs())


@dataclass(frozen=True)
class _Attempt:
    """The one attempt of a claimed request: what finishing it and watching need."""

    services: Services
    request: TrainRequestView
    bot: Bot
    respond: Respond

    def finish(self, state: TrainState, result: str, watch_id: int | None = None) -> None:
        """Record how it ended on the request (the audit), and log it."""
        request, bot, key = self.request, self.bot, self.request.key
        self.services.engine.finish_train_request(request.request_id, state, result, watch_id)
        log.info(
            "Training from Slack: user=%s bot=%s (%s) language=%s kind=%s host=%s: %s (%s)",
            request.started_by or request.user_id, bot.name, bot.bot_id, key.language,
            key.kind.value, bot.host, state.value, result,
        )  # fmt: skip

    def watch(self, status: TrainingStatus, via: Via) -> int:
        """Watch the training for the request's channel, mentioning its starter; the watch."""
        request, key = self.request, self.request.key
        watched = WatchRequest(
            request.team_id,
            request.channel_id,
            request.user_id,
            self.bot,
            key.language,
            key.state,
            key.kind,
            via,
        )
        return begin_watch(self.services, watched, status).watch.watch_id

    def tell(self, answer: Message) -> None:
        self.respond(replace_original=True, **answer.kwargs())

    def status(self) -> TrainingStatus:
        """A fresh status (not one cached from before the POST)."""
        key = self.request.key
        return self.services.gateway.status(
            self.bot, key.language, key.state, "poll", key.kind
        ).status


def _start(attempt: _Attempt) -> None:
    """The claimed request's one attempt: join a running training, or POST once."""
    bot, key = attempt.bot, attempt.request.key
    kind, language = key.kind, key.language
    try:
        before = attempt.status()
    except KoreError as error:
        attempt.finish(TrainState.FAILED, f"status unknown: {error}")
        raise Refusal(f"Nothing was started: I could not check the status first. {error}") from None
    if before.status is Status.IN_PROGRESS:
        attempt.finish(TrainState.JOINED, before.message, attempt.watch(before, Via.ASK))
        attempt.tell(training_messages.already_running(kind, bot.name, language))
        return
    try:
        started = attempt.services.gateway.start_training(bot, language, kind)
    except (KoreUnreachable, KoreUnavailable) as error:
        _answer_lost(attempt, str(error))
        return
    except KoreError as error:  # refused: nothing started
        attempt.finish(TrainState.FAILED, str(error))
        reason = training_messages.refused(error, bot, language)
        attempt.tell(training_messages.not_started(kind, bot.name, language, reason))
        return
    attempt.finish(TrainState.STARTED, started.message, attempt.watch(started, Via.TRAIN))
    attempt.tell(training_messages.started_elsewhere(kind, bot.name, language))


def _answer_lost(attempt: _Attempt, error: str) -> None:
    """The POST may or may not have started it: never POST again, ask the status."""
    request, bot = attempt.request, attempt.bot
    kind, language = request.key.kind, request.key.language
    log.warning("Train POST for %s (%s) got no answer: %s", bot.name, language, error)
    try:
        now = attempt.status()
    except KoreError as status_error:
        attempt.finish(TrainState.UNKNOWN, f"{error}; status unknown: {status_error}")
        raise Refusal(
            f"Kore.ai did not answer my request to start {bot.name} ({language}), and I "
            f"cannot tell whether it started ({status_error}). Check with "
            f"`{command_of(kind)} {bot.name} {language}` before trying again."
        ) from None
    if now.status is Status.IN_PROGRESS:
        attempt.finish(TrainState.UNKNOWN, f"{error}; then running", attempt.watch(now, Via.TRAIN))
        attempt.tell(training_messages.started_elsewhere(kind, bot.name, language))
        return
    attempt.finish(TrainState.UNKNOWN, f"{error}; then not running")
    reason = f"{error} No training is running now."
    attempt.tell(training_messages.not_started(kind, bot.name, language, reason))
    team, channel, user = request.team_id, request.channel_id, request.user_id
    offer(attempt.services, team, channel, user, bot, language, kind, attempt.respond)
