"""``korebot_commands``: slash commands, recorded before the ack, finished once.

``SlashCommands`` answers the contract's port of that name (korebot.watch.store.abc),
with the same lease as targets and watches (korebot.watch.store.leases). Recording runs
before the ack, and each command is committed before its ``record_command`` returns. So
that it is cheap under a burst: the commands recorded at one moment are one ``INSERT …
RETURNING`` in one transaction (group commit, korebot.watch.store.group_commit), and the
store's other transactions first wait while commands are being recorded
(``Database.recording``), so that on SQLite, whose writers take turns, the acks do not
wait behind the work after earlier acks.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from korebot.watch.store import abc, leases
from korebot.watch.store.database import Database
from korebot.watch.store.group_commit import GroupCommit
from korebot.watch.store.tables import Command
from korebot.watch.types import CommandClaim, CommandRecord, Lease

# Built once: it runs for every command, on the ack's path (a statement built per call
# costs several times the INSERT itself).
_TABLE = Command.metadata.tables[Command.__tablename__]
_INSERT = insert(_TABLE).returning(_TABLE.c.id, sort_by_parameter_order=True)
#: Commands recorded in one transaction at most.
RECORD_BATCH = 64
_RECORD = (
    Command.team_id,
    Command.channel_id,
    Command.user_id,
    Command.command,
    Command.text,
    Command.response_url,
)


class SlashCommands(abc.SlashCommands):
    def __init__(self, db: Database) -> None:
        self.db = db
        self._records = GroupCommit(self._insert_commands, RECORD_BATCH)

    def record_command(self, record: CommandRecord) -> Lease:
        moment, owner = self.db.policy.clock(), uuid.uuid4().hex
        with self.db.recording():
            command_id = self._records.submit(
                {
                    **dataclasses.asdict(record),
                    "received_at": moment,
                    "lease_owner": owner,
                    "lease_until": moment + leases.duration(self.db.policy, "command"),
                    "attempts": 1,
                }
            )
        return Lease("command", command_id, owner)

    def _insert_commands(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        with self.db.begin(urgent=True) as session:
            return list(session.scalars(_INSERT, rows))

    def acquire_commands(self, limit: int, received_since: datetime) -> list[CommandClaim]:
        policy = self.db.policy
        moment, lease = policy.clock(), Lease("command", 0, uuid.uuid4().hex)
        with self.db.begin() as session:
            ids = session.scalars(
                select(Command.id)
                .where(
                    Command.done_at.is_(None),
                    Command.received_at >= received_since,
                    leases.free(Command, moment),
                )
                .order_by(Command.received_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            if not ids:
                return []
            leases.take(session, lease, ids, policy, moment, attempts=Command.attempts + 1)
            taken = session.execute(
                select(Command.id, Command.received_at, Command.attempts, *_RECORD)
                .where(Command.id.in_(ids), Command.lease_owner == lease.owner)
                .order_by(Command.received_at)
            )
            return [
                CommandClaim(
                    Lease("command", row.id, lease.owner),
                    CommandRecord(*row[3:]),
                    row.received_at,
                    row.attempts,
                )
                for row in taken
            ]

    def finish_command(self, lease: Lease) -> bool:
        with self.db.begin() as session:
            done = self.db.policy.clock()
            return leases.release(session, lease, Command.done_at.is_(None), done_at=done)

    def expire_commands(self, received_before: datetime) -> list[int]:
        moment = self.db.policy.clock()
        with self.db.begin() as session:
            ids = session.scalars(
                select(Command.id)
                .where(
                    Command.done_at.is_(None),
                    Command.received_at < received_before,
                    leases.free(Command, moment),
                )
                .with_for_update(skip_locked=True)
            ).all()
            if ids:
                session.execute(
                    update(Command)
                    .where(Command.id.in_(ids))
                    .values(done_at=moment, lease_owner=None, lease_until=None)
                    .execution_options(synchronize_session=False)
                )
            return sorted(ids)

    def prune_commands(self, done_before: datetime) -> int:
        with self.db.begin() as session:
            pruned = session.execute(delete(Command).where(Command.done_at < done_before)).rowcount  # type: ignore[attr-defined]
            return int(pruned)
