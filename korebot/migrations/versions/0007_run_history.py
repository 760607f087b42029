"""Run history: ``korebot_runs``, each target's usual run length, a watch's overdue mark.

Every run korebot sees is a row of ``korebot_runs`` (the last 200 per target); a
target's ``usual_seconds`` (with ``usual_runs``) is the median length of its last
successful runs; ``korebot_watches.overdue_at`` says a watch's run was flagged as far
longer than usual. New, empty or NULL: the history starts with this version.

Revision 0007, after 0006.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "korebot_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("open_key", sa.String(length=32), nullable=True),
        sa.Column("run", sa.String(length=120), nullable=True),
        sa.Column("start", sa.String(length=16), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("started_by", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["target_id"], ["korebot_targets.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("open_key"),
    )
    op.create_index("ix_korebot_runs_target", "korebot_runs", ["target_id", "id"], unique=False)
    with op.batch_alter_table("korebot_targets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("usual_seconds", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("usual_runs", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("korebot_watches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("korebot_watches", schema=None) as batch_op:
        batch_op.drop_column("overdue_at")
    with op.batch_alter_table("korebot_targets", schema=None) as batch_op:
        batch_op.drop_column("usual_runs")
        batch_op.drop_column("usual_seconds")
    op.drop_index("ix_korebot_runs_target", table_name="korebot_runs")
    op.drop_table("korebot_runs")
