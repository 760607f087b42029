"""Publishing from Slack: ``korebot_train_requests.note``, what a start sends with its POST.

A publish's version comment is chosen when its confirmation is shown and sent when it is
clicked: the request keeps it between the two. Existing rows have none.

Revision 0011, after 0010.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("korebot_train_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("korebot_train_requests", schema=None) as batch_op:
        batch_op.drop_column("note")
