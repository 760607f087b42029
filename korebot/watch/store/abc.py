"""The watch store's contract: every transaction the engine needs, one port per table.

In the shape of APScheduler 4's ``DataStore`` (``apscheduler/abc.py``): work is
*acquired* with a lease and *released* with what became of it. There is one lease for
every kind of work, a poll of a target, the posts of a watch, and a slash command's work
after its ack (korebot.watch.store.leases writes it once):

- Acquiring writes a fresh owner token and an expiry (``lease_until``) on the row, only
  if no unexpired lease is there; so of two acquirers, in this process or another, one
  gets it and the other does not see it at all.
- The holder renews its leases (``Leases.renew``) while it works, so a slow poll or post
  is never taken by another process alongside a live holder.
- Releasing is checked: it applies only while the token is still the row's, and says
  whether it was. A holder that dies stops renewing, and its work is due again (to
  anyone) once the lease expires.

Each port is answered by the module of its table in korebot.watch.store (``Targets`` by
``targets.py``, and so on), so the SQL of an operation is the method of that name there;
a transaction that changes several tables lives with the one whose row it leases or
creates. ``korebot.watch.store.Store`` assembles them; tests/store holds them to this
contract. Database failures surface as ``DatabaseUnavailable``. Every method is
thread-safe.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from korebot.errors import Undeliverable
from korebot.gateway import Limits
from korebot.kore import JobStatus
from korebot.registry import JobKey
from korebot.watch.types import (
    CommandClaim,
    CommandRecord,
    DeliveryClaim,
    Ended,
    Failed,
    HomeActivity,
    Joined,
    Lease,
    Observed,
    PollClaim,
    ReleaseAsk,
    ReleaseBegun,
    ReleaseClaim,
    ReleaseOutcome,
    ReleaseProgress,
    ReleaseStep,
    ReleaseView,
    RunView,
    StartAsk,
    StartClaim,
    StartRequestView,
    StartState,
    Subscribed,
    SubscriptionView,
    TargetState,
    WatchRequest,
    WatchView,
    now,
)

#: Runs ``Runs.runs`` returns by default.
SHOWN_RUNS = 10


@dataclass(frozen=True)
class Policy:
    """The engine's settings the store applies inside its transactions."""

    #: Seconds a watch waits for its run's end before it ends with a timeout.
    watch_timeout: float = 4 * 3600.0
    max_watches_per_channel: int = 20
    max_watches_per_workspace: int = 500
    #: Seconds a lease lasts unless renewed: how soon a dead holder's work is due again.
    poll_lease: float = 5.0
    #: Also a slash command's lease: both are work a person waits to see in Slack.
    delivery_lease: float = 30.0
    #: Seconds to the next poll, from how long the run has been going (None: not running),
    #: whether a watch waits (else only subscriptions), and its usual length (None: unknown).
    pace: Callable[[float | None, bool, float | None], float] = lambda _r, _w, _u: 60.0
    #: The time the store reads (tests control it).
    clock: Callable[[], datetime] = now


