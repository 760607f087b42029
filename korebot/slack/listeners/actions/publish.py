"""The publish confirmation's buttons: **Publish** publishes at most once; **Cancel**.

As for a training's confirmation (actions/train.py): the click is checked again (the
bot's rules, the publishers), then claims its request in the database, which also takes
the bot's one publish start: of any number of clicks, replays, publishers or processes,
one POSTs. The winner reads the status first: a publish already running is joined. The
POST is never retried: when its answer is lost (timeout, 5xx), the status says whether a
publish newer than the POST runs. Kore.ai's status call has no job id: the first job not
older than korebot's POST (less ``publish.CLOCK_SKEW``) is korebot's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from slack_bolt import Respond

from korebot.errors import DatabaseUnavailable
from korebot.kore import (
    JobStatus,
    Kind,
    KoreError,
    KoreUnavailable,
    KoreUnreachable,
    Status,
    UnreadableResponse,
)
from korebot.kore.kinds import publish
from korebot.registry import Bot
from korebot.slack import publish_messages
from korebot.slack.listeners.commands.publish_status import may_publish
from korebot.slack.listeners.commands.status import begin_watch
from korebot.slack.listeners.common import Refusal, answering, clicked, requested_bot
from korebot.slack.listeners.context import Services
from korebot.slack.notifier import SlackNotifier
from korebot.watch.engine import STALE_AFTER
from korebot.watch.types import StartRequestView, StartState, Via, WatchRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Mine:
    """Which publish is korebot's: the first not older than its POST (``publish.ours``),
    and never the job the status showed before the POST (``seen``), which a publish that
    ended just before it would otherwise pass for."""

    posted_at: datetime
    seen: str | None

    def own(self, status: JobStatus, bot: Bot) -> JobStatus:
        """korebot's publish as it follows it: with its POST's time and the languages of
        the published trainings it follows after success."""
        job = status.publish
        if job is None:
            return status
        return publish.as_status(replace(job, posted_at=self.posted_at, languages=bot.languages))

    def of(self, status: JobStatus) -> bool:
        job = status.publish
        return (
            job is not None
            and publish.ours(job, self.posted_at)
            and (self.seen is None or job.job_id != self.seen)
        )


def _request(services: Services, user: str, token: str) -> tuple[StartRequestView, Bot]:
    """The click's request and its bot, with the publisher's rights checked again now."""
    request = services.engine.start_request(token) if token else None
    if request is None or request.key.kind is not Kind.PUBLISH:
        raise Refusal("I don't know this confirmation; ask again with `publish BOT`.")
    if user != request.user_id:
        raise Refusal("This confirmation is someone else's; ask for your own with `publish`.")
    bot = requested_bot(services, request, user)
    may_publish(services, bot, user)
    return request, bot


def cancel_publish(
    services: Services, body: dict[str, Any], action: dict[str, Any], respond: Respond
) -> None:
    with answering(respond, "the Cancel button", replace_original=False):
        user, token = clicked(body, action)
        request, _ = _request(services, user, token)
        _, cancelled = services.engine.cancel_start_request(token)
        if cancelled:
            text = f"Publishing {request.bot_name} cancelled; nothing was sent."
            respond(replace_original=True, **publish_messages.answer(text).kwargs())
        else:
            _handled(services, token, respond)


def publish_now(
    services: Services, body: dict[str, Any], action: dict[str, Any], respond: Respond
) -> None:
    with answering(respond, "the Publish button", replace_original=False):
        user, token = clicked(body, action)
        _, bot = _request(services, user, token)
        engine = services.engine
        claim = engine.claim_start(token, user)
        if claim.request is None:
            raise Refusal("I don't know this confirmation; ask again with `publish BOT`.")
        if claim.won:
            _start(services, claim.request, bot, respond)
        elif claim.leader is not None:
            leader = engine.wait_for_start(claim.leader, STALE_AFTER)
            _follow(services, claim.request, leader, bot, respond)
        elif claim.request.state is StartState.PENDING:
            raise Refusal("Another publish of this bot was being handled; click *Publish* again.")
        else:
            _handled(services, token, respond)


def _handled(services: Services, token: str, respond: Respond) -> None:
    now = services.engine.start_request(token)
    state = now.state.value if now else "gone"
    if now is not None and now.state is StartState.EXPIRED:
        text = "This confirmation expired; ask again with `/publish-status publish BOT`."
    else:
        text = f"This confirmation was already handled ({state})."
    respond(replace_original=False, **publish_messages.answer(text).kwargs())


def _status(services: Services, bot: Bot) -> JobStatus:
    """A fresh status of the bot's latest publish (never one cached from before)."""
    return services.gateway.status(
        bot, publish.LANGUAGE, publish.STATE, "poll", Kind.PUBLISH
    ).status


