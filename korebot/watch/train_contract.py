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
        still starting (only the claimer finishes it, once)."""