class Targets(ABC):
    """``korebot_targets``: one row per training (``JobKey``), polled once for everyone;
    its poll lease. Recording a poll also writes the watches, subscriptions and runs it
    changes (korebot.watch.store.targets)."""

    @abstractmethod
    def acquire_polls(self, limit: int, target_id: int | None = None) -> list[PollClaim]:
        """Lease up to ``limit`` due targets (next poll passed, no unexpired lease), soonest first.

        With ``target_id``: that target, due or not, unless it is leased.

        The caller holds each for ``policy.poll_lease`` seconds, renewed with ``renew``
        while it polls, until it releases it with ``record_status``, ``record_failure`` or
        ``defer``. A second acquirer does not see a leased target; if the holder dies, the
        target is acquired again once the lease expires.
        """

    @abstractmethod
    def record_status(
        self,
        lease: Lease,
        status: JobStatus,
        timeout_reason: Callable[[str], str],
        *,
        read_after: datetime | None = None,
    ) -> Observed | None:
        """Record a poll's answer and release the target with its next poll time.

        Watches waiting get their outcome (the result if it is final, a timeout reason
        from the last status seen if past their deadline); subscriptions get a watch for
        the run that started or ended. None (and nothing recorded) if the lease was lost.
        ``read_after``: when the answer the poll started from was recorded
        (``PollClaim.seen``); a start from Slack recorded since then is newer than this
        answer, which is dropped (the target is only released and rescheduled).
        """

    @abstractmethod
    def record_failure(
        self,
        lease: Lease,
        error: str,
        *,
        permanent: bool,
        retry_after: float | None,
        timeout_reason: Callable[[str | None, str], str],
    ) -> Failed | None:
        """Record a failed poll and release the target with its next poll time.

        Permanent: every waiting watch ends with the error and subscriptions pause.
        Otherwise watches past their deadline time out (``timeout_reason(last status,
        error)``), and the next poll is no sooner than ``retry_after``. None if the lease
        was lost.
        """

    @abstractmethod
    def defer(self, lease: Lease, seconds: float) -> bool:
        """Release the target unpolled, due again in ``seconds``; whether it was still held."""

    @abstractmethod
    def target_state(self, key: JobKey) -> TargetState | None:
        """The training's last poll, if it has a target."""

    @abstractmethod
    def active_count(self) -> int:
        """Targets being polled (one per watched or subscribed training)."""


class Watches(ABC):
    """``korebot_watches`` (with ``korebot_askers``): a channel waiting for a run's end, and
    the posts it owes, under its delivery lease."""

    @abstractmethod
    def join_watch(self, request: WatchRequest, status: JobStatus) -> Joined:
        """The channel's active watch of the training, created if missing, with the asker.

        Creating it checks the channel's and workspace's limits (``LimitReached``) and
        takes its delivery lease at once (the asker waits for its message): the caller
        holds it until it records the thread or releases it; if the caller dies, the
        message is owed (and posted by whoever acquires it after the lease expires).
        Two concurrent calls for one channel make one watch: the second joins it.
        """

    @abstractmethod
    def find_watch(self, key: JobKey, channel_id: str) -> int | None:
        """The channel's active watch of the training, if any."""

    @abstractmethod
    def stop_watch(self, watch_id: int, channel_id: str) -> WatchView | None:
        """End a watch as stopped, only from its channel (or thread's); None if it can't be.

        A watch whose outcome is already recorded is being delivered: it cannot be stopped.
        """

    @abstractmethod
    def watches_in(self, channel_id: str) -> list[WatchView]:
        """The channel's active watches, oldest first."""

    @abstractmethod
    def acquire_deliveries(self, limit: int, target_id: int | None = None) -> list[DeliveryClaim]:
        """Lease up to ``limit`` watches that owe a post (of ``target_id`` only, if given),
        taking turns between targets (each one's oldest first), in the order to post them.

        A watch owes its message until its thread is recorded, then its outcome once
        that is recorded. Acquiring counts the attempt first, so that after a crash the
        next holder knows to look before posting again. The caller holds each for
        ``policy.delivery_lease`` seconds, renewed while it posts, until it closes or
        releases it; a second acquirer does not see it; a dead holder's expires.
        """

    @abstractmethod
    def record_thread(
        self, lease: Lease, where: tuple[str, str], *, release: bool = False
    ) -> WatchView:
        """Record where the watch's message is (channel, ts); the lease stays held, unless
        ``release`` (checked, as ``release_delivery(lease, None)``)."""

    @abstractmethod
    def release_delivery(self, lease: Lease, retry_at: datetime | None) -> bool:
        """Release the watch, to be acquired again from ``retry_at`` (None: at once).

        Whether it was still held (if not, nothing changes).
        """

    @abstractmethod
    def close_delivery(self, lease: Lease, how: Ended) -> bool:
        """End the watch (delivered or undeliverable) and release it; whether it was held."""

    @abstractmethod
    def give_up(self, lease: Lease, error: Undeliverable) -> None:
        """End the watch as undeliverable, and what ``error.scope`` says is lost with it:

        the workspace's other watches end and its subscriptions pause, or the channel's
        subscriptions are deleted. Releases the lease.
        """

    @abstractmethod
    def prune_watches(self, ended_before: datetime) -> int:
        """Delete the watches (with their askers) that ended before ``ended_before``; how
        many. Train requests keep their audit without the watch; runs are kept."""


