"""Releases: ``korebot_releases``, a bot from edited to live, one row per release.

A release's confirmation, then its current step, its steps and jobs as one JSON
document, its lease (the process running its next step) and the bot's one running
release (``active_key``, unique).

Revision 0012, after 0011.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "korebot_releases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token", sa.String(64), nullable=False, unique=True),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("bot_id", sa.String(64), nullable=False, index=True),
        sa.Column("bot_name", sa.String(64), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("suite", sa.String(200), nullable=False),
        sa.Column("min_f1", sa.Float(), nullable=True),
        sa.Column("max_drop", sa.Float(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(24), nullable=True),
        sa.Column("progress", sa.Text(), nullable=False),
        sa.Column("active_key", sa.String(300), nullable=True, unique=True),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_by", sa.String(32), nullable=True),
        sa.Column("message_channel", sa.String(32), nullable=True),
        sa.Column("message_ts", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(36), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_korebot_releases_due", "korebot_releases", ["state", "next_at"])


def downgrade() -> None:
    op.drop_index("ix_korebot_releases_due", table_name="korebot_releases")
    op.drop_table("korebot_releases")
