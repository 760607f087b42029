"""The watch store's contract: every query and lease the watch engine needs, and no more.

In the shape of APScheduler 4's ``DataStore`` (``apscheduler/abc.py``): work is
*acquired* with a lease and *released* with what became of it. There is one lease
mechanism for every kind of work, a poll of a target, the posts of a watch, and a slash
command's work after its ack:

- Acquiring writes a fresh owner token and an expiry (``lease_until``) on the row, only
  if no unexpired lease is there; so of two acquirers, in this process or another, one
  gets it and the other does not see it at all.
- The holder renews its leases (``renew``) while it works, so a slow poll or post is
  never taken by another process alongside a live holder.
- Releasing is checked: it applies only while the token is still the row's, and says
  whether it was. A holder that dies stops renewing, and its work is due again (to
  anyone) once the lease expires.

``korebot.watch.store.Store`` implements this with SQLAlchemy (SQLite, PostgreSQL, or
SQLite in memory for unit tests); tests/test_store_contract.py holds it to it. Database
failures surface as ``DatabaseUnavailable``.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from korebot.errors import Undeliverable
from korebot.kore import Kind, State, TrainingStatus
from korebot.registry import TrainingKey
from korebot.watch.home_contract import HomeStore
from korebot.watch.model import (
    Ended,
    Outcome,
    RunEvent,
    Subscribed,
    SubscriptionView,
    WatchRequest,
    WatchView,
)
from korebot.watch.runs import RunHistory
from korebot.watch.train_contract import TrainRequestStore


def now() -> datetime:
    return datetime.now(UTC)


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


@dataclass(frozen=True)
class Lease:
    """Work held by one acquirer: a target's poll, a watch's posts or a slash command's work,
    until renewed or released."""

    kind: Literal["poll", "delivery", "command"]
    id: int
    owner: str


@dataclass(frozen=True)
class PollClaim:
    """A due target, leased for polling."""

    lease: Lease
    bot_name: str
    language: str
    state: State
    kind: Kind = Kind.FAQ


@dataclass(frozen=True)
class DeliveryClaim:
    """A watch that owes a post, leased for posting; attempts were counted on acquiring."""

    lease: Lease
    view: WatchView
    #: The final word to post, or None: only the watch's message is owed.
    outcome: Outcome | None
    #: Attempts before this one: non-zero means a post may already be there (look first).
    announce_attempts: int
    outcome_attempts: int


@dataclass(frozen=True)
class CommandRecord:
    """A slash command as Slack sent it: what re-running it after a crash needs."""

    team_id: str
    channel_id: str
    user_id: str
    #: The command's name ("/faq-status") and its text.
    command: str
    text: str
    response_url: str


@dataclass(frozen=True)
class CommandClaim:
    """An unfinished command, leased for running again; attempts were counted on acquiring."""

    lease: Lease
    record: CommandRecord
    received_at: datetime
    #: Runs so far, this one included (the first was the one acked).
    attempts: int


@dataclass(frozen=True)
class Joined:
    """What ``join_watch`` did: the channel's watch, and the delivery lease of a new one."""

    view: WatchView
    #: Set when this call created the watch: the caller posts its message, then releases.
    lease: Lease | None


@dataclass(frozen=True)
class Observed:
    """What recording a poll's status changed, for the engine to tell Slack."""

    #: Watches still waiting that Kore.ai is back for (it was failing until this poll).
    recovered: list[WatchView]
    #: Watches whose run this poll found far longer than usual (marked: once each).
    overdue: list[WatchView] = field(default_factory=list)
    #: What the poll saw happen to the run (anything but SAME refreshes open Home tabs).
    event: RunEvent = RunEvent.SAME


@dataclass(frozen=True)
class Failed:
    """What recording a failed poll changed, for the engine to tell Slack."""

    #: When the failure began, and the watches to show it on (first failure only).
    since: datetime | None
    failing: list[WatchView]
    #: Subscriptions paused by a permanent failure.
    paused: list[SubscriptionView]


@dataclass(frozen=True)
class TargetState:
    """A target's last poll, for answering asks between polls."""

    status: TrainingStatus | None
    last_status: str | None
    checked_at: datetime | None
    next_poll_at: datetime | None
    #: A poll holds its lease now.
    polling: bool
    failing: bool


class WatchStore(RunHistory, HomeStore, TrainRequestStore):
    """Targets, watches and subscriptions, with their leases. Thread-safe.

    The run history is in ``RunHistory`` (korebot.watch.runs), the App Home's reads and
    open tabs in ``HomeStore`` (korebot.watch.home_contract), the trainings started from
    Slack in ``TrainRequestStore`` (korebot.watch.train_contract)."""

    policy: Policy = Policy()

    def configure(self, policy: Policy) -> None:
        """Apply the engine's settings (before any other call)."""
        self.policy = policy

    # Commands --------------------------------------------------------------------

    @abstractmethod
    def join_watch(self, request: WatchRequest, status: TrainingStatus) -> Joined:
        """The channel's active watch of the training, created if missing, with the asker.

        Creating it checks the channel's and workspace's limits (``LimitReached``) and
        takes its delivery lease at once (the asker waits for its message): the caller
        holds it until it records the thread or releases it; if the caller dies, the
        message is owed (and posted by whoever acquires it after the lease expires).
        Two concurrent calls for one channel make one watch: the second joins it.
        """

    @abstractmethod
    def find_watch(self, key: TrainingKey, channel_id: str) -> int | None:
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
    def subscribe(
        self, team_id: str, channel_id: str, user_id: str, key: TrainingKey, bot_name: str
    ) -> tuple[SubscriptionView, Subscribed]:
        """Subscribe the channel (or resume its paused subscription).

        If the target's last poll, recent enough, saw a run in progress, the channel gets a
        watch of it (``running`` in the view); otherwise a poll is due now, which records
        the current state and, for a run in progress, makes that watch.
        """

    @abstractmethod
    def unsubscribe(
        self, channel_id: str, key: TrainingKey
    ) -> tuple[SubscriptionView, list[WatchView]] | None:
        """Delete the channel's subscription and stop the watches it started that nobody
        asked for (an asker's watch goes on); None if there was no subscription."""

    @abstractmethod
    def subscriptions_in(self, channel_id: str) -> list[SubscriptionView]:
        """The channel's subscriptions, oldest first."""

    @abstractmethod
    def target_state(self, key: TrainingKey) -> TargetState | None:
        """The training's last poll, if it has a target."""

    @abstractmethod
    def active_count(self) -> int:
        """Targets being polled (one per watched or subscribed training)."""

    # Polling ---------------------------------------------------------------------

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
        self, lease: Lease, status: TrainingStatus, timeout_reason: Callable[[str], str]
    ) -> Observed | None:
        """Record a poll's answer and release the target with its next poll time.

        Watches waiting get their outcome (the result if it is final, a timeout reason
        from the last status seen if past their deadline); subscriptions get a watch for
        the run that started or ended. None (and nothing recorded) if the lease was lost.
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

    # Delivery --------------------------------------------------------------------

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

    # Slash commands ----------------------------------------------------------------

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

    # Leases ----------------------------------------------------------------------

    @abstractmethod
    def renew(self, leases: Iterable[Lease]) -> set[Lease]:
        """Extend these leases by their kind's duration from now; return those not held.

        A lease not held any more (expired and acquired by another) is not extended.
        """
