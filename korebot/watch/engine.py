"""The watching engine and its façade: the one door the Slack layer and the CLI use.

It knows nothing of Slack: it tells a ``Notifier`` what to say. The database is the
queue (korebot.watch.store): a periodic *tick* (APScheduler 3) leases the due targets
and has them polled (korebot.watch.polling), leases the watches that owe a post and
has them posted (korebot.watch.delivery); another job leases the due releases and moves
each a step on (korebot.watch.releasing); a third renews the leases held while
their work runs (korebot.watch.held_leases). So a restart resumes everything, and
several processes sharing PostgreSQL split the work.

``WatchEngine``'s public methods are everything the chat side and the command line may
ask: watch, stop, subscribe, list, the status a watched job had at its last poll,
jobs started from Slack (one start each), releases, run history, the App Home's reads,
and the durable record of slash commands (whose leases it holds and renews). Each is
one store call and, where a person waits for it, one post; nothing outside this module
touches the store or the leases held.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from korebot.errors import DatabaseUnavailable
from korebot.gateway import Fetched, StatusGateway
from korebot.kore import JobStatus
from korebot.registry import Bot, JobKey
from korebot.watch.delivery import MAX_DELIVERY_ATTEMPTS, Delivery
from korebot.watch.held_leases import HeldLeases
from korebot.watch.pace import expected_end_interval
from korebot.watch.polling import Polling
from korebot.watch.releasing import Releasing
from korebot.watch.store.abc import SHOWN_RUNS, Policy, Store
from korebot.watch.types import (
    CommandClaim,
    CommandRecord,
    HomeActivity,
    Lease,
    Notifier,
    ReleaseAsk,
    ReleaseBegun,
    ReleaseView,
    RunView,
    StartAsk,
    StartClaim,
    Started,
    StartRequestView,
    StartState,
    Subscribed,
    SubscriptionView,
    WatchRequest,
    WatchView,
    now,
)

__all__ = ["MAX_DELIVERY_ATTEMPTS", "STALE_AFTER", "WatchEngine"]

log = logging.getLogger(__name__)

#: Seconds a poll's lease lasts unless renewed: how soon another process takes over
#: the poll of a process that died.
POLL_LEASE = 5.0
#: Seconds after which a start request still starting is its dead claimer's (a start
#: POST waits KORE_TIMEOUT at most, 10 s by default).
STALE_AFTER = 120.0
#: A follower looks at the start it follows after this many seconds, doubling up to the
#: second (a start takes a status call and a POST: well under a second, usually).
FOLLOW_FIRST_LOOK, FOLLOW_MAX_LOOK = 0.05, 1.0
#: Seconds between prunings of old watches (any process may do it: deleting is idempotent).
PRUNE_EVERY = 3600.0


class WatchEngine:
    def __init__(
        self,
        store: Store,
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
        self.notifier = notifier
        #: How late a poll may be (waiting for the tick) and still count as on time.
        self.grace = timedelta(seconds=POLL_LEASE)
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
        self.held = HeldLeases(store.leases)
        self.delivery = Delivery(
            store.watches, notifier, self.held, posters=posters, clock=self.clock
        )
        self.polling = Polling(
            store.targets,
            gateway,
            notifier,
            self.held,
            watch_timeout=watch_timeout,
            workers=workers,
            polled=self.delivery.fill,
            stopping=self._stopping,
        )
        self.releasing = Releasing(
            store.releases,
            gateway,
            notifier,
            self.held,
            interval=poll_interval,
            timeout=watch_timeout,
            clock=self.clock,
            stopping=self._stopping,
        )
        self.scheduler = BackgroundScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    def clock(self) -> datetime:
        """The time the engine and its store read (the store's, which tests may set)."""
        return self.store.policy.clock()

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
        # A release's step is due every poll interval: looked for half as often as polls,
        # at most a second late (a click's first step waits for it).
        looks = max(min(self.poll_interval / 2, 1.0), 0.05)
        self.scheduler.add_job(
            self.releasing.tick, "interval", seconds=looks, id="releases",
            next_run_time=self.clock(),
        )  # fmt: skip
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
        self.releasing.shutdown()
        # Queued posts stay owed in the database: the next process makes them.
        self.delivery.shutdown()

    def drain(self) -> None:
        """Wait for the polls and posts under way (for tests: the tick does not wait for them)."""
        self.polling.drain()
        self.releasing.drain()
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
            pruned = self.store.watches.prune_watches(self.clock() - self.keep)
        except DatabaseUnavailable as error:
            log.warning("Database unavailable, will prune later: %s", error.orig)
            return
        if pruned:
            log.info("Deleted %d watches ended before the last %s", pruned, self.keep)

    def poll(self, target_id: int) -> None:
        """Poll one target now, due or not, unless someone holds its lease (for tests)."""
        for claim in self.store.targets.acquire_polls(1, target_id):
            self.polling.poll(claim)

    # Watches and subscriptions -----------------------------------------------------

    def watch(self, request: WatchRequest, status: JobStatus) -> Started:
        """Watch a job for a channel, or add the asker to the channel's existing watch."""
        joined = self.store.watches.join_watch(request, status)
        # The asker's Home tab lists their watches (a queued refresh: it returns at once).
        self.notifier.training_changed(request.bot.name)
        if joined.lease is None:
            return Started(joined.view, True)
        return Started(self.delivery.announce(joined, status), False)

    def watched_status(self, key: JobKey) -> Fetched | None:
        """The last poll's answer while the job runs and its next poll is on time.

        A watch posts a change within one interval, so asking Kore.ai in between would
        tell nothing more and spend the bot's budget: asks ride on the polls, and many
        channels asking about one job cost no more calls than one. A poll just due
        (waiting for the tick, or under way) still counts as on time. None otherwise.
        """
        target = self.store.targets.target_state(key)
        moment = self.clock()
        if (
            target is None
            or target.status is None
            or target.checked_at is None
            or target.failing
            or target.next_poll_at is None
            or (moment > target.next_poll_at + self.grace and not target.polling)
        ):
            return None
        return Fetched(target.status, (moment - target.checked_at).total_seconds())

    def stop(self, channel_id: str, key: JobKey, user_id: str) -> WatchView | None:
        """Stop the channel's watch of this job; None if there was none."""
        watch_id = self.find_watch(key, channel_id)
        return None if watch_id is None else self.stop_by_id(watch_id, channel_id, user_id)

    def find_watch(self, key: JobKey, channel_id: str) -> int | None:
        """The channel's active watch of the job, if any."""
        return self.store.watches.find_watch(key, channel_id)

    def stop_by_id(self, watch_id: int, channel_id: str, user_id: str) -> WatchView | None:
        """Stop a watch by ID (the button), only from the channel it belongs to."""
        view = self.store.watches.stop_watch(watch_id, channel_id)
        if view is not None:
            self._tell_stopped(view, user_id)
        return view

    def watches_in(self, channel_id: str) -> list[WatchView]:
        return self.store.watches.watches_in(channel_id)

    def subscribe(
        self, team_id: str, channel_id: str, user_id: str, key: JobKey, bot_name: str
    ) -> tuple[SubscriptionView, Subscribed]:
        return self.store.subscriptions.subscribe(team_id, channel_id, user_id, key, bot_name)

    def unsubscribe(self, channel_id: str, key: JobKey, user_id: str) -> SubscriptionView | None:
        gone = self.store.subscriptions.unsubscribe(channel_id, key)
        if gone is None:
            return None
        subscription, stopped = gone
        for view in stopped:
            self._tell_stopped(view, user_id)
        return subscription

    def subscriptions_in(self, channel_id: str) -> list[SubscriptionView]:
        return self.store.subscriptions.subscriptions_in(channel_id)

    def active_count(self) -> int:
        """Targets being polled (one per watched or subscribed job)."""
        return self.store.targets.active_count()

    # Jobs started from Slack (trainings, batch test runs, publishes) ------------------

    def record_start_request(self, ask: StartAsk) -> StartRequestView:
        """A confirmation to show (``StartRequests.record_start_request``)."""
        return self.store.start_requests.record_start_request(ask)

    def start_request(self, token: str) -> StartRequestView | None:
        return self.store.start_requests.start_request(token)

    def claim_start(self, token: str, user_id: str) -> StartClaim:
        """Claim a request as its job's one start, or as a follower of the request
        holding it (``StartRequests.claim_start``): only a winner may POST."""
        return self.store.start_requests.claim_start(token, user_id)

    def wait_for_start(self, leader: StartRequestView, stale_after: float) -> StartRequestView:
        """Wait, reading the database, until the request holding a job's start has left
        starting (its start ended, one way or the other) or is presumed dead
        (``stale_after`` seconds after its claim); the request as it is then. A follower
        of a start never POSTs: it waits here, then asks what runs."""
        claimed_at = leader.claimed_at or self.clock()
        left = claimed_at + timedelta(seconds=stale_after) - self.clock()
        deadline = time.monotonic() + max(left.total_seconds(), 0.0)
        now, pause = leader, FOLLOW_FIRST_LOOK
        while now.state is StartState.STARTING and (wait := deadline - time.monotonic()) > 0:
            time.sleep(min(pause, wait))
            pause = min(pause * 2, FOLLOW_MAX_LOOK)
            now = self.start_request(leader.token) or now
        return now

    def take_stale_start_requests(self, stale_after: float) -> list[StartRequestView]:
        """The requests left starting by a dead process, each taken by one caller (the
        sweep): status first, never a POST."""
        return self.store.start_requests.take_stale_start_requests(stale_after)

    def reclaim_start_request(self, token: str, stale_after: float) -> StartRequestView | None:
        """Take over a request its dead claimer left starting: ask the status, never POST."""
        return self.store.start_requests.reclaim_start_request(token, stale_after)

    def cancel_start_request(self, token: str) -> tuple[StartRequestView | None, bool]:
        return self.store.start_requests.cancel_start_request(token)

    def finish_start_request(
        self, request_id: int, state: StartState, result: str, watch_id: int | None = None
    ) -> bool:
        return self.store.start_requests.finish_start_request(request_id, state, result, watch_id)

    # Releases: train, gate, publish, live (korebot.watch.releasing) ----------------------

    def record_release(self, ask: ReleaseAsk) -> ReleaseView:
        """A release's confirmation to show (``Releases.record_release``)."""
        return self.store.releases.record_release(ask)

    def release(self, token: str) -> ReleaseView | None:
        return self.store.releases.release(token)

    def running_release(self, bot: Bot) -> ReleaseView | None:
        """The bot's running release, if any."""
        return self.store.releases.running_release(bot.host, bot.bot_id)

    def begin_release(self, token: str) -> ReleaseBegun:
        """Begin the confirmed release, once, unless another of the bot runs; the next
        tick takes its first step (``Releases.begin_release``)."""
        return self.store.releases.begin_release(token)

    def cancel_release(self, token: str) -> tuple[ReleaseView | None, bool]:
        return self.store.releases.cancel_release(token)

    def stop_release(self, release_id: int, user_id: str) -> ReleaseView | None:
        """Stop a running release at its next look (what it started goes on at Kore.ai)."""
        return self.store.releases.stop_release(release_id, user_id)

    def running_releases(self, bots: list[Bot] | None = None) -> list[ReleaseView]:
        """The running releases (of these bots), oldest first."""
        pairs = None if bots is None else [(b.host, b.bot_id) for b in bots]
        return self.store.releases.running_releases(pairs)

    def releases(self, bot: Bot, limit: int = SHOWN_RUNS) -> list[ReleaseView]:
        """The bot's releases, newest first."""
        return self.store.releases.releases(bot.host, bot.bot_id, limit)

    # History and the App Home ------------------------------------------------------

    def runs(self, key: JobKey, limit: int = SHOWN_RUNS) -> list[RunView]:
        """The job's last runs, newest first."""
        return self.store.runs.runs(key, limit)

    def home_activity(self, user_id: str, bots: list[Bot]) -> HomeActivity:
        """What the store knows for the user's tab, of these bots (no Kore.ai call)."""
        return self.store.home_tabs.home_activity(user_id, [(b.host, b.bot_id) for b in bots])

    def record_home_opened(self, team_id: str, user_id: str) -> None:
        self.store.home_tabs.record_home_opened(team_id, user_id)

    def open_homes(self, opened_since: datetime) -> list[tuple[str, str]]:
        """The (team, user) of every tab opened since ``opened_since``."""
        return self.store.home_tabs.open_homes(opened_since)

    # Slash commands, recorded so that a crash does not lose them ---------------------

    def record_command(self, record: CommandRecord) -> Lease:
        """Record a command before its ack; its lease is held (and renewed) until
        ``finish_command``."""
        lease = self.store.slash_commands.record_command(record)
        self.held.add(lease)
        return lease

    def finish_command(self, lease: Lease) -> bool:
        """Mark the command done; whether its lease was still held (else it may run twice)."""
        try:
            return self.store.slash_commands.finish_command(lease)
        finally:
            self.held.discard(lease)

    def recover_commands(
        self, limit: int, answerable_since: datetime, done_before: datetime
    ) -> tuple[list[int], list[CommandClaim]]:
        """Expire the unfinished commands too old to answer, prune the done ones, and lease
        (and hold) up to ``limit`` unfinished ones to run again; the expired IDs and the claims."""
        commands = self.store.slash_commands
        expired = commands.expire_commands(answerable_since)
        commands.prune_commands(done_before)
        claims = commands.acquire_commands(limit, answerable_since)
        for claim in claims:
            self.held.add(claim.lease)
        return expired, claims

    def _tell_stopped(self, view: WatchView, user_id: str) -> None:
        try:
            self.notifier.stopped(view, user_id)
        except Exception:
            log.exception("Could not update the message of watch %d", view.watch_id)

    def _pace(self, running_for: float | None, watched: bool, usual: float | None) -> float:
        if running_for is None and not watched:
            return self.subscription_interval
        return expected_end_interval(
            running_for or 0.0,
            self.poll_interval,
            self.max_poll_interval,
            usual if self.poll_from_history else None,
        )
