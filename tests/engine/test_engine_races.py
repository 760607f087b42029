"""The watch engine's get-or-creates, with the race made to happen every time.

A second command runs just before the first one's INSERT, that is after the first one's
SELECT found nothing: the classic get-or-create race. The engine runs in this process
against the fake Kore.ai and the fake Slack, on SQLite and on PostgreSQL.

On SQLite one transaction writes at a time: once the first command has written, the
second would wait for its commit, so it runs after it (``Race.finish``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Select, event, select
from sqlalchemy.engine import Connection
from support.slack_app import BOT, app_env, new_channel
from support.store import open_store

from korebot import config, runtime, wiring
from korebot.kore import State
from korebot.registry import JobKey
from korebot.testing.fake_kore import FakeKore, Status
from korebot.testing.fake_slack import FakeSlack
from korebot.watch.store.tables import Asker, Subscription, Target, Watch
from korebot.watch.types import Started, WatchRequest


class Race:
    """The engine, and commands to run just before its next INSERT into a table."""

    def __init__(self, kore: FakeKore, slack: FakeSlack, url: str, tmp_path: Path) -> None:
        self.kore, self.slack = kore, slack
        env = app_env(
            kore,
            slack,
            tmp_path / "unused.db",
            DATABASE_URL=url,
            KOREBOT_STATUS_CACHE="0",
            KOREBOT_POLL_INTERVAL="30",
            KOREBOT_WATCH_TIMEOUT="3600",
            KOREBOT_SUBSCRIPTION_INTERVAL="1",
        )
        loaded = config.load(env)
        self.registry = loaded.registry
        self.bot = self.registry.resolve("support")
        self.store = open_store(url, upgrade=True)
        # This process's own budget: the database one would add INSERTs to the race.
        self.gateway = wiring.status_gateway(loaded)
        self.engine = runtime.watch_engine(
            loaded, self.store, self.gateway, runtime.slack_client(loaded)
        )
        self._steps: list[tuple[str, Callable[[], object]]] = []
        self._waiting: list[Callable[[], object]] = []
        self._running = False
        event.listen(self.store.engine, "before_cursor_execute", self._before)

    def before_insert(self, table: str, command: Callable[[], object]) -> None:
        """Run `command` just before the next INSERT into `table` (steps run in order)."""
        self._steps.append((table, command))

    def finish(self) -> None:
        """Run the commands that had to wait for a commit (SQLite), and check all ran."""
        for command in self._waiting:
            command()
        assert self._steps == [], "a race step never came"

    def _before(self, connection: Connection, *args: Any) -> None:
        statement: str = args[1]
        if self._running or not self._steps:
            return
        table, command = self._steps[0]
        if not statement.startswith(f"INSERT INTO {table} "):
            return
        self._steps.pop(0)
        sqlite = self.store.engine.dialect.name == "sqlite"
        if sqlite and connection.connection.driver_connection.in_transaction:
            self._waiting.append(command)  # it would wait for this writer's commit
            return
        self._running = True  # its own statements are not steps
        try:
            command()
        finally:
            self._running = False

    def ask(self, channel: str, user: str) -> Started:
        status = self.gateway.status(self.bot, "en", State.CONFIGURED).status
        request = WatchRequest("T0TEAM", channel, user, self.bot, "en", State.CONFIGURED)
        return self.engine.watch(request, status)

    def subscribe(self, channel: str) -> str:
        return self.engine.subscribe(
            "T0TEAM", channel, "U0LEAD", JobKey.of(self.bot, "en", State.CONFIGURED), self.bot.name
        )[1]

    def rows(self, query: Select[Any]) -> list[tuple[Any, ...]]:
        with self.store.session() as session:
            return sorted(tuple(row) for row in session.execute(query))

    def close(self) -> None:
        self.engine.shutdown()
        self.registry.close()
        self.store.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def race(
    request: pytest.FixtureRequest, kore: FakeKore, slack: FakeSlack, tmp_path: Path
) -> Iterator[Race]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'korebot.db'}"
    else:
        # The second command runs inside the first: waiting for a lock the first holds
        # would never end; it fails instead.
        url = str(request.getfixturevalue("postgres_url")) + "?options=-c%20lock_timeout%3D5s"
    race = Race(kore, slack, url, tmp_path)
    yield race
    race.close()


def test_two_channels_subscribe_to_a_new_target(race: Race) -> None:
    race.kore.script(BOT, "en", Status("success"))
    first, second = new_channel(), new_channel()
    hows: list[str] = []
    race.before_insert("korebot_targets", lambda: hows.append(race.subscribe(second)))
    hows.append(race.subscribe(first))
    race.finish()
    assert hows == ["created", "created"]
    assert len(race.rows(select(Target.id))) == 1
    assert race.rows(select(Subscription.channel_id)) == sorted([(first,), (second,)])


def test_one_channel_subscribes_twice_at_once(race: Race) -> None:
    race.kore.script(BOT, "en", Status("success"))
    channel, other = new_channel(), new_channel()
    race.subscribe(other)  # the target exists: the race is for the subscription
    hows: list[str] = []
    race.before_insert("korebot_subscriptions", lambda: hows.append(race.subscribe(channel)))
    hows.append(race.subscribe(channel))
    race.finish()
    assert hows == ["created", "already"]
    assert race.rows(select(Subscription.channel_id)) == sorted([(channel,), (other,)])


def test_two_asks_in_one_channel_race_for_the_target_and_the_watch(race: Race) -> None:
    race.kore.script(BOT, "en", Status("in-progress"))
    channel, other = new_channel(), new_channel()
    started: dict[str, Started] = {}

    def ask(where: str, user: str) -> Callable[[], None]:
        return lambda: started.__setitem__(user, race.ask(where, user))

    race.before_insert("korebot_targets", ask(other, "U0OTHER"))
    race.before_insert("korebot_watches", ask(channel, "U0SECOND"))
    ask(channel, "U0FIRST")()
    race.finish()

    assert len(race.rows(select(Target.id))) == 1
    assert race.rows(select(Watch.channel_id)) == sorted([(channel,), (other,)])
    assert race.rows(select(Watch.channel_id, Asker.user_id).join(Asker)) == sorted(
        [(channel, "U0FIRST"), (channel, "U0SECOND"), (other, "U0OTHER")]
    )
    # Exactly one of the two asks in the channel posted its message; the other joined it.
    assert sorted(started[user].existing for user in ("U0FIRST", "U0SECOND")) == [False, True]
    assert len(race.slack.messages(channel)) == 1
    assert len(race.slack.messages(other)) == 1
    assert set(started["U0FIRST"].watch.askers) | set(started["U0SECOND"].watch.askers) == {
        "U0FIRST",
        "U0SECOND",
    }


def test_a_poll_and_an_ask_create_a_subscribed_channels_watch_at_once(race: Race) -> None:
    race.kore.script(BOT, "en", Status("success"))
    channel = new_channel()
    race.subscribe(channel)
    ((target_id,),) = race.rows(select(Target.id))
    race.engine.poll(target_id)  # the first poll records the state
    race.kore.script(BOT, "en", Status("in-progress"))
    status = race.gateway.status(race.bot, "en", State.CONFIGURED).status
    request = WatchRequest("T0TEAM", channel, "U0ASKER", race.bot, "en", State.CONFIGURED)
    asked: list[Started] = []
    # The poll sees the run start and creates the channel's watch; an ask there just before.
    race.before_insert("korebot_watches", lambda: asked.append(race.engine.watch(request, status)))
    race.engine.poll(target_id)
    race.finish()
    race.engine.drain()

    assert race.rows(select(Watch.channel_id)) == [(channel,)]
    assert race.rows(select(Asker.user_id)) == [("U0ASKER",)]
    (message,) = race.slack.messages(channel)
    assert "I will post the result in this thread" in message["text"]
    # The poll created it first (SQLite: the ask waited), or the ask did and the poll saw it.
    assert asked[0].existing == (race.store.engine.dialect.name == "sqlite")
