"""What korebot added on 2026-11-28 before it used Alembic: last_result, three watch indexes.

``korebot_targets.last_result`` (Kore.ai's last answer, reused by asks between polls)
replaces the never used ``last_message``; ``korebot_watches`` gets indexes for the
look-ups of active watches. Databases made by korebot versions in between (no version
table: stamped 0001) have some of this already: each step is skipped where it is done.
Offline (``korebot migrate --sql``) the database is taken to be exactly at 0001.

Revision 0002, after 0001.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_korebot_watches_channel_active": ["channel_id", "ended"],
    "ix_korebot_watches_team_active": ["team_id", "ended"],
    "ix_korebot_watches_ended": ["ended"],
}


def _targets_at_0001() -> sa.Table:
    """The table as 0001 made it: SQLite's copy starts from it offline, with no reflection."""
    return sa.Table(
        "korebot_targets",
        sa.MetaData(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("bot_id", sa.String(length=64), nullable=False),
        sa.Column("bot_name", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.String(length=64), nullable=True),
        sa.Column("last_message", sa.Text(), nullable=True),
        sa.Column("last_run", sa.String(length=120), nullable=True),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("running_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
        sa.Index("ix_korebot_targets_next_poll_at", "next_poll_at"),
    )


def upgrade() -> None:
    copy_from: sa.Table | None = None
    if context.is_offline_mode():
        copy_from = _targets_at_0001()
        columns = set(copy_from.columns.keys())
        indexes: set[str | None] = set()
    else:
        inspector = sa.inspect(op.get_bind())
        columns = {column["name"] for column in inspector.get_columns("korebot_targets")}
        indexes = {index["name"] for index in inspector.get_indexes("korebot_watches")}
    # On SQLite, dropping a column copies the table (foreign keys are off meanwhile).
    with op.batch_alter_table("korebot_targets", copy_from=copy_from) as batch:
        if "last_result" not in columns:
            batch.add_column(sa.Column("last_result", sa.Text(), nullable=True))
        if "last_message" in columns:
            batch.drop_column("last_message")
    for name, indexed in INDEXES.items():
        if name not in indexes:
            op.create_index(name, "korebot_watches", indexed)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="korebot_watches")
    with op.batch_alter_table("korebot_targets") as batch:
        batch.add_column(sa.Column("last_message", sa.Text(), nullable=True))
        batch.drop_column("last_result")
