"""Wires the app together from the configuration and owns its lifecycle.

The factories here and in ``korebot.wiring`` (the Kore.ai side) are the one way to build
korebot's parts: ``Runtime`` uses them, and so do the tests (with a controlled clock) and
the benchmarks (the thread counts).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from slack_sdk import WebClient

from korebot.config import Config
from korebot.gateway import StatusGateway
from korebot.kore import RetryPolicy
from korebot.ratelimit import KeyedWindows
from korebot.slack.ack_first import AckFirst, AckFirstExecutor
from korebot.slack.app import build_app, web_client
from korebot.slack.home_refresh import HomeRefresher
from korebot.slack.listeners import Services
from korebot.slack.listeners.actions.train import SWEEP_EVERY, sweep_train_requests
from korebot.slack.listeners.commands.durable import CommandRecovery
from korebot.slack.listeners.home_tab import publish_home
from korebot.slack.notifier import SlackNotifier
from korebot.watch.engine import WatchEngine
from korebot.watch.store import Store, migrate
from korebot.watch.types import now
from korebot.wiring import shared_budget, status_gateway

log = logging.getLogger(__name__)

#: Threads running Bolt listeners (the work after an ack). The work is mostly Python (the
#: ORM, Block Kit) holding the GIL, which the acks need too: in a burst of 250 asks, 8
#: threads gave a p99 ack 3.2x a bare app's and 4 gave 1.9x, with every answer out sooner.
LISTENER_THREADS = 4
#: waitress's threads, which read requests and send the acks (korebot/server.py).
WAITRESS_THREADS = 8
#: The watch engine's threads for Kore.ai polls and for Slack posts.
POLL_WORKERS = 8
POSTERS = 8


def watch_engine(
    config: Config,
    store: Store,
    gateway: StatusGateway,
    client: WebClient,
    clock: Callable[[], datetime] = now,
    notifier: SlackNotifier | None = None,
) -> WatchEngine:
    settings = config.settings
    return WatchEngine(
        store,
        gateway,
        notifier or SlackNotifier(client),
        poll_interval=settings.korebot_poll_interval,
        watch_timeout=settings.korebot_watch_timeout,
        max_poll_interval=settings.korebot_poll_max_interval,
        poll_from_history=settings.korebot_poll_from_history,
        subscription_interval=settings.korebot_subscription_interval,
        clock=clock,
        workers=POLL_WORKERS,
        posters=POSTERS,
        delivery_lease=settings.korebot_delivery_lease,
        max_watches_per_channel=settings.korebot_max_watches_per_channel,
        max_watches_per_workspace=settings.korebot_max_watches_per_workspace,
        keep_days=settings.korebot_keep_days,
    )


def slack_client(config: Config) -> WebClient:
    settings = config.settings
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    return web_client(token, settings.slack_api_url)


class Runtime:
    """Everything the serving process runs: database, watch engine, Bolt app."""

    def __init__(self, config: Config) -> None:
        config.require_slack()
        settings = config.settings
        secret = settings.slack_signing_secret
        self.config = config
        self.store = Store(settings.database_url)
        self.client = slack_client(config)
        # One quick retry: polls try again at the next tick, and the rate budget counts calls.
        config.registry.retry = RetryPolicy(attempts=2, budget=2.0)
        self.gateway = status_gateway(config, shared_budget(config, self.store))
        self.notifier = SlackNotifier(self.client)
        self.notifier.bar_of = config.bar_of
        self.engine = watch_engine(
            config, self.store, self.gateway, self.client, notifier=self.notifier
        )
        # It waits for the acks of requests already in (ack_first.py).
        self.executor = AckFirstExecutor(
            AckFirst(), max_workers=LISTENER_THREADS, thread_name_prefix="korebot-listener"
        )
        self.services = services = Services(
            self.gateway,
            self.engine,
            allow_raw_ids=settings.korebot_allow_raw_ids,
            commands=KeyedWindows({60: settings.korebot_commands_per_user_per_minute}),
            trainers=config.trainers,
            testers=config.testers,
            publishers=config.publishers,
            bar_of=config.bar_of,
        )
        self.app = build_app(
            self.client, secret.get_secret_value() if secret else "", services, self.executor
        )
        # Commands a dead process acked but did not finish: run again on the listeners' pool.
        self.recovery = CommandRecovery(services, self.client, self.executor)
        self.homes = HomeRefresher(
            self.engine.open_homes,
            config.registry,
            partial(publish_home, services, self.client, opened=False),
            self.store.policy.clock,
        )
        self.notifier.on_training_changed = self.homes.changed

    def start(self) -> None:
        """Migrate the database (a SchemaError if it cannot be), then start the engine."""
        log.info("%s", migrate.upgrade(self.store.engine))
        # On the engine's scheduler (which knows nothing of Slack), each lease or 10 s.
        self.engine.scheduler.add_job(
            self.recovery.run,
            "interval",
            seconds=min(self.store.policy.delivery_lease, 10.0),
            id="commands",
            next_run_time=self.store.policy.clock(),
        )
        # Open Home tabs showing a training that changed, republished (coalesced, capped).
        self.engine.scheduler.add_job(self.homes.flush, "interval", seconds=1.0, id="homes")
        # Train requests left starting by a process that died: status first, never a POST.
        self.engine.scheduler.add_job(
            partial(sweep_train_requests, self.services, self.notifier),
            "interval",
            seconds=SWEEP_EVERY,
            id="train_requests",
        )
        self.engine.start()

    def stop(self) -> None:
        """Finish in-flight commands and polls, then release connections."""
        # The engine first: it stops claiming new polls at once, while commands finish.
        self.engine.shutdown()
        self.executor.shutdown(wait=True)
        self.config.registry.close()
        self.store.dispose()

    def health(self) -> tuple[bool, dict[str, Any]]:
        database = self.store.healthy()
        scheduler = self.engine.running
        report: dict[str, Any] = {
            "status": "ok" if database and scheduler else "unhealthy",
            "database": "ok" if database else "unreachable",
            "scheduler": "running" if scheduler else "stopped",
        }
        if database:
            report["watched_trainings"] = self.engine.active_count()
        return database and scheduler, report
