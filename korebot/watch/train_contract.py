"""The store's contract for trainings started from Slack: a confirmation, claimed once.

Part of ``WatchStore`` (korebot.watch.contract); ``korebot.watch.train_requests.
TrainRequestLog`` answers it in SQL. A request is written before its buttons are shown,
and a click claims it with one conditional UPDATE: whatever the clicks, replays and
processes, one caller starts it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime

from korebot.registry import TrainingKey
from korebot.watch.model import TrainState


@dataclass(frozen=True)
class TrainAsk:
    """A training asked for from Slack, before its confirmation is shown."""

    team_id: str
    channel_id: str
    user_id: str
    key: TrainingKey
    bot_name: str
    #: Seconds the confirmation can be clicked for.
    valid_for: float = 600.0


@dataclass(frozen=True)
class TrainRequestView:
    """A training request as recorded, with where it is now."""

    request_id: int
    token: str
    team_id: str
    channel_id: str
    user_id: str
    key: TrainingKey
    bot_name: str
    created_at: datetime
    expires_at: datetime
    state: TrainState
    claimed_at: datetime | None
    started_by: str | None
    result: str | None
    watch_id: int | None
    #: The request whose start this one joined (its claim found that one starting the
    #: same training): this request never POSTs. None for any other.
    follows: int | None = None


@dataclass(frozen=True)
class TrainClaim:
    """What a click's claim did (``claim_train_start``)."""

    #: The request as it is now; None if there is no such request.
    request: TrainRequestView | None
    #: This call claimed it and holds its training's start: it may POST, once.
    won: bool = False
    #: This call claimed it as a follower of this request, which held the training's start
    #: at that moment (as it was then): it must not POST, but join what that one started.
    leader: TrainRequestView | None = None


class TrainRequestStore(ABC):
    @abstractmethod
    def record_train_request(self, ask: TrainAsk) -> TrainRequestView:
        """Record a pending request with a fresh random token, valid for ``ask.valid_for``
        seconds; committed when it returns (before its buttons are shown)."""

    @abstractmethod
    def train_request(self, token: str) -> TrainRequestView | None:
        """The request with this token, as it is now; None if there is none."""

    @abstractmethod
    def claim_train_request(self, token: str, user_id: str) -> tuple[TrainRequestView | None, bool]:
        """Claim a pending, unexpired request for starting (pending → starting, by ``user_id``).

        Single-use: one conditional UPDATE, so of any number of callers (clicks replayed,
        two users, two processes; SQLite or PostgreSQL) exactly one gets True, and every
        other gets False with the request as it is. A pending one past its expiry is
        marked expired instead (False). (None, False) if there is no such request.
        ``claim_train_start``'s claim: a follower's is False too (it must not POST).
        """

    @abstractmethod
    def claim_train_start(self, token: str, user_id: str) -> TrainClaim:
        """Claim a pending, unexpired request (pending → starting, by ``user_id``), as the
        one start of its training or as a follower of the request holding it.

        Invariant: of all the requests for one training (``TrainingKey``), at most one
        holds its start at any moment, on any database and across processes: the claim
        writes the request's ``starting_key`` (unique) in the same conditional UPDATE
        that makes it starting, and it is cleared when the request leaves starting
        (``finish_train_request``). Only the holder (``won``) may send the train POST. A
        claim made while another request holds the training's start gets ``leader``
        instead: its request is starting, holds nothing and names the leader (``follows``),
        and its caller must never POST: it waits for the leader to leave starting (or to
        be presumed dead, as for ``reclaim_train_request``), then asks for the status and
        joins what runs. Every click is single-use as for ``claim_train_request``: of any
        number of callers for one request, one gets ``won`` or a ``leader``, the others
        neither, with the request as it is; a pending one past its expiry is marked
        expired instead.
        """

    @abstractmethod
    def take_stale_train_requests(
        self, stale_after: float, limit: int = 10
    ) -> list[TrainRequestView]:
        """Take over the requests (leaders and followers alike) still starting
        ``stale_after`` seconds after their claim (their claimer died), oldest first, at
        most ``limit``, renewing their claim; the ones this call took.

        Each is taken by one caller, whatever the processes (a conditional UPDATE of its
        claim time): the sweep of every process may run at once. As with
        ``reclaim_train_request``, the taker must not POST: it asks for the status and
        finishes the request (``finish_train_request``) from what it finds.
        """

    @abstractmethod
    def reclaim_train_request(self, token: str, stale_after: float) -> TrainRequestView | None:
        """Take over a request still starting ``stale_after`` seconds after its claim (its
        claimer died around the POST), renewing the claim; None unless this call did.

        One caller wins, as for ``claim_train_request``. The taker must not POST again: it
        asks for the status and finishes the request from what it finds.
        """

    @abstractmethod
    def cancel_train_request(self, token: str) -> tuple[TrainRequestView | None, bool]:
        """Cancel a pending request (pending → cancelled); whether this call did, with the
        request as it is. A cancelled request can never be claimed."""

    @abstractmethod
    def finish_train_request(
        self, request_id: int, state: TrainState, result: str, watch_id: int | None = None
    ) -> bool:
        """Record how a claimed (starting) request ended, with its watch; whether it was
        still starting (only the claimer finishes it, once). It lets go of its training's
        start in the same UPDATE: the next request for the training may claim it."""
