"""sound per desktop type (on unless an admin turns it off)

Revision ID: 0012a
Revises: 0012b
Create Date: 2026-12-05 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012a"
down_revision = "0012b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("desktop_types", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sound", sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("desktop_types", schema=None) as batch_op:
        batch_op.drop_column("sound")