class Subscriptions(ABC):
    """``korebot_subscriptions``: a channel that hears of every run of a training."""

    @abstractmethod
    def subscribe(
        self, team_id: str, channel_id: str, user_id: str, key: JobKey, bot_name: str
    ) -> tuple[SubscriptionView, Subscribed]:
        """Subscribe the channel (or resume its paused subscription).

        If the target's last poll, recent enough, saw a run in progress, the channel gets a
        watch of it (``running`` in the view); otherwise a poll is due now, which records
        the current state and, for a run in progress, makes that watch.
        """

    @abstractmethod
    def unsubscribe(
        self, channel_id: str, key: JobKey
    ) -> tuple[SubscriptionView, list[WatchView]] | None:
        """Delete the channel's subscription and stop the watches it started that nobody
        asked for (an asker's watch goes on); None if there was no subscription."""

    @abstractmethod
    def subscriptions_in(self, channel_id: str) -> list[SubscriptionView]:
        """The channel's subscriptions, oldest first."""


class SlashCommands(ABC):
    """``korebot_commands``: a slash command from before its ack to the end of its work,
    under the same lease as polls and posts."""

    @abstractmethod
    def record_command(self, record: CommandRecord) -> Lease:
        """Record a command before its ack, leased to the caller, its first attempt counted.

        The caller holds it for ``policy.delivery_lease`` seconds, renewed while the work
        runs, until ``finish_command``; if the caller dies, the command is acquired again
        once the lease expires. Committed when it returns: it runs on the ack's path.
        """

    @abstractmethod
    def acquire_commands(self, limit: int, received_since: datetime) -> list[CommandClaim]:
        """Lease up to ``limit`` unfinished commands received from ``received_since`` on
        whose lease expired (or was never held), oldest first, counting an attempt.

        A second acquirer does not see a leased command; the holder renews and finishes
        it as ``record_command``'s caller does.
        """

    @abstractmethod
    def finish_command(self, lease: Lease) -> bool:
        """Mark the command done and release it; whether the lease was still held (if
        not, nothing changes: its new holder finishes it)."""

    @abstractmethod
    def expire_commands(self, received_before: datetime) -> list[int]:
        """Mark done, unrun, the unfinished commands received before ``received_before``
        that no one holds (too old to answer); their IDs, for the log."""

    @abstractmethod
    def prune_commands(self, done_before: datetime) -> int:
        """Delete the commands done before ``done_before``; how many."""


