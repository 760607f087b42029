"""The store's slash-command transactions: recorded before the ack, finished once.

``CommandLog`` is the part of ``korebot.watch.store.Store`` that answers the contract's
command methods (korebot.watch.contract), with the same lease as targets and watches
(owner token and expiry on the row, conditional UPDATEs, due rows read ``FOR UPDATE
SKIP LOCKED``). Recording runs before the ack, and each command is committed before
its ``record_command`` returns. So that it is cheap under a burst: the commands recorded
at one moment are one ``INSERT … RETURNING`` in one transaction (group commit,
korebot.watch.group_commit), and the store's other transactions first wait (up to
``RECORDS_FIRST``) while commands are being recorded, so that on SQLite, whose writers
take turns, the acks do not wait behind the work after earlier acks.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update

from korebot.watch.contract import CommandClaim, CommandRecord, Lease
from korebot.watch.deliveries import free
from korebot.watch.group_commit import GroupCommit
from korebot.watch.store_part import StorePart
from korebot.watch.tables import Command

# Built once: these run for every command, recording one on the ack's path (a statement
# built per call costs several times the INSERT itself).
_TABLE = Command.metadata.tables[Command.__tablename__]
_INSERT = insert(_TABLE).returning(_TABLE.c.id, sort_by_parameter_order=True)
#: Commands recorded in one transaction at most.
RECORD_BATCH = 64
_FINISH = (
    update(_TABLE)
    .where(
        _TABLE.c.id == bindparam("id_"),
        _TABLE.c.lease_owner == bindparam("owner"),
        _TABLE.c.done_at.is_(None),
    )
    .values(done_at=bindparam("done"), lease_owner=None, lease_until=None)
)
#: Seconds at most a transaction waits for the commands being recorded to be committed.
RECORDS_FIRST = 0.5
_RECORD = (
    Command.team_id,
    Command.channel_id,
    Command.user_id,
    Command.command,
    Command.text,
    Command.response_url,
)


class CommandLog(StorePart):
    def __init__(self) -> None:
        self._recording = 0  # commands being recorded now, each an ack waiting for it
        self._recorded = threading.Condition()
        self._records = GroupCommit(self._insert_commands, RECORD_BATCH)

    def _records_first(self) -> None:
        """Wait, briefly, while commands are being recorded. SQLite lets one transaction
        write at a time: one begun now (the work after an ack) could hold the acks behind
        it, each of which waits for its record."""
        with self._recorded:
            self._recorded.wait_for(lambda: not self._recording, timeout=RECORDS_FIRST)

    def _lease_until(self, moment: datetime) -> datetime:
        return moment + timedelta(seconds=self.policy.delivery_lease)

    def record_command(self, record: CommandRecord) -> Lease:
        moment, owner = self.policy.clock(), uuid.uuid4().hex
        with self._recorded:
            self._recording += 1
        try:
            command_id = self._records.submit(
                {
                    **dataclasses.asdict(record),
                    "received_at": moment,
                    "lease_owner": owner,
                    "lease_until": self._lease_until(moment),
                    "attempts": 1,
                }
            )
        finally:
            with self._recorded:
                self._recording -= 1
                if not self._recording:
                    self._recorded.notify_all()
        return Lease("command", command_id, owner)

    def _insert_commands(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        with self._begin(urgent=True) as session:
            return list(session.scalars(_INSERT, rows))

    def acquire_commands(self, limit: int, received_since: datetime) -> list[CommandClaim]:
        moment, owner = self.policy.clock(), uuid.uuid4().hex
        with self._begin() as session:
            ids = session.scalars(
                select(Command.id)
                .where(
                    Command.done_at.is_(None),
                    Command.received_at >= received_since,
                    free(Command, moment),
                )
                .order_by(Command.received_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            if not ids:
                return []
            session.execute(
                update(Command)
                .where(Command.id.in_(ids), free(Command, moment))
                .values(
                    lease_owner=owner,
                    lease_until=self._lease_until(moment),
                    attempts=Command.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            )
            taken = session.execute(
                select(Command.id, Command.received_at, Command.attempts, *_RECORD)
                .where(Command.id.in_(ids), Command.lease_owner == owner)
                .order_by(Command.received_at)
            )
            return [
                CommandClaim(
                    Lease("command", row.id, owner),
                    CommandRecord(*row[3:]),
                    row.received_at,
                    row.attempts,
                )
                for row in taken
            ]

    def finish_command(self, lease: Lease) -> bool:
        with self._begin() as session:
            finished = session.execute(
                _FINISH, {"id_": lease.id, "owner": lease.owner, "done": self.policy.clock()}
            ).rowcount  # type: ignore[attr-defined]
            return bool(finished)

    def expire_commands(self, received_before: datetime) -> list[int]:
        moment = self.policy.clock()
        with self._begin() as session:
            ids = session.scalars(
                select(Command.id)
                .where(
                    Command.done_at.is_(None),
                    Command.received_at < received_before,
                    free(Command, moment),
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
        with self._begin() as session:
            pruned = session.execute(delete(Command).where(Command.done_at < done_before)).rowcount  # type: ignore[attr-defined]
            return int(pruned)