def _watch(
    services: Services, request: StartRequestView, bot: Bot, status: JobStatus, via: Via
) -> int:
    watched = WatchRequest(
        request.team_id,
        request.channel_id,
        request.user_id,
        bot,
        publish.LANGUAGE,
        publish.STATE,
        Kind.PUBLISH,
        via,
    )
    return begin_watch(services, watched, status).watch.watch_id


def _finish(
    services: Services, request: StartRequestView, state: StartState, result: str, watch: int | None
) -> None:
    services.engine.finish_start_request(request.request_id, state, result, watch)
    log.info(
        "Publish from Slack: user=%s bot=%s (%s): %s (%s)",
        request.started_by or request.user_id, request.bot_name, request.key.bot_id,
        state.value, result,
    )  # fmt: skip


def _start(services: Services, request: StartRequestView, bot: Bot, respond: Respond) -> None:
    """The claimed request's one attempt: join a running publish, or POST once."""
    try:
        before = _status(services, bot)
    except KoreError as error:
        _finish(services, request, StartState.FAILED, f"status unknown: {error}", None)
        raise Refusal(
            f"Nothing was published: I could not read the status first. {error}"
        ) from None
    if before.status is Status.UNKNOWN and before.raw_status != publish.NEVER:
        _finish(services, request, StartState.FAILED, f"status {before.raw_status!r}", None)
        raise Refusal(
            f"Nothing was published: Kore.ai reports {bot.name}'s latest publish as "
            f"{before.raw_status!r}, which may be one still running. Check with "
            f"`/publish-status {bot.name}`."
        )
    if before.status is Status.IN_PROGRESS:
        _watching(services, request, bot, before, Via.ASK, StartState.JOINED, "joined")
        text = f"A publish of {bot.name} was already running: I watch it here instead."
        respond(replace_original=True, **publish_messages.answer(text).kwargs())
        return
    posted_at = services.engine.clock() - publish.CLOCK_SKEW
    seen = before.publish.job_id if before.publish else None
    comment = request.note or "Published from Slack"
    try:
        started = services.gateway.publish(bot, comment, train=True)
    except (KoreUnreachable, KoreUnavailable, UnreadableResponse) as error:
        # Its answer was lost (or unreadable): it may have started; never sent again.
        _lost(services, request, bot, respond, str(error), _Mine(posted_at, seen))
        return
    except KoreError as error:  # refused: nothing published
        _finish(services, request, StartState.FAILED, str(error), None)
        text = f"{bot.name} was not published: {error}"
        respond(replace_original=True, **publish_messages.answer(text).kwargs())
        return
    try:
        now = _status(services, bot)
    except KoreError:
        now = publish.placeholder(None)
    job = now.publish if _Mine(posted_at, seen).of(now) else None
    ours = publish.Publish(None, "inprogress", None, None, None, None, None, ())
    mine = replace(
        job or ours,
        awaiting=started.awaiting,
        comment=comment,
        posted_at=posted_at,
        languages=bot.languages,  # its published trainings, followed after success
        replaces=seen,
    )
    _watching(
        services, request, bot, publish.as_status(mine), Via.TRAIN, StartState.STARTED, "published"
    )
    text = f"Publishing {bot.name}: the result will come in the thread of my message."
    respond(replace_original=True, **publish_messages.answer(text).kwargs())


