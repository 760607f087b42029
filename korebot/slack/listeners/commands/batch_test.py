"""`/batch-test`: run a bot's batch test suite and watch the run; its suites, a suite's
history, subscriptions to a suite.

A run starts at most once, however many ask at once and in whatever process: the ask
is recorded as a start request and claimed at once (``claim_start``, as a confirmed
training is), so of the asks for one suite, language and version, one POSTs and the
others follow it and join its watch. A run korebot already follows is joined without
asking Kore.ai. The run POST is never retried: when its answer is lost, nothing is sent
again (a batch test run can only be looked up by the ID its POST answers), and the
asker is told. A command run again after a crash (durable.py) finds its own request
(its token is the command's) and never POSTs twice.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient

from korebot.kore import Kind, KoreError, KoreUnavailable, KoreUnreachable, State, Status
from korebot.kore.kinds import batch
from korebot.registry import Bot, JobKey
from korebot.slack import batch_messages, messages, parsing
from korebot.slack.listeners.commands.bots import list_bots
from korebot.slack.listeners.commands.list import list_watches
from korebot.slack.listeners.commands.status import begin_watch
from korebot.slack.listeners.common import (
    Refusal,
    answering,
    asked_by,
    permalink,
    target,
    within_limit,
)
from korebot.slack.listeners.context import Services
from korebot.slack.notifier import SlackNotifier
from korebot.watch.engine import STALE_AFTER
from korebot.watch.types import StartAsk, StartRequestView, StartState, Via, WatchRequest

log = logging.getLogger(__name__)

NAME = parsing.BATCH_COMMAND
#: Seconds an ask's start request may be claimed (it is claimed at once).
VALID_FOR = 60.0


def batch_command(
    services: Services,
    command: dict[str, Any],
    respond: Respond,
    client: WebClient,
    command_id: int | None = None,
) -> None:
    """The work of one `/batch-test` after its ack; ``command_id``: its durable record."""
    with answering(respond, NAME):
        team, _, user = asked_by(command)
        within_limit(services, team, user)
        match parsing.parse_batch(str(command.get("text", ""))):
            case parsing.Help():
                respond(**batch_messages.help_message().kwargs())
            case parsing.Invalid(reason):
                respond(**messages.problem(reason, kind=Kind.BATCH).kwargs())
            case parsing.ListBots():
                list_bots(services, respond)
            case parsing.ListWatches():
                list_watches(services, command, respond, client, Kind.BATCH)
            case parsing.Suites() as asked:
                bot, language = _bot(services, command, asked.bot, asked.language)
                listed = _suites(services, bot, language)
                respond(**batch_messages.suites(bot, language, listed).kwargs())
            case parsing.SuiteHistory() as asked:
                bot, language = _bot(services, command, asked.bot, asked.language)
                key = JobKey.of(bot, language, asked.state, Kind.BATCH, asked.suite)
                runs = services.engine.runs(key)
                answer = batch_messages.history(bot.name, language, asked.suite, asked.state, runs)
                respond(**answer.kwargs())
            case parsing.SubscribeSuite() as asked:
                _subscribe(services, asked, command, respond)
            case parsing.UnsubscribeSuite() as asked:
                _unsubscribe(services, asked, command, respond)
            case parsing.StopSuite() as asked:
                _stop(services, asked, command, respond)
            case parsing.RunSuite() as asked:
                _run(services, asked, command, respond, client, command_id)


def may_test(services: Services, bot: Bot, user: str) -> None:
    """Refuse a user who may not run the bot's suites: the bot's ``testers`` if the
    configuration file names them, else KOREBOT_TESTERS (empty: anyone who may ask)."""
    testers = bot.testers if bot.testers is not None else services.testers
    if testers and user not in testers:
        raise Refusal(
            f"You are not on the list of people who may run {bot.name}'s batch tests; an "
            "admin adds Slack user IDs to the bot's `testers` (or KOREBOT_TESTERS)."
        )


def _bot(services: Services, command: dict[str, Any], name: str, language: str) -> tuple[Bot, str]:
    """The bot and language, with the bot's access rules and its languages checked."""
    _, channel, user = asked_by(command)
    asked = parsing.Targeted(name, language, State.CONFIGURED)
    bot, language = target(services, asked, channel, user, Kind.BATCH)
    if bot.languages and language not in bot.languages:
        raise Refusal(
            f"{bot.name} has no language {language!r} configured; its languages: "
            f"{', '.join(bot.languages)}."
        )
    return bot, language


