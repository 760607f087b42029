"""Slash commands recorded before their ack: ``korebot_commands``.

A command's row is written before Slack hears the ack and marked done when its work
ends, with the store's one lease (owner token, expiry): a process that died in between
leaves it to be run again by another. A new table, empty: nothing to carry over.

Revision 0004, after 0003.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "korebot_commands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("command", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("response_url", sa.Text(), nullable=False),
        sa.Column("lease_owner", sa.String(length=36), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_korebot_commands_unfinished", "korebot_commands", ["done_at", "received_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_korebot_commands_unfinished", table_name="korebot_commands")
    op.drop_table("korebot_commands")
