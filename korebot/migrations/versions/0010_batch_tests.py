"""Batch tests: a job's subject (the suite's name) and each run's final answer.

``korebot_targets.subject`` and ``korebot_train_requests.subject`` hold the suite a
batch test target or start is about (empty for trainings: their keys stay as they
were); ``korebot_runs.result`` keeps a run's final answer in its kind's JSON shape, so
that the history can show a suite's scores. Existing rows get an empty subject and no
result.

Revision 0010, after 0009.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("korebot_targets", "korebot_train_requests"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("subject", sa.String(length=200), nullable=False, server_default="")
            )
    with op.batch_alter_table("korebot_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("result", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("korebot_runs", schema=None) as batch_op:
        batch_op.drop_column("result")
    for table in ("korebot_train_requests", "korebot_targets"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("subject")
