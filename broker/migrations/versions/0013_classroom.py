"""the classroom: locked screens, messages, raised hands, and the wall's shared pictures

Revision ID: 0013
Revises: 0012a
Create Date: 2026-12-05 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "screen_locks",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("text", sa.String(length=200), nullable=False),
        sa.Column("locked_by", sa.String(length=255), nullable=False),
        sa.Column("locked_by_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("locked_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "classroom_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("sent_by", sa.String(length=255), nullable=False),
        sa.Column("sent_by_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("dismissed_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_classroom_messages_user_id", "classroom_messages", ["user_id"])
    op.create_table(
        "raised_hands",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("raised_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "desktop_pictures",
        sa.Column(
            "desktop_id", sa.String(length=36), sa.ForeignKey("desktops.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("png", sa.LargeBinary(), nullable=True),
        sa.Column("taken_at", sa.DateTime(), nullable=True),
        sa.Column("grabbing_until", sa.DateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("desktop_pictures")
    op.drop_table("raised_hands")
    op.drop_index("ix_classroom_messages_user_id", table_name="classroom_messages")
    op.drop_table("classroom_messages")
    op.drop_table("screen_locks")
