"""``korebot_train_requests``: trainings asked for from Slack, a confirmation claimed once.

``StartRequests`` answers the contract's port of that name (korebot.watch.store.abc).
The claim is one conditional
UPDATE (``state = 'pending' AND expires_at > now``): the database lets one writer change
the row, so one caller wins on SQLite and PostgreSQL alike, whatever the process. The
same UPDATE takes the training's start (``starting_key``, unique): of the requests for
one training, one holds it at a time, and a claim that finds it held follows the holder.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import Update, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from korebot.registry import JobKey
from korebot.watch.store import abc
from korebot.watch.store.database import Database
from korebot.watch.store.tables import StartRequest, get_or_insert
from korebot.watch.types import StartAsk, StartClaim, StartRequestView, StartState

#: Claim transactions tried before giving up: another is needed only when a request for
#: the same training took or let go of its start during this one (PostgreSQL).
_CLAIM_TRIES = 5


def _changed(session: Session, statement: Update) -> bool:
    """Run a conditional UPDATE of one row; whether it changed it."""
    return bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]


def _view(row: StartRequest) -> StartRequestView:
    return StartRequestView(
        request_id=row.id,
        token=row.token,
        team_id=row.team_id,
        channel_id=row.channel_id,
        user_id=row.user_id,
        key=JobKey.parse(row.key, row.subject),
        bot_name=row.bot_name,
        created_at=row.created_at,
        expires_at=row.expires_at,
        state=StartState(row.state),
        claimed_at=row.claimed_at,
        started_by=row.started_by,
        result=row.result,
        watch_id=row.watch_id,
        follows=row.follows,
        note=row.note,
    )


class StartRequests(abc.StartRequests):
    def __init__(self, db: Database) -> None:
        self.db = db

    def record_start_request(self, ask: StartAsk) -> StartRequestView:
        moment = self.db.policy.clock()
        with self.db.begin() as session:
            row, _ = get_or_insert(
                session,
                StartRequest,
                # Hex, not base64: a token in a logged message body never reads as a JWT.
                {"token": ask.token or secrets.token_hex(24)},
                team_id=ask.team_id,
                channel_id=ask.channel_id,
                user_id=ask.user_id,
                key=str(ask.key),
                bot_name=ask.bot_name,
                language=ask.key.language,
                kind=ask.key.kind.value,
                subject=ask.key.subject,
                note=ask.note,
                created_at=moment,
                expires_at=moment + timedelta(seconds=ask.valid_for),
                state=StartState.PENDING.value,
            )
            return _view(row)

    def start_request(self, token: str) -> StartRequestView | None:
        with self.db.begin() as session:
            row = session.scalars(select(StartRequest).filter_by(token=token)).first()
            return None if row is None else _view(row)

    def claim_start_request(self, token: str, user_id: str) -> tuple[StartRequestView | None, bool]:
        claim = self.claim_start(token, user_id)
        return claim.request, claim.won

    def claim_start(self, token: str, user_id: str) -> StartClaim:
        """Claim a pending request as its training's one start, or as the follower of the
        request holding that start.

        Invariant: at most one row per training has ``starting_key`` set (the unique
        index), and only while it is starting; only that request may POST. The claim
        sets it in the same conditional UPDATE that makes the request starting, only
        where no row holds it; else a second conditional UPDATE makes the request a
        starting follower of the row holding it (``follows``, no key). On SQLite the
        first UPDATE takes the one write lock for the whole transaction, so the two
        cannot both miss. On PostgreSQL another transaction may take the key between
        the check and the write (the unique index then refuses it: that transaction is
        retried whole, as a unique violation aborts it) or let go of it between the
        two UPDATEs (neither matches: retried too). So every claim ends as the holder,
        a follower of the holder, or not claimed (the request was not pending).
        """
        moment = self.db.policy.clock()
        pending = (
            StartRequest.token == token,
            StartRequest.state == StartState.PENDING.value,
            StartRequest.expires_at > moment,
        )
        starting = StartState.STARTING.value
        for _ in range(_CLAIM_TRIES):
            try:
                with self.db.begin() as session:
                    row = self._now_row(session, token)
                    if row is None:
                        return StartClaim(None)
                    holder = aliased(StartRequest)
                    held = exists().where(holder.starting_key == row.key)
                    won = _changed(
                        session,
                        update(StartRequest)
                        .where(*pending, ~held)
                        .values(
                            state=starting,
                            starting_key=row.key,
                            started_by=user_id,
                            claimed_at=moment,
                        ),
                    )
                    if won:
                        return StartClaim(self._now(session, token), won=True)
                    leader_id = select(holder.id).where(holder.starting_key == row.key)
                    followed = _changed(
                        session,
                        update(StartRequest)
                        .where(*pending, held)
                        .values(
                            state=starting,
                            follows=leader_id.scalar_subquery(),
                            started_by=user_id,
                            claimed_at=moment,
                        ),
                    )
                    if not followed:
                        session.execute(
                            update(StartRequest)
                            .where(
                                StartRequest.token == token,
                                StartRequest.state == StartState.PENDING.value,
                                StartRequest.expires_at <= moment,
                            )
                            .values(state=StartState.EXPIRED.value)
                        )
                    now = self._now_row(session, token)
                    if now is None:
                        return StartClaim(None)
                    if followed and now.follows is not None:
                        leader = session.get(StartRequest, now.follows, populate_existing=True)
                        return StartClaim(_view(now), leader=_view(leader) if leader else None)
                    if now.state != StartState.PENDING.value:
                        return StartClaim(_view(now))
                    # Still pending: the holder let go between the two UPDATEs; try again.
            except IntegrityError:
                continue  # another request for the training took its start at this moment
        return StartClaim(self.start_request(token))

    def reclaim_start_request(self, token: str, stale_after: float) -> StartRequestView | None:
        moment = self.db.policy.clock()
        with self.db.begin() as session:
            taken = _changed(
                session,
                update(StartRequest)
                .where(
                    StartRequest.token == token,
                    StartRequest.state == StartState.STARTING.value,
                    StartRequest.claimed_at <= moment - timedelta(seconds=stale_after),
                )
                .values(claimed_at=moment),
            )
            return self._now(session, token) if taken else None

    def cancel_start_request(self, token: str) -> tuple[StartRequestView | None, bool]:
        with self.db.begin() as session:
            cancelled = _changed(
                session,
                update(StartRequest)
                .where(StartRequest.token == token, StartRequest.state == StartState.PENDING.value)
                .values(state=StartState.CANCELLED.value),
            )
            return self._now(session, token), cancelled

    def finish_start_request(
        self, request_id: int, state: StartState, result: str, watch_id: int | None = None
    ) -> bool:
        with self.db.begin() as session:
            return _changed(
                session,
                update(StartRequest)
                .where(
                    StartRequest.id == request_id,
                    StartRequest.state == StartState.STARTING.value,
                )
                .values(state=state.value, result=result, watch_id=watch_id, starting_key=None),
            )

    def take_stale_start_requests(
        self, stale_after: float, limit: int = 10
    ) -> list[StartRequestView]:
        """Take over requests left starting past ``stale_after`` seconds: one conditional
        UPDATE each (still starting, claim still that old), renewing the claim, so that of
        the sweeps of every process one takes a given request (on PostgreSQL the second
        waits for the first's commit, then finds the claim renewed and takes nothing)."""
        moment = self.db.policy.clock()
        cutoff = moment - timedelta(seconds=stale_after)
        stale = (
            StartRequest.state == StartState.STARTING.value,
            StartRequest.claimed_at <= cutoff,
        )
        taken: list[StartRequestView] = []
        with self.db.begin() as session:
            ids = session.scalars(
                select(StartRequest.id).where(*stale).order_by(StartRequest.claimed_at).limit(limit)
            ).all()
            for request_id in ids:
                if _changed(
                    session,
                    update(StartRequest)
                    .where(StartRequest.id == request_id, *stale)
                    .values(claimed_at=moment),
                ):
                    row = session.get(StartRequest, request_id, populate_existing=True)
                    assert row is not None
                    taken.append(_view(row))
        return taken

    @staticmethod
    def _now(session: Session, token: str) -> StartRequestView | None:
        row = StartRequests._now_row(session, token)
        return None if row is None else _view(row)

    @staticmethod
    def _now_row(session: Session, token: str) -> StartRequest | None:
        query = (
            select(StartRequest).filter_by(token=token).execution_options(populate_existing=True)
        )
        return session.scalars(query).first()
