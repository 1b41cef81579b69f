"""login throttle: when a counter last failed (counters start over after a quiet LOGIN_LOCKOUT)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 02:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The old counters had other keys and meanings: they go (at worst a lock ends early).
    op.execute("DELETE FROM login_throttle")
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_failure_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.drop_column("last_failure_at")
