"""The store's one lease, written once: on targets (polls), watches (posts), commands and
releases (their next step).

A lease is two columns on the row (``tables.Leased``): an owner token, new for every
acquisition, and an expiry. Every acquire, check, release and renewal of the store is
one of these functions, inside the caller's transaction; which rows are due, and what
releasing records, is the table's own module's business.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, tuple_, update
from sqlalchemy.orm import Session

from korebot.watch.store import abc
from korebot.watch.store.database import Database
from korebot.watch.store.tables import Command, Leased, Release, Target, Watch
from korebot.watch.types import Lease

_LEASED: dict[str, type[Target] | type[Watch] | type[Command] | type[Release]] = {
    "poll": Target,
    "delivery": Watch,
    "command": Command,
    "release": Release,
}


def free(model: type[Leased], moment: datetime) -> Any:
    """No lease on the row, or an expired one."""
    return or_(model.lease_until.is_(None), model.lease_until < moment)


def duration(policy: abc.Policy, kind: str) -> timedelta:
    """How long a lease of this kind lasts unless renewed (a command's, like a post's, is
    work a person waits to see in Slack; a release's step, like a poll, asks Kore.ai)."""
    short = kind in ("poll", "release")
    return timedelta(seconds=policy.poll_lease if short else policy.delivery_lease)


def take(
    session: Session,
    lease: Lease,
    ids: Iterable[int],
    policy: abc.Policy,
    moment: datetime,
    **values: Any,
) -> None:
    """Lease the rows ``ids`` (read ``FOR UPDATE SKIP LOCKED`` by the caller) that are still
    free to ``lease.owner``, with ``values``; the caller reads back which it got."""
    model = _LEASED[lease.kind]
    session.execute(
        update(model)
        .where(model.id.in_(list(ids)), free(model, moment))
        .values(
            lease_owner=lease.owner, lease_until=moment + duration(policy, lease.kind), **values
        )
        .execution_options(synchronize_session=False)
    )


def held(session: Session, lease: Lease) -> Any:
    """The leased row, locked, if the lease is still this holder's; else None."""
    model = _LEASED[lease.kind]
    return session.scalars(
        select(model)
        .where(model.id == lease.id, model.lease_owner == lease.owner)
        # FOR NO KEY UPDATE: rows that refer to it (a new watch) may still be inserted.
        .with_for_update(key_share=True)
    ).first()


def clear(row: Leased) -> None:
    """Free a row this transaction holds (found by ``held``)."""
    row.lease_owner, row.lease_until = None, None


def release(session: Session, lease: Lease, *conditions: Any, **values: Any) -> bool:
    """Free the row if the lease is still this holder's (and ``conditions`` hold), writing
    ``values``; whether it was."""
    model = _LEASED[lease.kind]
    released = session.execute(
        update(model)
        .where(model.id == lease.id, model.lease_owner == lease.owner, *conditions)
        .values(**{"lease_owner": None, "lease_until": None, **values})
    ).rowcount  # type: ignore[attr-defined]
    return bool(released)


class Leases(abc.Leases):
    def __init__(self, db: Database) -> None:
        self.db = db

    def renew(self, leases: Iterable[Lease]) -> set[Lease]:
        moment, held_now = self.db.policy.clock(), set(leases)
        renewed: set[tuple[str, int, str | None]] = set()
        with self.db.begin() as session:
            # One UPDATE per kind: a burst of commands holds hundreds of leases at once.
            for kind in {lease.kind for lease in held_now}:
                model = _LEASED[kind]
                owned = [(lease.id, lease.owner) for lease in held_now if lease.kind == kind]
                rows = session.execute(
                    update(model)
                    .where(tuple_(model.id, model.lease_owner).in_(owned))
                    .values(lease_until=moment + duration(self.db.policy, kind))
                    .returning(model.id, model.lease_owner)
                    .execution_options(synchronize_session=False)
                )
                renewed.update((kind, id_, owner) for id_, owner in rows)
        return {lease for lease in held_now if (lease.kind, lease.id, lease.owner) not in renewed}