def _key(bot: Bot, language: str, asked: parsing.SuiteTargeted) -> JobKey:
    """The suite's job key, by the name as typed."""
    return JobKey.of(bot, language, asked.state, Kind.BATCH, asked.suite)


def _suites(services: Services, bot: Bot, language: str) -> tuple[batch.Suite, ...]:
    try:
        return services.gateway.suites(bot, language)
    except KoreError as error:
        raise Refusal(f"I could not list {bot.name}'s batch test suites: {error}") from None


def find_suite(services: Services, bot: Bot, language: str, name: str) -> batch.Suite:
    """The bot's suite of that name (its own spelling), or a refusal naming its suites."""
    listed = _suites(services, bot, language)
    if not listed:
        raise Refusal(
            f"{bot.name} has no batch test suites for {language} yet: create one in Kore.ai "
            "(Testing > Batch Testing)."
        )
    found = batch.find(listed, name)
    if found is None:
        raise Refusal(batch_messages.unknown_suite(bot, language, name, listed))
    return found


def _run(
    services: Services,
    asked: parsing.RunSuite,
    command: dict[str, Any],
    respond: Respond,
    client: WebClient,
    command_id: int | None,
) -> None:
    team, channel, user = asked_by(command)
    bot, language = _bot(services, command, asked.bot, asked.language)
    may_test(services, bot, user)
    engine = services.engine
    token = None if command_id is None else f"batch-command-{command_id}"
    earlier = None if token is None else engine.start_request(token)
    if earlier is not None and earlier.state is not StartState.PENDING:
        _again(services, earlier, bot, respond)  # run again after a crash: claimed before
        return
    running = engine.watched_status(_key(bot, language, asked))
    if running is not None:  # a run korebot follows: join it, no call to Kore.ai
        _join(services, team, channel, user, bot, language, asked, respond, client)
        return
    suite = find_suite(services, bot, language, asked.suite)
    key = JobKey.of(bot, language, asked.state, Kind.BATCH, suite.name)
    request = engine.record_start_request(
        StartAsk(team, channel, user, key, bot.name, VALID_FOR, token)
    )
    claim = engine.claim_start(request.token, user)
    if claim.won and claim.request is not None:
        # A start that ended between the first look and this claim left its run known.
        if engine.watched_status(key):
            _joined(services, claim.request, bot, respond, client, "a run was going")
            return
        _start(services, claim.request, bot, suite, respond)
    elif claim.leader is not None and claim.request is not None:
        leader = engine.wait_for_start(claim.leader, STALE_AFTER)
        _after_leader(services, claim.request, leader, bot, respond, client)
    else:
        _again(services, claim.request or request, bot, respond)


