"""One start per training: ``korebot_train_requests.starting_key`` and ``follows``.

``starting_key`` holds the training's key (``str(JobKey)``) while a request is the
one starting it, under a unique index: two requests for the same training confirmed at
once cannot both send the train POST. ``follows`` names the request a later click joined
instead. Both start empty: a request left starting by an older version holds no key,
and is checked (never sent again) as before.

Revision 0009, after 0008.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("korebot_train_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("starting_key", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("follows", sa.Integer(), nullable=True))
    op.create_index(
        "ix_korebot_train_requests_starting",
        "korebot_train_requests",
        ["starting_key"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ix_korebot_train_requests_starting", table_name="korebot_train_requests")
    with op.batch_alter_table("korebot_train_requests", schema=None) as batch_op:
        batch_op.drop_column("follows")
        batch_op.drop_column("starting_key")
