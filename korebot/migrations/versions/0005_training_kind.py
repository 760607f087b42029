"""The kind of training a target follows: ``korebot_targets.kind`` ("faq" or "ml").

Every existing target is an FAQ training's: the column defaults to "faq", and each
target's unique ``key`` (``str(JobKey)``) gains the kind's suffix (``…|faq``), so
the watches and subscriptions of an older version are found under the same training.
Downgrading deletes the ML targets (and their watches and subscriptions), which the
older version could not tell from FAQ ones, and takes the suffix off again.

Revision 0005, after 0003.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_SUFFIX = "|faq"
_targets = sa.table(
    "korebot_targets", sa.column("id", sa.Integer), sa.column("key", sa.String), sa.column("kind")
)
_watches = sa.table("korebot_watches", sa.column("id", sa.Integer), sa.column("target_id"))
_askers = sa.table("korebot_askers", sa.column("watch_id"))
_subscriptions = sa.table("korebot_subscriptions", sa.column("target_id"))


def upgrade() -> None:
    with op.batch_alter_table("korebot_targets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="faq", nullable=False)
        )
    op.execute(_targets.update().values(key=_targets.c.key + _SUFFIX))


def downgrade() -> None:
    ml = sa.select(_targets.c.id).where(_targets.c.kind != "faq")
    ml_watches = sa.select(_watches.c.id).where(_watches.c.target_id.in_(ml))
    op.execute(_askers.delete().where(_askers.c.watch_id.in_(ml_watches)))
    op.execute(_watches.delete().where(_watches.c.target_id.in_(ml)))
    op.execute(_subscriptions.delete().where(_subscriptions.c.target_id.in_(ml)))
    op.execute(_targets.delete().where(_targets.c.kind != "faq"))
    stripped = sa.func.substr(_targets.c.key, 1, sa.func.length(_targets.c.key) - len(_SUFFIX))
    op.execute(_targets.update().values(key=stripped))
    with op.batch_alter_table("korebot_targets", schema=None) as batch_op:
        batch_op.drop_column("kind")
