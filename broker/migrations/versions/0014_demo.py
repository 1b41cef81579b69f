"""demos: a teacher showing one desktop to a group's students

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "demos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("desktop_id", sa.String(length=36), nullable=False),
        sa.Column("started_by_id", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["desktop_id"], ["desktops.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["started_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("group_id"),
    )
    with op.batch_alter_table("demos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_demos_desktop_id"), ["desktop_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("demos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_demos_desktop_id"))
    op.drop_table("demos")