def _start(
    services: Services,
    request: StartRequestView,
    bot: Bot,
    suite: batch.Suite,
    respond: Respond,
) -> None:
    """The one POST of a claimed request, then the watch that follows the run."""
    key, engine = request.key, services.engine
    name = messages.what(Kind.BATCH, suite.name)
    previous = suite.previous(key.state, key.language)
    try:
        started = services.gateway.run_suite(bot, key, previous)
    except (KoreUnreachable, KoreUnavailable) as error:
        log.warning("Batch test run POST for %s got no answer: %s", bot.name, error)
        respond(**_lost(services, request, str(error)).kwargs())
        return
    except KoreError as error:  # refused: nothing started
        engine.finish_start_request(request.request_id, StartState.FAILED, str(error))
        respond(**batch_messages.not_started(name, str(error)).kwargs())
        return
    watch = WatchRequest(
        request.team_id,
        request.channel_id,
        request.user_id,
        bot,
        key.language,
        key.state,
        Kind.BATCH,
        Via.TRAIN,
        key.subject,
    )
    run_id = started.batch.request_id if started.batch else "?"
    try:
        begun = begin_watch(services, watch, started)
    except Refusal as refusal:
        engine.finish_start_request(
            request.request_id, StartState.STARTED, f"{run_id}; not watched: {refusal}"
        )
        raise
    engine.finish_start_request(
        request.request_id, StartState.STARTED, run_id, begun.watch.watch_id
    )
    log.info(
        "Batch test from Slack: user=%s bot=%s (%s) language=%s state=%s run=%s",
        request.user_id, bot.name, bot.bot_id, key.language, key.state.value, run_id,
    )  # fmt: skip
    if begun.watch.thread_channel != request.channel_id:
        respond(**messages.moved_to_dm(request.channel_id).kwargs())


def _after_leader(
    services: Services,
    request: StartRequestView,
    leader: StartRequestView,
    bot: Bot,
    respond: Respond,
    client: WebClient,
) -> None:
    """Another ask held the run's start: join what it started, never POST."""
    key, engine = request.key, services.engine
    said = f"followed request {leader.request_id} ({leader.state.value})"
    running = engine.watched_status(key)
    if running is None or running.status.status is not Status.IN_PROGRESS:
        engine.finish_start_request(request.request_id, StartState.FAILED, f"{said}; not running")
        name = messages.what(Kind.BATCH, key.subject)
        reason = (
            f"someone asked for it at the same moment, and their run did not start "
            f"({leader.state.value}: {leader.result or 'no answer'}). Ask again."
        )
        respond(**batch_messages.not_started(name, reason).kwargs())
        return
    _joined(services, request, bot, respond, client, said)


def _joined(
    services: Services,
    request: StartRequestView,
    bot: Bot,
    respond: Respond,
    client: WebClient,
    said: str,
) -> None:
    """A claimed request that found its run going: join it, and finish the request (as
    failed if it cannot be joined, so that it never stays starting)."""
    key, engine = request.key, services.engine
    asked = parsing.RunSuite(bot.name, key.language, key.subject, key.state)
    try:
        watch_id = _join(
            services, request.team_id, request.channel_id, request.user_id, bot, key.language,
            asked, respond, client,
        )  # fmt: skip
    except Refusal as refusal:
        engine.finish_start_request(request.request_id, StartState.FAILED, f"{said}; {refusal}")
        raise
    engine.finish_start_request(request.request_id, StartState.JOINED, said, watch_id)


def _join(
    services: Services,
    team: str,
    channel: str,
    user: str,
    bot: Bot,
    language: str,
    asked: parsing.SuiteTargeted,
    respond: Respond,
    client: WebClient,
) -> int:
    """Watch the running suite for the channel (or add the user to its watch there)."""
    running = services.engine.watched_status(_key(bot, language, asked))
    if running is None:
        raise Refusal("The run ended a moment ago; see its result, or ask again.")
    request = WatchRequest(
        team, channel, user, bot, language, asked.state, Kind.BATCH, Via.ASK, asked.suite
    )
    begun = begin_watch(services, request, running.status)
    if begun.existing:
        link = permalink(client, begun.watch)
        respond(**batch_messages.joined(begun.watch, link).kwargs())
    elif begun.watch.thread_channel != channel:
        respond(**messages.moved_to_dm(channel).kwargs())
    return begun.watch.watch_id


