"""Unit tests of slash commands recorded before their ack (commands/durable.py), with
Bolt's own `Ack`, `BoltContext` and `Respond`, real services on SQLite in memory, and
the store's clock controlled (leases expire as the test says)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from slack_bolt import Ack, BoltContext, Respond
from support.in_process import Listeners, command, new_language
from support.slack_app import alltext, new_channel

from korebot.slack.listeners.commands.dispatch import slash_command
from korebot.slack.listeners.commands.durable import (
    LEASE,
    CommandRecovery,
    record,
    run_recorded,
)
from korebot.testing.clock import Clock
from korebot.testing.fake_kore import FakeKore
from korebot.testing.fake_slack import FakeSlack
from korebot.watch.store import migrate
from korebot.watch.types import CommandClaim

LONG_AGO = timedelta(hours=2)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def memory(kore: FakeKore, slack: FakeSlack, tmp_path: Path, clock: Clock) -> Iterator[Listeners]:
    """Real services on an in-memory SQLite store whose clock the test moves."""
    world = Listeners(kore, slack, tmp_path, database_url="sqlite://")
    migrate.upgrade(world.store.engine)
    world.store.configure(dataclasses.replace(world.store.policy, clock=clock.now))
    yield world
    world.close()


def asked(world: Listeners, text: str) -> tuple[dict[str, Any], Respond]:
    respond = world.respond()
    payload = command(text, new_channel())
    payload["response_url"] = str(respond.response_url)
    return payload, respond


def unfinished(world: Listeners, clock: Clock) -> list[CommandClaim]:
    """What another process would acquire once every lease has expired."""
    clock.advance(world.store.policy.delivery_lease + 1)
    return world.store.slash_commands.acquire_commands(10, clock.now() - LONG_AGO)


def recover(world: Listeners) -> None:
    """One run of the recovery job, waiting for the commands it runs again."""
    with ThreadPoolExecutor(2) as executor:
        CommandRecovery(world.services, world.client, executor).run()


def test_the_ack_records_the_command_with_its_lease_held(memory: Listeners, clock: Clock) -> None:
    payload, _ = asked(memory, "support en")
    ack, context = Ack(), BoltContext()
    record(memory.services, payload, ack, context)
    assert ack.response is not None
    assert (ack.response.status, ack.response.body) == (200, "")
    lease = context[LEASE]
    assert memory.engine.held.of_kind("command") == [lease]  # renewed with the others
    assert memory.store.leases.renew([lease]) == set()
    # Held: nobody takes it while its lease is renewed.
    assert memory.store.slash_commands.acquire_commands(10, clock.now() - LONG_AGO) == []
    memory.engine.held.discard(lease)  # as if this process had died
    (claim,) = unfinished(memory, clock)
    assert claim.lease.id == lease.id
    assert claim.record.command == "/faq-status"
    assert (claim.record.text, claim.record.response_url) == ("support en", payload["response_url"])
    assert (claim.record.team_id, claim.record.channel_id, claim.record.user_id) == (
        payload["team_id"],
        payload["channel_id"],
        payload["user_id"],
    )


@pytest.mark.parametrize("text", ["help", "nonsense words here", "support en"])
def test_the_lazy_listener_marks_it_done_whatever_the_answer(
    memory: Listeners, clock: Clock, text: str
) -> None:
    language = new_language()
    payload, respond = asked(memory, text.replace(" en", f" {language}"))
    context = BoltContext()
    record(memory.services, payload, Ack(), context)
    work = partial(slash_command, memory.services, payload, respond, memory.client)
    run_recorded(memory.services, context[LEASE], work)
    assert memory.answers(respond) or memory.slack.messages(payload["channel_id"])
    assert memory.engine.held.of_kind("command") == []
    assert memory.store.slash_commands.finish_command(context[LEASE]) is False  # done already
    assert unfinished(memory, clock) == []


def test_work_that_raises_still_marks_it_done(memory: Listeners, clock: Clock) -> None:
    payload, _ = asked(memory, "help")
    context = BoltContext()
    record(memory.services, payload, Ack(), context)

    def broken() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        run_recorded(memory.services, context[LEASE], broken)
    assert unfinished(memory, clock) == []


def test_a_database_outage_at_the_ack_still_acks_and_the_command_is_answered(
    kore: FakeKore, slack: FakeSlack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world = Listeners(
        kore, slack, tmp_path, database_url=f"sqlite:///{tmp_path / 'gone' / 'korebot.db'}"
    )
    try:
        payload, respond = asked(world, "help")
        ack, context = Ack(), BoltContext()
        with caplog.at_level(logging.WARNING):
            record(world.services, payload, ack, context)
        assert ack.response is not None
        assert ack.response.status == 200
        assert LEASE not in context
        assert any(r.levelno == logging.WARNING and not r.exc_info for r in caplog.records)
        work = partial(slash_command, world.services, payload, respond, world.client)
        run_recorded(world.services, context.get(LEASE), work)
        assert "/faq-status" in alltext(world.answer(respond))  # the help, as always
    finally:
        world.close()


def test_recovery_runs_an_unfinished_command_again_once(memory: Listeners, clock: Clock) -> None:
    payload, respond = asked(memory, "help")
    context = BoltContext()
    record(memory.services, payload, Ack(), context)
    memory.engine.held.discard(context[LEASE])  # its process died before the work
    recover(memory)
    assert memory.answers(respond) == []  # its lease has not expired yet
    clock.advance(memory.store.policy.delivery_lease + 1)
    recover(memory)
    assert "/faq-status" in alltext(memory.answer(respond))
    clock.advance(memory.store.policy.delivery_lease + 1)
    recover(memory)
    assert len(memory.answers(respond)) == 1  # done: never again
    assert memory.engine.held.of_kind("command") == []


def test_recovery_gives_up_a_command_that_keeps_dying(memory: Listeners, clock: Clock) -> None:
    payload, respond = asked(memory, "help")
    context = BoltContext()
    record(memory.services, payload, Ack(), context)
    memory.engine.held.discard(context[LEASE])  # its process died
    for _ in range(2):  # two more runs, each killed before it was done
        assert len(unfinished(memory, clock)) == 1
    clock.advance(memory.store.policy.delivery_lease + 1)
    recover(memory)
    (answer,) = memory.answers(respond)
    assert "could not complete your command" in alltext(answer)
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    assert unfinished(memory, clock) == []


def test_recovery_does_not_run_a_command_too_old_to_answer(memory: Listeners, clock: Clock) -> None:
    payload, respond = asked(memory, "help")
    context = BoltContext()
    record(memory.services, payload, Ack(), context)
    memory.engine.held.discard(context[LEASE])
    clock.advance(26 * 60)  # past what Slack's response_url allows, less the margin
    recover(memory)
    assert memory.answers(respond) == []
    assert unfinished(memory, clock) == []  # marked done, unrun
