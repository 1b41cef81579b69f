"""teacher tools: assignment folder volumes, desktops' mounted folders, watched marker

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("desktop_type_assignments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("volume", sa.String(length=255), nullable=True))
    with op.batch_alter_table("desktops", schema=None) as batch_op:
        batch_op.add_column(sa.Column("folders", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("watched_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("desktops", schema=None) as batch_op:
        batch_op.drop_column("watched_until")
        batch_op.drop_column("folders")
    with op.batch_alter_table("desktop_type_assignments", schema=None) as batch_op:
        batch_op.drop_column("volume")