def _again(services: Services, request: StartRequestView, bot: Bot, respond: Respond) -> None:
    """A request that was claimed before: the same command run again (after a crash).

    One left starting is taken over at once, not STALE_AFTER after its claim (the sweep's
    wait): the command is run again only once its earlier run's lease lapsed (durable.py),
    so that run is over. If it got as far as watching the run (the watch is recorded
    before its message), the run started: the request ends with that watch, whose
    message and result follow; else its POST may or may not have reached Kore.ai."""
    key, engine = request.key, services.engine
    name = messages.what(Kind.BATCH, key.subject)
    started = batch_messages.already_started(f"{name} of {bot.name} ({key.language})")
    if request.state is StartState.STARTING:
        taken = engine.reclaim_start_request(request.token, 0.0)
        if taken is None:
            raise Refusal(f"{name} is being started right now; its message will follow.")
        watch_id = engine.find_watch(key, request.channel_id)
        if watch_id is not None:
            engine.finish_start_request(
                taken.request_id, StartState.STARTED, "watched before a crash", watch_id
            )
            respond(**started.kwargs())
            return
        respond(**_lost(services, taken).kwargs())
        return
    if request.state in (StartState.STARTED, StartState.JOINED) and request.watch_id:
        respond(**started.kwargs())
        return
    reason = request.result or request.state.value
    respond(**batch_messages.not_started(name, reason).kwargs())


def _lost(
    services: Services, request: StartRequestView, error: str | None = None
) -> messages.Message:
    """Finish a request whose POST may or may not have reached Kore.ai (never sent again:
    a run can be looked up only by the ID its POST answers); what to tell its asker."""
    said = error or "interrupted around the run POST"
    services.engine.finish_start_request(
        request.request_id, StartState.UNKNOWN, f"{said}: not sent again"
    )
    key = request.key
    suites = f"{NAME} {request.bot_name} {key.language}"
    return batch_messages.lost(messages.what(Kind.BATCH, key.subject), suites, error)


def take_over(services: Services, notifier: SlackNotifier, request: StartRequestView) -> None:
    """A batch test request left starting by a process that died (the periodic sweep).
    If it got as far as watching its run (the watch is recorded before its message), the
    run started: the request ends with that watch, whose result follows. Else its POST
    may or may not have reached Kore.ai: never sent again; its asker is told."""
    engine = services.engine
    watch_id = engine.find_watch(request.key, request.channel_id)
    if watch_id is not None:
        engine.finish_start_request(
            request.request_id, StartState.STARTED, "watched before a crash", watch_id
        )
        return
    user = request.started_by or request.user_id
    notifier.tell_user(request.channel_id, user, _lost(services, request))


def _subscribe(
    services: Services, asked: parsing.SubscribeSuite, command: dict[str, Any], respond: Respond
) -> None:
    team, channel, user = asked_by(command)
    bot, language = _bot(services, command, asked.bot, asked.language)
    suite = find_suite(services, bot, language, asked.suite)
    key = JobKey.of(bot, language, asked.state, Kind.BATCH, suite.name)
    sub, how = services.engine.subscribe(team, channel, user, key, bot.name)
    shown = "ephemeral" if how == "already" else "in_channel"
    respond(response_type=shown, **messages.subscribed(sub, how, user).kwargs())


def _unsubscribe(
    services: Services, asked: parsing.UnsubscribeSuite, command: dict[str, Any], respond: Respond
) -> None:
    _, channel, user = asked_by(command)
    bot, language = _bot(services, command, asked.bot, asked.language)
    sub = services.engine.unsubscribe(channel, _key(bot, language, asked), user)
    if sub is None:
        name = messages.what(Kind.BATCH, asked.suite)
        raise Refusal(f"This channel is not subscribed to {name} of {bot.name} ({language}).")
    respond(response_type="in_channel", **messages.unsubscribed(sub, user).kwargs())


def _stop(
    services: Services, asked: parsing.StopSuite, command: dict[str, Any], respond: Respond
) -> None:
    _, channel, user = asked_by(command)
    bot, language = _bot(services, command, asked.bot, asked.language)
    view = services.engine.stop(channel, _key(bot, language, asked), user)
    if view is None:
        name = messages.what(Kind.BATCH, asked.suite)
        raise Refusal(f"Nothing to stop: {name} of {bot.name} ({language}) is not watched here.")
    respond(**messages.stopped_confirmation(view).kwargs())
