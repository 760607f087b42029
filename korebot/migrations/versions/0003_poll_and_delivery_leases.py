"""One lease for polls and posts: an owner token and an expiry on targets and watches.

``korebot_targets`` gets ``lease_owner`` and ``lease_until`` (a poll's lease, which
``next_poll_at`` used to double as); ``korebot_watches``, which had ``lease_until``,
gets ``lease_owner``. Both start empty: a watch leased by an older process stays its
own until that expiry passes, and every watch and target carries on as it was.

Revision 0003, after 0002.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("korebot_targets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("korebot_watches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("korebot_watches", schema=None) as batch_op:
        batch_op.drop_column("lease_owner")
    with op.batch_alter_table("korebot_targets", schema=None) as batch_op:
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_owner")
