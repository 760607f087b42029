"""App Home tabs: ``korebot_home_tabs``, who opened their tab and when.

Slack never says when a tab closes: one opened in the last few minutes is refreshed
when a training it shows changes. A new table, empty: nothing to carry over.

Revision 0008, after 0007.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "korebot_home_tabs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team_id", "user_id"),
    )
    op.create_index("ix_korebot_home_tabs_opened_at", "korebot_home_tabs", ["opened_at"])


def downgrade() -> None:
    op.drop_index("ix_korebot_home_tabs_opened_at", table_name="korebot_home_tabs")
    op.drop_table("korebot_home_tabs")
