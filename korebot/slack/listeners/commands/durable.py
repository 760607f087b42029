"""Slash commands that survive a crash: recorded before the ack, finished once.

The ack function records the command (``WatchEngine.record_command``: one
INSERT, its lease held by this process and renewed with the engine's other leases)
before it acks; the lazy listener marks it done when its work ends, whatever the
outcome. A process that dies in between leaves it unfinished: ``CommandRecovery``, a
job of every process, acquires it once its lease expires and runs the same work again
with a ``Respond`` to its response_url, while Slack still takes answers there (30
minutes). A database outage at the ack is no reason to refuse: the command is acked and
run, only not durably.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import timedelta
from typing import Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient

from korebot.errors import DatabaseUnavailable
from korebot.slack import messages
from korebot.slack.kinds import kind_of
from korebot.slack.listeners.commands.dispatch import slash_command
from korebot.slack.listeners.context import Services
from korebot.watch.types import CommandClaim, CommandRecord, Lease

log = logging.getLogger(__name__)

#: The context key that hands the command's lease from the ack to the lazy listener.
LEASE = "korebot_command_lease"
#: How long after a command it may still be run again: Slack keeps a response_url for 30
#: minutes, less a margin for the run itself and for clocks that differ between hosts.
ANSWERABLE = timedelta(minutes=25)
#: Runs of one command, the first included, before it is given up (a command that kills
#: its process every time must not kill every process in turn forever).
MAX_ATTEMPTS = 3
#: How long a done command stays in the table.
KEEP_DONE = timedelta(hours=1)
#: Commands acquired per run of the recovery job.
BATCH = 16
GAVE_UP = (
    "Sorry, I could not complete your command: it was interrupted several times on my side. "
    "Try again in a minute."
)


def record(services: Services, command: dict[str, Any], ack: Ack, context: BoltContext) -> None:
    """The ack function: record the command, then ack (in the request's own thread)."""
    try:
        lease = services.engine.record_command(
            CommandRecord(
                team_id=str(command.get("team_id", "")),
                channel_id=str(command.get("channel_id", "")),
                user_id=str(command.get("user_id", "")),
                command=str(command.get("command", "")),
                text=str(command.get("text", "")),
                response_url=str(command.get("response_url", "")),
            )
        )
    except DatabaseUnavailable as error:
        log.warning("Database unavailable: a command is run without being recorded: %s", error.orig)
    except Exception:  # whatever it is, the command is still acked and run
        log.exception("Could not record a command; it is run without being recorded")
    else:
        context[LEASE] = lease
    ack()


def run_recorded(services: Services, lease: Lease | None, work: Callable[[], None]) -> None:
    """Run a command's work, then mark it done (if it was recorded) whatever came of it."""
    try:
        work()
    finally:
        if lease is not None:
            _finish(services, lease)


def _finish(services: Services, lease: Lease) -> None:
    try:
        if not services.engine.finish_command(lease):
            log.warning(
                "Command %d was done, but its lease had expired: it may run twice", lease.id
            )
    except DatabaseUnavailable as error:
        log.warning(
            "Database unavailable: command %d done but not marked: %s", lease.id, error.orig
        )


class CommandRecovery:
    """The job that runs again the commands of processes that died before finishing them."""

    def __init__(self, services: Services, client: WebClient, executor: Executor) -> None:
        self.services, self.client, self.executor = services, client, executor

    def run(self) -> None:
        engine = self.services.engine
        moment = engine.clock()
        try:
            expired, claims = engine.recover_commands(
                BATCH, moment - ANSWERABLE, moment - KEEP_DONE
            )
        except DatabaseUnavailable as error:
            log.warning("Database unavailable, unfinished commands wait: %s", error.orig)
            return
        if expired:
            log.warning("Commands %s were never finished and are too old to answer now", expired)
        for claim in claims:
            self.executor.submit(self.rerun, claim)

    def rerun(self, claim: CommandClaim) -> None:
        respond = Respond(response_url=claim.record.response_url)
        run_recorded(self.services, claim.lease, lambda: self._work(claim, respond))

    def _work(self, claim: CommandClaim, respond: Respond) -> None:
        if claim.attempts > MAX_ATTEMPTS:
            log.warning("Command %d gave up after %d runs", claim.lease.id, MAX_ATTEMPTS)
            try:
                respond(**messages.problem(GAVE_UP, show_usage=False).kwargs())
            except Exception as error:  # the response_url may be gone: nothing more to do
                log.warning("Could not tell command %d gave up: %r", claim.lease.id, error)
            return
        log.info(
            "Running command %d again (run %d): it was not finished", claim.lease.id, claim.attempts
        )
        asked = claim.record
        command = {
            "team_id": asked.team_id,
            "channel_id": asked.channel_id,
            "user_id": asked.user_id,
            "command": asked.command,
            "text": asked.text,
            "response_url": asked.response_url,
        }
        kind = kind_of(asked.command)
        slash_command(
            self.services, command, respond, self.client, kind=kind, command_id=claim.lease.id
        )