class StartRequests(ABC):
    """``korebot_train_requests``: a training asked for from Slack, its confirmation
    claimed once. A request is written before its buttons are shown, and a click claims
    it with one conditional UPDATE: whatever the clicks, replays and processes, one caller
    starts it."""

    @abstractmethod
    def record_start_request(self, ask: StartAsk) -> StartRequestView:
        """Record a pending request with a fresh random token, valid for ``ask.valid_for``
        seconds; committed when it returns (before its buttons are shown)."""

    @abstractmethod
    def start_request(self, token: str) -> StartRequestView | None:
        """The request with this token, as it is now; None if there is none."""

    @abstractmethod
    def claim_start_request(self, token: str, user_id: str) -> tuple[StartRequestView | None, bool]:
        """Claim a pending, unexpired request for starting (pending → starting, by ``user_id``).

        Single-use: one conditional UPDATE, so of any number of callers (clicks replayed,
        two users, two processes; SQLite or PostgreSQL) exactly one gets True, and every
        other gets False with the request as it is. A pending one past its expiry is
        marked expired instead (False). (None, False) if there is no such request.
        ``claim_start``'s claim: a follower's is False too (it must not POST).
        """

    @abstractmethod
    def claim_start(self, token: str, user_id: str) -> StartClaim:
        """Claim a pending, unexpired request (pending → starting, by ``user_id``), as the
        one start of its training or as a follower of the request holding it.

        Invariant: of all the requests for one training (``JobKey``), at most one
        holds its start at any moment, on any database and across processes: the claim
        writes the request's ``starting_key`` (unique) in the same conditional UPDATE
        that makes it starting, and it is cleared when the request leaves starting
        (``finish_start_request``). Only the holder (``won``) may send the train POST. A
        claim made while another request holds the training's start gets ``leader``
        instead: its request is starting, holds nothing and names the leader (``follows``),
        and its caller must never POST: it waits for the leader to leave starting (or to
        be presumed dead, as for ``reclaim_start_request``), then asks for the status and
        joins what runs. Every click is single-use as for ``claim_start_request``: of any
        number of callers for one request, one gets ``won`` or a ``leader``, the others
        neither, with the request as it is; a pending one past its expiry is marked
        expired instead.
        """

    @abstractmethod
    def take_stale_start_requests(
        self, stale_after: float, limit: int = 10
    ) -> list[StartRequestView]:
        """Take over the requests (leaders and followers alike) still starting
        ``stale_after`` seconds after their claim (their claimer died), oldest first, at
        most ``limit``, renewing their claim; the ones this call took.

        Each is taken by one caller, whatever the processes (a conditional UPDATE of its
        claim time): the sweep of every process may run at once. As with
        ``reclaim_start_request``, the taker must not POST: it asks for the status and
        finishes the request (``finish_start_request``) from what it finds.
        """

    @abstractmethod
    def reclaim_start_request(self, token: str, stale_after: float) -> StartRequestView | None:
        """Take over a request still starting ``stale_after`` seconds after its claim (its
        claimer died around the POST), renewing the claim; None unless this call did.

        One caller wins, as for ``claim_start_request``. The taker must not POST again: it
        asks for the status and finishes the request from what it finds.
        """

    @abstractmethod
    def cancel_start_request(self, token: str) -> tuple[StartRequestView | None, bool]:
        """Cancel a pending request (pending → cancelled); whether this call did, with the
        request as it is. A cancelled request can never be claimed."""

    @abstractmethod
    def finish_start_request(
        self, request_id: int, state: StartState, result: str, watch_id: int | None = None
    ) -> bool:
        """Record how a claimed (starting) request ended, with its watch; whether it was
        still starting (only the claimer finishes it, once). It lets go of its training's
        start in the same UPDATE: the next request for the training may claim it."""


class Releases(ABC):
    """``korebot_releases``: a release's confirmation, claimed once, then its steps, worked
    on by the holder of its lease (korebot.watch.releasing)."""

    @abstractmethod
    def record_release(self, ask: ReleaseAsk) -> ReleaseView:
        """Record a pending release with a fresh random token, valid for ``ask.valid_for``
        seconds; committed when it returns (before its buttons are shown)."""

    @abstractmethod
    def release(self, token: str) -> ReleaseView | None:
        """The release with this token, as it is now."""

    @abstractmethod
    def running_release(self, host: str, bot_id: str) -> ReleaseView | None:
        """The bot's running release, if any."""

    @abstractmethod
    def begin_release(self, token: str) -> ReleaseBegun:
        """Begin a pending, unexpired release (pending → running, due at once), taking the
        bot's one running release.

        Single-use: of any number of callers (clicks replayed, processes), one gets
        ``won``. While another release of the same bot runs, none does: each gets that
        one as ``running``, and this one stays pending. Past its expiry, it stays pending.
        """

    @abstractmethod
    def cancel_release(self, token: str) -> tuple[ReleaseView | None, bool]:
        """Cancel a pending release; whether this call did, with the release as it is."""

    @abstractmethod
    def stop_release(self, release_id: int, user_id: str) -> ReleaseView | None:
        """Ask a running release to stop, due at once (its holder ends it at its next
        step); the release, or None if it was not running or already asked to stop."""

    @abstractmethod
    def acquire_releases(self, limit: int) -> list[ReleaseClaim]:
        """Lease up to ``limit`` releases due now (``next_at`` passed, no unexpired lease):
        running ones, and ended ones whose thread still owes a line.

        The caller holds each for ``policy.poll_lease`` seconds, renewed while it works,
        until ``save_release(…, release=True)``; a second acquirer does not see it, and a
        dead holder's is acquired again once the lease expires. Every write of the holder
        is checked against the lease: one that lost it writes nothing (and must not POST).
        """

    @abstractmethod
    def save_release(
        self,
        lease: Lease,
        progress: ReleaseProgress,
        step: ReleaseStep,
        *,
        outcome: ReleaseOutcome | None = None,
        message: tuple[str, str] | None = None,
        due: datetime | None = None,
        release: bool = False,
    ) -> ReleaseView | None:
        """Write the release's steps and jobs and its current step, committed when it
        returns (so before any POST that follows), and where its checklist is
        (``message``: channel, ts); with ``outcome``, it ends (the bot's
        running release is let go of); with ``release``, the lease too, due again at
        ``due`` (None: never). None, and nothing written, if the lease was lost."""

    @abstractmethod
    def running_releases(self, bots: list[tuple[str, str]] | None = None) -> list[ReleaseView]:
        """The running releases (of these (host, bot ID) pairs), oldest first."""

    @abstractmethod
    def releases(self, host: str, bot_id: str, limit: int) -> list[ReleaseView]:
        """The bot's releases that began, newest first."""