def _watching(
    services: Services,
    request: StartRequestView,
    bot: Bot,
    status: JobStatus,
    via: Via,
    state: StartState,
    said: str,
) -> int | None:
    """Watch the publish, then finish the request with its watch (without one, and the
    refusal raised, if it cannot be watched: it never stays starting)."""
    try:
        watch = _watch(services, request, bot, status, via)
    except Refusal as refusal:
        _finish(services, request, state, f"{said}; not watched: {refusal}", None)
        raise
    _finish(services, request, state, said, watch)
    return watch


def _lost(
    services: Services,
    request: StartRequestView,
    bot: Bot,
    respond: Respond,
    error: str,
    mine: _Mine,
) -> None:
    """The POST may or may not have reached Kore.ai: never sent again; the status says."""
    log.warning("Publish POST for %s got no answer: %s", bot.name, error)
    try:
        now = _status(services, bot)
    except KoreError as status_error:
        _finish(services, request, StartState.UNKNOWN, f"{error}; status unknown", None)
        raise Refusal(
            f"Kore.ai did not answer my request to publish {bot.name} ({error}), and I cannot "
            f"tell whether it started ({status_error}). Check with `/publish-status "
            f"{bot.name}` before trying again."
        ) from None
    if mine.of(now):
        said = f"{error}; then seen"
        _watching(services, request, bot, mine.own(now, bot), Via.TRAIN, StartState.UNKNOWN, said)
        text = f"Kore.ai was slow to answer, but {bot.name} is publishing: I watch it here."
    else:
        _finish(services, request, StartState.UNKNOWN, f"{error}; no publish seen", None)
        text = (
            f"Kore.ai did not answer my request to publish {bot.name} ({error}), and no "
            "publish newer than it shows: I will not send it again; ask again if you want."
        )
    respond(replace_original=True, **publish_messages.answer(text).kwargs())


def _follow(
    services: Services,
    request: StartRequestView,
    leader: StartRequestView,
    bot: Bot,
    respond: Respond,
) -> None:
    """Another confirmation held the bot's publish start: join what it started, never POST."""
    said = f"followed request {leader.request_id} ({leader.state.value})"
    try:
        now = _status(services, bot)
    except KoreError as error:
        _finish(services, request, StartState.FAILED, f"{said}; status unknown", None)
        raise Refusal(f"Someone was publishing {bot.name} at that moment: {error}") from None
    if now.status is Status.IN_PROGRESS:
        _watching(services, request, bot, now, Via.ASK, StartState.JOINED, said)
        starter = leader.started_by or leader.user_id
        text = f"<@{starter}> started publishing {bot.name} a moment ago: I watch it here."
    else:
        _finish(services, request, StartState.FAILED, f"{said}; not running", None)
        text = f"Someone published {bot.name} at that moment; nothing runs now."
    respond(replace_original=True, **publish_messages.answer(text).kwargs())


def take_over(services: Services, notifier: SlackNotifier, request: StartRequestView) -> None:
    """A publish request left starting by a process that died (the periodic sweep): the
    status says whether a publish newer than its claim runs; never a POST."""
    user = request.started_by or request.user_id
    try:
        bot = requested_bot(services, request, user)
        now = _status(services, bot)
    except (Refusal, KoreError, DatabaseUnavailable) as error:
        _finish(services, request, StartState.UNKNOWN, f"interrupted; not checked: {error}", None)
        text = (
            f"I was interrupted while publishing {request.bot_name} and cannot tell "
            f"whether it started ({error})."
        )
        notifier.tell_user(request.channel_id, user, publish_messages.answer(text))
        return
    claimed = (request.claimed_at or request.created_at) - publish.CLOCK_SKEW
    mine = _Mine(claimed, None)
    if mine.of(now):
        said = "interrupted; then seen"
        _watching(services, request, bot, mine.own(now, bot), Via.TRAIN, StartState.UNKNOWN, said)
        return
    _finish(services, request, StartState.UNKNOWN, "interrupted; no publish seen", None)
    text = (
        f"I was interrupted while publishing {request.bot_name}, and no publish newer than "
        "your click shows: I will not send it again; ask again if you want."
    )
    notifier.tell_user(request.channel_id, user, publish_messages.answer(text))
