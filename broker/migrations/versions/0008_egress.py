"""egress per desktop type (none, internet, proxy), and the one each desktop's container was made with

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 03:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("desktop_types", schema=None) as batch_op:
        batch_op.add_column(sa.Column("egress", sa.String(length=16), server_default="none", nullable=False))
    with op.batch_alter_table("desktops", schema=None) as batch_op:
        batch_op.add_column(sa.Column("egress", sa.String(length=16), server_default="none", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("desktops", schema=None) as batch_op:
        batch_op.drop_column("egress")
    with op.batch_alter_table("desktop_types", schema=None) as batch_op:
        batch_op.drop_column("egress")