class Runs(ABC):
    """``korebot_runs``: each training run korebot saw (written by the poll transactions,
    korebot.watch.store.runs), read back as history."""

    @abstractmethod
    def runs(self, key: JobKey, limit: int = SHOWN_RUNS) -> list[RunView]:
        """The training's last ``limit`` runs, newest first (none if it has no target)."""


class HomeTabs(ABC):
    """``korebot_home_tabs``: who has their App Home open, and what their tab shows.

    Reads only what earlier polls and commands recorded: opening a tab never costs a
    Kore.ai call. Slack does not say when a tab is closed, so "open" means "opened in the
    last few minutes", recorded in the database so that every process sharing it knows.
    """

    @abstractmethod
    def home_activity(self, user_id: str, bots: Iterable[tuple[str, str]]) -> HomeActivity:
        """What the store knows for the user's tab: every target of these (host, bot ID)
        (any language, state and kind; a training never asked about has none), the
        active watches the user is an asker of, and the subscriptions they created or of
        channels where they have a watch."""

    @abstractmethod
    def record_home_opened(self, team_id: str, user_id: str) -> None:
        """Record that the user opened (or was just shown) their tab, now; committed on
        return. One row per user, its time moved forward."""

    @abstractmethod
    def open_homes(self, opened_since: datetime) -> list[tuple[str, str]]:
        """The (team, user) of every tab opened since ``opened_since``, oldest first."""


class KoreCalls(ABC):
    """``korebot_kore_calls``: the calls made to Kore.ai, per bot, for the rate budget
    every process sharing the database spends together."""

    @abstractmethod
    def take(self, bot: str, limits: Limits, moment: datetime) -> float:
        """Record a call to the bot at ``moment`` if its limits allow one; else the seconds
        to wait (nothing recorded). Calls to one bot are counted one transaction at a time,
        across processes."""


class Leases(ABC):
    """The lease on targets, watches, commands and releases, renewed by its holder."""

    @abstractmethod
    def renew(self, leases: Iterable[Lease]) -> set[Lease]:
        """Extend these leases by their kind's duration from now; return those not held.

        A lease not held any more (expired and acquired by another) is not extended.
        """


class Store(ABC):
    """The watch store: one port per table, over one database."""

    targets: Targets
    watches: Watches
    subscriptions: Subscriptions
    slash_commands: SlashCommands
    start_requests: StartRequests
    releases: Releases
    runs: Runs
    home_tabs: HomeTabs
    kore_calls: KoreCalls
    leases: Leases

    @property
    @abstractmethod
    def policy(self) -> Policy:
        """The engine's settings, as last configured (the defaults until then)."""

    @abstractmethod
    def configure(self, policy: Policy) -> None:
        """Apply the engine's settings (before any other call)."""

    @abstractmethod
    def healthy(self) -> bool:
        """Whether the database answers now (for /healthz)."""

    @abstractmethod
    def dispose(self) -> None:
        """Close the database's connections."""
