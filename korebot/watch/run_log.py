"""The store's run-history reads, and the pruning of old watches.

``RunLog`` is the part of ``korebot.watch.store.Store`` that answers the contract's
``RunHistory`` methods (korebot.watch.runs); the runs themselves are written in the poll
transactions (korebot.watch.run_rows). Pruning deletes ended watches with their askers,
after unlinking the train requests that name them (they stay as the audit of who
started what); the runs, which name no watch, are kept.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from korebot.kore import Kind, Status
from korebot.registry import TrainingKey
from korebot.watch.runs import RunStart, RunView
from korebot.watch.store_part import StorePart
from korebot.watch.tables import Asker, Run, Target, TrainRequest, Watch

#: Watches deleted per statement at most (a first prune may find a long history).
PRUNE_BATCH = 500


def _view(row: Run, kind: Kind) -> RunView:
    return RunView(
        run_id=row.id,
        kind=kind,
        outcome=Status(row.outcome) if row.outcome is not None else None,
        start=RunStart(row.start) if row.start is not None else None,
        started_at=row.started_at,
        ended_at=row.ended_at,
        duration=row.duration,
        started_by=row.started_by,
    )


class RunLog(StorePart):
    def runs(self, key: TrainingKey, limit: int = 10) -> list[RunView]:
        with self._begin() as session:
            rows = session.execute(
                select(Run, Target.kind)
                .join(Target, Run.target_id == Target.id)
                .where(Target.key == str(key))
                .order_by(Run.id.desc())
                .limit(limit)
            ).all()
            return [_view(row, Kind(kind)) for row, kind in rows]

    def prune_watches(self, ended_before: datetime) -> int:
        pruned = 0
        while True:
            with self._begin() as session:
                ids = list(
                    session.scalars(
                        select(Watch.id)
                        .where(Watch.ended.is_not(None), Watch.ended_at < ended_before)
                        .order_by(Watch.id)
                        .limit(PRUNE_BATCH)
                    )
                )
                if not ids:
                    return pruned
                session.execute(
                    update(TrainRequest)
                    .where(TrainRequest.watch_id.in_(ids))
                    .values(watch_id=None)
                    .execution_options(synchronize_session=False)
                )
                session.execute(delete(Asker).where(Asker.watch_id.in_(ids)))
                session.execute(delete(Watch).where(Watch.id.in_(ids)))
                pruned += len(ids)
