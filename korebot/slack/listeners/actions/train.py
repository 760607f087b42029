"""The confirmation's buttons: **Train now** starts the training at most once; **Cancel**.

A click is checked again as the command was (the configuration may have changed, and a
button's payload can be replayed), then claims its request in the database: only the
one click that wins the claim goes on, and every other is told it was handled. The
winner asks for the status first: a training already running is joined, not started
again. The train POST is never retried: when its answer is lost (timeout, 5xx), the
status says what happened, and a new confirmation is offered if nothing runs.

One start per training, whoever confirms: a claim also takes the training's start in the
database (``claim_start``), so of two trainers confirming their own requests for
the same training at once, one POSTs; the other's click follows it (``_follow``): it
waits in the database for that start to end, asks for the status and joins the watch.
A request left starting by a process that died is taken over by the periodic sweep
(``sweep_train_requests``): status first, never a POST.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Respond

from korebot.errors import DatabaseUnavailable
from korebot.kore import JobStatus, Kind, KoreError, KoreUnavailable, KoreUnreachable, Status
from korebot.registry import Bot
from korebot.slack import training_messages
from korebot.slack.kinds import command as command_of
from korebot.slack.listeners.actions.publish import take_over as take_over_publish
from korebot.slack.listeners.commands.batch_test import take_over as take_over_run
from korebot.slack.listeners.commands.status import begin_watch
from korebot.slack.listeners.commands.train import may_train, offer
from korebot.slack.listeners.common import Refusal, answering, clicked, requested_bot
from korebot.slack.listeners.context import Services
from korebot.slack.messages import Message
from korebot.slack.notifier import SlackNotifier
from korebot.watch.engine import STALE_AFTER
from korebot.watch.types import StartRequestView, StartState, Via, WatchRequest

log = logging.getLogger(__name__)

LOST = "I stopped before Kore.ai's answer to the start was recorded."
#: Seconds between two sweeps for requests left starting (every process sweeps; the
#: database gives each request to one): one is taken over within STALE_AFTER + this.
SWEEP_EVERY = 30.0


def _request(services: Services, user: str, token: str) -> tuple[StartRequestView, Bot]:
    """The click's request and its bot, with the asker's rules checked again now."""
    request = services.engine.start_request(token) if token else None
    if request is None:
        raise Refusal("I don't know this confirmation; ask again with `train BOT LANG`.")
    if user != request.user_id:
        raise Refusal("This confirmation is someone else's; ask for your own with `train`.")
    bot = requested_bot(services, request, user)
    may_train(services, bot, user)
    return request, bot


def cancel_train(
    services: Services, body: dict[str, Any], action: dict[str, Any], respond: Respond
) -> None:
    with answering(respond, "the Cancel button", replace_original=False):
        user, token = clicked(body, action)
        request, _ = _request(services, user, token)
        now, cancelled = services.engine.cancel_start_request(token)
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
        user, token = clicked(body, action)
        _, bot = _request(services, user, token)
        claim = services.engine.claim_start(token, user)
        claimed = claim.request
        if claimed is None:
            raise Refusal("I don't know this confirmation; ask again with `train BOT LANG`.")
        if claim.won:
            _start(_Attempt(services, claimed, bot, respond))
            return
        if claim.leader is not None:
            _follow(_Attempt(services, claimed, bot, respond), claim.leader)
            return
        if claimed.state is StartState.PENDING:  # the claim kept losing a race (rare)
            raise Refusal(
                "Another confirmation of this training was being handled at that moment; "
                "click *Train now* again."
            )
        if claimed.state is StartState.STARTING:
            # Its claimer died around the POST: whoever takes it over asks, never POSTs.
            taken = services.engine.reclaim_start_request(token, STALE_AFTER)
            if taken is not None:
                _answer_lost(_Attempt(services, taken, bot, respond), LOST)
                return
        key = claimed.key
        if claimed.state is StartState.EXPIRED:
            name = command_of(key.kind)
            answer = training_messages.expired(key.kind, claimed.bot_name, key.language, name)
            respond(replace_original=True, **answer.kwargs())
        else:
            respond(replace_original=False, **training_messages.handled(claimed.state).kwargs())


@dataclass(frozen=True)
class _Attempt:
    """The one attempt of a claimed request: what finishing it and watching need."""

    services: Services
    request: StartRequestView
    bot: Bot
    #: The click's ``Respond`` (the sweep, which has none, tells the user otherwise).
    respond: Callable[..., Any]

    def finish(self, state: StartState, result: str, watch_id: int | None = None) -> None:
        """Record how it ended on the request (the audit), and log it."""
        request, bot, key = self.request, self.bot, self.request.key
        self.services.engine.finish_start_request(request.request_id, state, result, watch_id)
        log.info(
            "Training from Slack: user=%s bot=%s (%s) language=%s kind=%s host=%s: %s (%s)",
            request.started_by or request.user_id, bot.name, bot.bot_id, key.language,
            key.kind.value, bot.host, state.value, result,
        )  # fmt: skip

    def watch(self, status: JobStatus, via: Via) -> int:
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

    def finish_watching(self, state: StartState, result: str, status: JobStatus, via: Via) -> None:
        """Watch it, then finish the request with its watch; finished without one (and the
        refusal raised) if it cannot be watched, so that it never stays starting: a click
        following it, or the sweep, would otherwise wait for it."""
        try:
            watch_id = self.watch(status, via)
        except Refusal as refusal:
            self.finish(state, f"{result}; not watched: {refusal}")
            raise
        self.finish(state, result, watch_id)

    def tell(self, answer: Message) -> None:
        self.respond(replace_original=True, **answer.kwargs())

    def status(self) -> JobStatus:
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
        attempt.finish(StartState.FAILED, f"status unknown: {error}")
        raise Refusal(f"Nothing was started: I could not check the status first. {error}") from None
    if before.status is Status.IN_PROGRESS:
        attempt.finish_watching(StartState.JOINED, before.message, before, Via.ASK)
        attempt.tell(training_messages.already_running(kind, bot.name, language))
        return
    try:
        started = attempt.services.gateway.start_training(bot, language, kind)
    except (KoreUnreachable, KoreUnavailable) as error:
        _answer_lost(attempt, str(error))
        return
    except KoreError as error:  # refused: nothing started
        attempt.finish(StartState.FAILED, str(error))
        reason = training_messages.refused(error, bot, language)
        attempt.tell(training_messages.not_started(kind, bot.name, language, reason))
        return
    attempt.finish_watching(StartState.STARTED, started.message, started, Via.TRAIN)
    attempt.tell(training_messages.started_elsewhere(kind, bot.name, language))


def _answer_lost(attempt: _Attempt, error: str) -> None:
    """The POST may or may not have started it: never POST again, ask the status."""
    request, bot = attempt.request, attempt.bot
    kind, language = request.key.kind, request.key.language
    log.warning("Train POST for %s (%s) got no answer: %s", bot.name, language, error)
    try:
        now = attempt.status()
    except KoreError as status_error:
        attempt.finish(StartState.UNKNOWN, f"{error}; status unknown: {status_error}")
        raise Refusal(
            f"Kore.ai did not answer my request to start {bot.name} ({language}), and I "
            f"cannot tell whether it started ({status_error}). Check with "
            f"`{command_of(kind)} {bot.name} {language}` before trying again."
        ) from None
    if now.status is Status.IN_PROGRESS:
        # A follower (its click joined another's start) did not start it: it asked.
        via = Via.ASK if request.follows is not None else Via.TRAIN
        attempt.finish_watching(StartState.UNKNOWN, f"{error}; then running", now, via)
        attempt.tell(training_messages.started_elsewhere(kind, bot.name, language))
        return
    attempt.finish(StartState.UNKNOWN, f"{error}; then not running")
    reason = f"{error} No training is running now."
    attempt.tell(training_messages.not_started(kind, bot.name, language, reason))
    team, channel, user = request.team_id, request.channel_id, request.user_id
    offer(attempt.services, team, channel, user, bot, language, kind, attempt.respond)


def _follow(attempt: _Attempt, leader: StartRequestView) -> None:
    """Another request held the training's start when this one was claimed: never POST.

    Wait, reading the database, until that request has left starting (its start ended,
    one way or the other) or is presumed dead (STALE_AFTER after its claim, as for a
    reclaim), then ask for the status: running, this request's channel and user join its
    watch (as an ask would); else nothing is started, and the user is offered a fresh
    confirmation. So the follower ends up in the watch whenever the leader's start runs,
    whichever finishes first, in whatever process.
    """
    now = attempt.services.engine.wait_for_start(leader, STALE_AFTER)
    request, bot = attempt.request, attempt.bot
    kind, language = request.key.kind, request.key.language
    starter = now.started_by or now.user_id
    leader_said = f"request {now.request_id}, {now.state.value}: {now.result or 'no answer yet'}"
    try:
        status = attempt.status()
    except KoreError as error:
        attempt.finish(StartState.FAILED, f"followed {leader_said}; status unknown: {error}")
        raise Refusal(
            f"Someone was starting {bot.name} ({language}) at the same moment, and I cannot "
            f"tell whether it runs ({error}). Check with "
            f"`{command_of(kind)} {bot.name} {language}`."
        ) from None
    if status.status is Status.IN_PROGRESS:
        attempt.finish_watching(StartState.JOINED, f"followed {leader_said}", status, Via.ASK)
        if now.state in (StartState.STARTED, StartState.UNKNOWN):
            attempt.tell(training_messages.just_started(kind, bot.name, language, starter))
        else:  # it found one running, or its claimer died: someone else started it
            attempt.tell(training_messages.already_running(kind, bot.name, language))
        return
    attempt.finish(StartState.FAILED, f"followed {leader_said}; then not running")
    outcome = training_messages.handled_as(now.state)
    attempt.tell(training_messages.started_by_nobody(kind, bot.name, language, starter, outcome))
    team, channel, user = request.team_id, request.channel_id, request.user_id
    offer(attempt.services, team, channel, user, bot, language, kind, attempt.respond)


def sweep_train_requests(services: Services, notifier: SlackNotifier) -> int:
    """Take over the requests left starting by a claimer that died (STALE_AFTER after
    their claim, ``take_stale_start_requests``: one process takes each); how many.

    Status first, never a POST. Running: the request's channel watches it, mentioning its
    starter (or joins its watch). Not running, or not knowable: the request is finished as
    unknown, and its starter is told (ephemerally in its channel, by DM if korebot cannot
    post there) that nothing runs and they may ask again.
    """
    try:
        taken = services.engine.take_stale_start_requests(STALE_AFTER)
    except DatabaseUnavailable as error:
        log.warning("Database unavailable, will sweep the train requests later: %s", error.orig)
        return 0
    for request in taken:
        try:
            if request.key.kind is Kind.BATCH:
                take_over_run(services, notifier, request)
            elif request.key.kind is Kind.PUBLISH:
                take_over_publish(services, notifier, request)
            else:
                _take_over(services, notifier, request)
        except Exception:  # it is starting still, with its claim renewed: swept again later
            log.exception("Could not take over train request %d", request.request_id)
    return len(taken)


def _take_over(services: Services, notifier: SlackNotifier, request: StartRequestView) -> None:
    key, user = request.key, request.started_by or request.user_id
    kind, language, name = key.kind, key.language, request.bot_name

    def tell(message: Message) -> None:
        notifier.tell_user(request.channel_id, user, message)

    try:
        bot = requested_bot(services, request, user)
    except Refusal as refusal:
        services.engine.finish_start_request(
            request.request_id, StartState.UNKNOWN, f"{LOST} Not checked: {refusal}"
        )
        tell(training_messages.not_started(kind, name, language, f"{LOST} {refusal}"))
        return
    attempt = _Attempt(services, request, bot, lambda **_answer: None)
    try:
        now = attempt.status()
    except KoreError as error:
        attempt.finish(StartState.UNKNOWN, f"{LOST} Status unknown: {error}")
        reason = (
            f"{LOST} I cannot tell whether it started ({error}). Check with "
            f"`{command_of(kind)} {name} {language}` before trying again."
        )
        tell(training_messages.not_started(kind, name, language, reason))
        return
    if now.status is Status.IN_PROGRESS:
        via = Via.ASK if request.follows is not None else Via.TRAIN
        try:
            attempt.finish_watching(StartState.UNKNOWN, f"{LOST} Then running", now, via)
        except Refusal as refusal:  # it runs, but cannot be watched there: say why
            tell(training_messages.not_watched(kind, name, language, str(refusal)))
        return
    attempt.finish(StartState.UNKNOWN, f"{LOST} Then not running")
    tell(training_messages.not_running_after_restart(kind, name, language, command_of(kind)))
