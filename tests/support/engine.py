"""The watch engine in this process, with the app's own wiring and a clock the test moves:
its scheduler is not started, the test calls ``tick`` (tests/engine/)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from korebot import config, runtime, wiring
from korebot.kore import State
from korebot.registry import Bot, JobKey
from korebot.testing.clock import START, Clock
from korebot.testing.fake_kore import FakeKore
from korebot.testing.fake_slack import FakeSlack
from korebot.watch.types import WatchRequest
from support.slack_app import BOT, app_env
from support.store import open_store

FIRST = 30.0  # the first poll interval (the production default)


class Engine:
    def __init__(
        self, kore: FakeKore, slack: FakeSlack, db: Path, start: datetime = START, **env: str
    ) -> None:
        self.kore, self.slack, self.clock = kore, slack, Clock(start)
        settings = config.load(app_env(kore, slack, db, KOREBOT_POLL_INTERVAL=str(FIRST), **env))
        self.registry = settings.registry
        self.store = open_store(settings.settings.database_url, upgrade=True)
        # The app's own wiring: the database budget and gateway, on the test's clock.
        budget = wiring.shared_budget(settings, self.store, self.clock.now)
        self.gateway = wiring.status_gateway(settings, budget, self.clock.monotonic)
        self.engine = runtime.watch_engine(
            settings, self.store, self.gateway, runtime.slack_client(settings), self.clock.now
        )
        self.bot: Bot = self.registry.resolve("support")

    def ask(self, channel: str, user: str = "U0ASKER", language: str = "en") -> None:
        """A watch for a training in progress, started with a status from the gateway."""
        fetched = self.gateway.status(self.bot, language, State.CONFIGURED)
        request = WatchRequest("T0TEAM", channel, user, self.bot, language, State.CONFIGURED)
        self.engine.watch(request, fetched.status)

    def polled_now(self, language: str) -> bool:
        """Whether a poll of the training was recorded at the clock's current time."""
        state = self.store.targets.target_state(JobKey.of(self.bot, language, State.CONFIGURED))
        return state is not None and state.checked_at == self.clock.now()

    def tick(self, after: float) -> int:
        """Move the clock, tick, wait for the polls and posts it started; Kore.ai calls so far."""
        self.clock.advance(after)
        self.engine.tick()
        self.engine.drain()
        return self.kore.count(BOT)

    def close(self) -> None:
        self.engine.shutdown()
        self.registry.close()
        self.store.dispose()
