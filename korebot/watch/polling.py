"""Polling: due targets → Kore.ai through the StatusGateway → observations in the store.

It may touch the store's targets (acquire, record, defer), the gateway, and the
notifier's "Kore.ai is failing / back" and "subscription paused" messages. After each
poll it hands the target to delivery, which posts what the observation made owed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import suppress
from functools import partial

from korebot.errors import DatabaseUnavailable
from korebot.gateway import StatusGateway
from korebot.kore import InvalidInput, KoreError, RateLimited, UnreadableResponse
from korebot.kore.errors import BudgetExhausted
from korebot.watch.held_leases import HeldLeases
from korebot.watch.store.abc import Targets
from korebot.watch.thread_pool import Pool
from korebot.watch.types import Notifier, PollClaim, RunEvent

log = logging.getLogger(__name__)


class Polling:
    def __init__(
        self,
        targets: Targets,
        gateway: StatusGateway,
        notifier: Notifier,
        held: HeldLeases,
        *,
        watch_timeout: float,
        workers: int,
        polled: Callable[[int], None],
        stopping: threading.Event,
    ) -> None:
        self.targets, self.gateway, self.notifier, self.held = targets, gateway, notifier, held
        self.watch_timeout = watch_timeout
        #: Called with a target's ID after its poll was recorded (delivery takes it from there).
        self.polled = polled
        #: Set when the process is shutting down: no poll starts after that.
        self.stopping = stopping
        self._pool = Pool(workers, "korebot-poll")
        self._fill_lock = threading.Lock()
        self._more = False  # the last tick leased as many as it could: more may be due

    def tick(self) -> None:
        """Lease as many due targets as there are idle workers, start their polls, return.

        It does not wait for them: a poll that waits on a slow Kore.ai holds one worker
        (its lease renewed meanwhile, so nobody takes it over), and the other workers go
        on with the other targets. A poll that ends while more may be due ticks again.
        """
        with self._fill_lock:
            idle = self._pool.workers - self.held.count("poll")
            if idle <= 0 or self.stopping.is_set():
                self._more = self._more or idle <= 0
                return
            claims = self.targets.acquire_polls(idle)
            self._more = len(claims) == idle
            for claim in claims:
                self.held.add(claim.lease)
                self._pool.submit(self._guarded, claim)

    def drain(self) -> None:
        """Wait for the polls under way (for tests: the tick does not wait for them)."""
        self._pool.drain()

    def shutdown(self) -> None:
        """Let the polls under way finish; none starts after this."""
        with self._fill_lock:  # no tick is between its check and its submit
            self.stopping.set()
        self._pool.shutdown(cancel_queued=False)  # a queued one defers its target at once

    def _guarded(self, claim: PollClaim) -> None:
        try:
            if self.stopping.is_set():  # submitted as the process began to stop: not polled
                self.targets.defer(claim.lease, 0.0)
                return
            self.poll(claim)
        except DatabaseUnavailable as error:
            log.warning("Database unavailable during poll(%d): %s", claim.lease.id, error.orig)
        except Exception:
            log.exception("poll(%d) failed; it will be retried", claim.lease.id)
        finally:
            self.held.discard(claim.lease)
        if self._more:
            with suppress(DatabaseUnavailable):  # the next tick tries again
                self.tick()

    def poll(self, claim: PollClaim) -> None:
        """Ask Kore.ai about one leased target, record the answer, release the target."""
        lease = claim.lease
        self.held.add(lease)
        try:
            bot = self.gateway.registry.resolve(claim.bot_name, allow_raw_id=True)
            fetched = self.gateway.status(
                bot,
                claim.language,
                claim.state,
                "poll",
                claim.kind,
                subject=claim.subject,
                last=claim.last,
            )
            result = fetched.status
        except BudgetExhausted as error:
            self.targets.defer(lease, error.retry_after)
            return
        except InvalidInput as error:
            self._failed(claim, f"the bot is no longer configured ({error})", permanent=True)
        except KoreError as error:
            # A body Kore.ai should not send (an HTML error page, an odd shape) is a passing
            # fault for a watch: it keeps trying, until its deadline at worst.
            passing = error.transient or isinstance(error, UnreadableResponse)
            wait = error.retry_after if isinstance(error, RateLimited) else None
            self._failed(claim, str(error), permanent=not passing, retry_after=wait)
        else:
            observed = self.targets.record_status(
                lease, result, self._timeout_reason, read_after=claim.seen
            )
            for view in observed.recovered if observed else []:
                self._quietly(partial(self.notifier.unreachable, view, None, ""), view.watch_id)
            for view in observed.overdue if observed else []:
                self._quietly(partial(self.notifier.overdue, view), view.watch_id)
            if observed is not None and observed.event is not RunEvent.SAME:
                # After the transaction: open Home tabs showing this training are refreshed.
                self.notifier.training_changed(claim.bot_name)
        finally:
            self.held.discard(lease)
        self.polled(lease.id)

    def _failed(
        self, claim: PollClaim, error: str, *, permanent: bool, retry_after: float | None = None
    ) -> None:
        failed = self.targets.record_failure(
            claim.lease,
            error,
            permanent=permanent,
            retry_after=retry_after,
            timeout_reason=self._failing_reason,
        )
        if failed is None:
            return
        for view in failed.failing:
            say = partial(self.notifier.unreachable, view, failed.since, error)
            self._quietly(say, view.watch_id)
        for sub in failed.paused:
            try:
                self.notifier.paused(sub, error)
            except Exception:
                log.exception("Could not tell %s that its subscription is paused", sub.channel_id)

    def _timeout_reason(self, seen: str) -> str:
        return self.notifier.timed_out(self.watch_timeout, seen, None)

    def _failing_reason(self, last: str | None, error: str) -> str:
        return self.notifier.timed_out(self.watch_timeout, last or "unknown", error)

    @staticmethod
    def _quietly(say: Callable[[], None], watch_id: int) -> None:
        try:
            say()
        except Exception:
            log.exception("Could not update the message of watch %d", watch_id)
