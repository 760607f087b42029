"""Delivery: the posts each watch owes, made exactly once.

At-least-once made exactly-once: the final word is recorded on the watch before it
is posted (polling does that), acquiring a watch's delivery lease counts the attempt
before the post, and a retry after a crash first asks the notifier whether the post is
already there. A failing Slack is retried with backoff (2, 4, … 300 s); a post Slack
will never take (``Undeliverable``), or too many failures, ends the watch. It may touch
the store's watches and the notifier's posting methods, nothing else.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime, timedelta

from korebot.errors import DatabaseUnavailable, Undeliverable
from korebot.kore import JobStatus
from korebot.watch.held_leases import HeldLeases
from korebot.watch.store.abc import Watches
from korebot.watch.thread_pool import Pool
from korebot.watch.types import DeliveryClaim, Ended, Joined, Lease, Notifier, WatchView

log = logging.getLogger(__name__)

#: Posts of one watch that may fail (backing off up to 5 min apart, about 2 h in all)
#: before its message is given up as undeliverable.
MAX_DELIVERY_ATTEMPTS = 30


class Delivery:
    def __init__(
        self,
        watches: Watches,
        notifier: Notifier,
        held: HeldLeases,
        *,
        posters: int,
        clock: Callable[[], datetime],
    ) -> None:
        self.watches, self.notifier, self.held, self.clock = watches, notifier, held, clock
        # Posts have their own pool: one ending fans out to every watching channel at once
        # (Slack's limit is per channel), and a slow Slack does not hold up the polls.
        self._pool = Pool(posters, "korebot-post")
        #: Watches leased at a time: enough to keep every poster busy, not to hoard them
        #: from other processes.
        self.capacity = 2 * posters
        self._fill_lock = threading.Lock()
        self._more = False  # the last acquisition was full: more may be owed
        self._stopping = threading.Event()

    def fill(self, target_id: int | None = None) -> None:
        """Lease owed posts (of one target, if given) up to capacity and queue them."""
        with self._fill_lock:
            room = self.capacity - self.held.count("delivery")
            if room <= 0 or self._stopping.is_set():
                self._more = self._more or room <= 0
                return
            claims = self.watches.acquire_deliveries(room, target_id)
            self._more = len(claims) == room
            for claim in claims:
                self.held.add(claim.lease)
                self._pool.submit(self._run, claim)

    def drain(self) -> None:
        """Wait for the posts queued so far, and those they queued (for tests)."""
        self._pool.drain()

    def shutdown(self) -> None:
        """Let posts in flight finish; hand back those still queued (owed, for anyone)."""
        with self._fill_lock:  # no fill is between its check and its submit
            self._stopping.set()
        self._pool.shutdown(cancel_queued=True)
        for lease in self.held.of_kind("delivery"):
            with suppress(DatabaseUnavailable):  # if so, the lease expires instead
                self.watches.release_delivery(lease, None)
            self.held.discard(lease)

    def announce(self, joined: Joined, status: JobStatus) -> WatchView:
        """Post a new watch's message right away (the asker waits), under its new lease."""
        lease = joined.lease
        assert lease is not None
        self.held.add(lease)
        try:
            try:
                where = self.notifier.announce(joined.view, status)
            except Exception:
                self.watches.close_delivery(lease, Ended.UNDELIVERABLE)
                raise
            return self._thread(lease, where, release=True)
        finally:
            self.held.discard(lease)

    def _run(self, claim: DeliveryClaim) -> None:
        try:
            self.deliver(claim)
        except DatabaseUnavailable as error:
            log.warning("Database unavailable posting for watch %d: %s", claim.lease.id, error.orig)
        except Exception:
            log.exception("deliver(%d) failed; it will be retried", claim.lease.id)
        finally:
            self.held.discard(claim.lease)
        if self._more:
            self.fill()

    def deliver(self, claim: DeliveryClaim) -> None:
        """Post what a leased watch owes, then close it or release it (with backoff)."""
        lease = claim.lease
        attempts = claim.announce_attempts + claim.outcome_attempts
        retry_in: float | None = None
        closed = False
        try:
            if attempts >= MAX_DELIVERY_ATTEMPTS:
                error = Undeliverable(f"gave up after {attempts} attempts", "user")
                self._give_up(claim, error)
                closed = True
                return
            try:
                closed = self._post(claim)
            except Undeliverable as error:
                self._give_up(claim, error)
                closed = True
            except Exception:
                # Slack is failing: back off (2, 4, … 300 s) instead of retrying every tick.
                retry_in = min(2.0 ** max(attempts, 1), 300.0)
                raise
        finally:
            if not closed:
                retry_at = None
                if retry_in is not None:
                    retry_at = self.clock() + timedelta(seconds=retry_in)
                self.watches.release_delivery(lease, retry_at)

    def _post(self, claim: DeliveryClaim) -> bool:
        """The posts themselves; whether the watch is done (delivered)."""
        view, outcome, lease = claim.view, claim.outcome, claim.lease
        if view.thread_ts is None and outcome is None:
            status = JobStatus.placeholder(view.last_status, view.kind)
            found = self.notifier.find_announcement(view) if claim.announce_attempts else None
            self._thread(lease, found or self.notifier.announce(view, status))
            return False
        if outcome is None:
            return False
        if view.thread_ts is None and claim.announce_attempts:
            found = self.notifier.find_announcement(view)
            if found:
                view = self._thread(lease, found)
        posted = bool(claim.outcome_attempts) and self.notifier.find_outcome(view)
        self.notifier.finish(view, outcome, posted=posted)
        self.watches.close_delivery(lease, Ended.DELIVERED)
        self.notifier.training_changed(view.bot_name)  # the watch ended: Home tabs show it
        return True

    def _thread(self, lease: Lease, where: tuple[str, str], *, release: bool = False) -> WatchView:
        view = self.watches.record_thread(lease, where, release=release)
        log.info(
            "Watching %s (%s, %s) for %s in thread %s/%s",
            view.bot_name,
            view.language,
            view.state.value,
            view.channel_id,
            *where,
        )
        return view

    def _give_up(self, claim: DeliveryClaim, error: Undeliverable) -> None:
        self.watches.give_up(claim.lease, error)
        # Logged once it is recorded: what the log says is what the database holds.
        team, channel = claim.view.team_id, claim.view.channel_id
        if error.scope == "workspace":
            log.error(
                "Slack refused the token of workspace %s (%s); stopped its watches "
                "and subscriptions",
                team,
                error.code,
            )
        elif error.scope == "channel":
            log.warning("Cannot post in %s (%s); dropped its subscriptions", channel, error.code)
        else:
            log.error("Watch %d could not be delivered to anyone: %s", claim.lease.id, error.code)
