"""The watching engine: the store, polling, delivery and the commands, ticking together.

It knows nothing of Slack: it tells a ``Notifier`` what to say. The database is the
queue (korebot.watch.contract): a periodic *tick* (APScheduler 3) leases the due
targets and has them polled (korebot.watch.polling), and leases the watches that owe a
post and has them posted (korebot.watch.delivery); a second job renews the leases held
while their work runs. So a restart resumes everything, and several processes sharing
PostgreSQL split the work. The commands (korebot.watch.commands) are what the Slack
layer and the CLI call; ``WatchEngine`` offers them as its own methods.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from korebot.errors import DatabaseUnavailable
from korebot.gateway import StatusGateway
from korebot.watch.commands import WatchCommands
from korebot.watch.contract import Policy, WatchStore, now
from korebot.watch.delivery import MAX_DELIVERY_ATTEMPTS, Delivery
from korebot.watch.leases import HeldLeases
from korebot.watch.model import Notifier
from korebot.watch.pace import expected_end_interval
from korebot.watch.polling import Polling

__all__ = ["MAX_DELIVERY_ATTEMPTS", "WatchEngine"]

log = logging.getLogger(__name__)

#: Seconds a poll's lease lasts unless renewed: how soon another process takes over
#: the poll of a process that died.
POLL_LEASE = 5.0
#: Seconds between prunings of old watches (any process may do it: deleting is idempotent).
PRUNE_EVERY = 3600.0


class WatchEngine(WatchCommands):
    def __init__(
        self,
        store: WatchStore,
        gateway: StatusGateway,
        notifier: Notifier,
        *,
        poll_interval: float,
        watch_timeout: float,
        max_poll_interval: float | None = None,
        poll_from_history: bool = True,
        subscription_interval: float = 60.0,
        clock: Callable[[], datetime] = now,
        workers: int = 8,
        posters: int = 8,
        delivery_lease: float = 30.0,
        max_watches_per_channel: int = 20,
        max_watches_per_workspace: int = 500,
        keep_days: float = 30.0,
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.poll_interval = poll_interval
        self.max_poll_interval = max(max_poll_interval or poll_interval * 4, poll_interval)
        self.poll_from_history = poll_from_history
        self.subscription_interval = subscription_interval
        self.keep = timedelta(days=keep_days)
        store.configure(
            Policy(
                watch_timeout=watch_timeout,
                max_watches_per_channel=max_watches_per_channel,
                max_watches_per_workspace=max_watches_per_workspace,
                poll_lease=POLL_LEASE,
                delivery_lease=delivery_lease,
                pace=self._pace,
                clock=clock,
            )
        )
        self._stopping = threading.Event()
        self.held = HeldLeases(store)
        self.delivery = Delivery(store, notifier, self.held, posters=posters)
        self.polling = Polling(
            store,
            gateway,
            notifier,
            self.held,
            watch_timeout=watch_timeout,
            workers=workers,
            polled=self.delivery.fill,
            stopping=self._stopping,
        )
        super().__init__(store, notifier, self.delivery, clock=clock, grace=POLL_LEASE)
        self.scheduler = BackgroundScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running) and not self._stopping.is_set()

    def start(self) -> None:
        """Start ticking; unfinished work in the database is picked up by the first tick."""
        # A due poll waits up to one tick: a small part of the first interval (1 s of the
        # default 30), so that dense polling stays dense; never busier than 20 a second.
        tick = max(min(self.poll_interval / 8, 1.0), 0.05)
        self.scheduler.add_job(
            self.tick, "interval", seconds=tick, id="tick", next_run_time=self.clock()
        )
        # Well within the shortest lease, so that a live holder never loses one.
        renew = min(POLL_LEASE, self.store.policy.delivery_lease) / 3
        self.scheduler.add_job(self.held.renew, "interval", seconds=renew, id="renew")
        self.scheduler.add_job(
            self.prune, "interval", seconds=PRUNE_EVERY, id="prune", next_run_time=self.clock()
        )
        self.scheduler.start()

    def shutdown(self) -> None:
        """Stop ticking and let polls and posts in flight finish."""
        self._stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.polling.shutdown()
        # Queued posts stay owed in the database: the next process makes them.
        self.delivery.shutdown()

    def drain(self) -> None:
        """Wait for the polls and posts under way (for tests: the tick does not wait for them)."""
        self.polling.drain()
        self.delivery.drain()

    def tick(self) -> None:
        """Lease due polls and owed posts, and run them on the worker pools."""
        if self._stopping.is_set():
            return
        try:
            self.delivery.fill()
            self.polling.tick()
        except DatabaseUnavailable as error:
            log.warning("Database unavailable, will retry: %s", error.orig)

    def prune(self) -> None:
        """Delete the watches that ended more than ``keep_days`` ago (runs are kept)."""
        try:
            pruned = self.store.prune_watches(self.clock() - self.keep)
        except DatabaseUnavailable as error:
            log.warning("Database unavailable, will prune later: %s", error.orig)
            return
        if pruned:
            log.info("Deleted %d watches ended before the last %s", pruned, self.keep)

    def poll(self, target_id: int) -> None:
        """Poll one target now, due or not, unless someone holds its lease (for tests)."""
        for claim in self.store.acquire_polls(1, target_id):
            self.polling.poll(claim)

    def _pace(self, running_for: float | None, watched: bool, usual: float | None) -> float:
        if running_for is None and not watched:
            return self.subscription_interval
        return expected_end_interval(
            running_for or 0.0,
            self.poll_interval,
            self.max_poll_interval,
            usual if self.poll_from_history else None,
        )
