"""session recordings: per desktop type `record_sessions`, and the recordings guacd wrote

Revision ID: 0012b
Revises: 0011
Create Date: 2026-12-05 07:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012b"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("desktop_types", schema=None) as batch_op:
        batch_op.add_column(sa.Column("record_sessions", sa.Boolean(), server_default="false", nullable=False))
    op.create_table(
        "recordings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("connection_id", sa.String(length=36), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("desktop_type_id", sa.String(length=64), nullable=False),
        sa.Column("desktop_id", sa.String(length=36), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("file_name", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["connection_id"], ["connections.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("file_name"),
    )
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recordings_connection_id"), ["connection_id"], unique=True)
        batch_op.create_index(batch_op.f("ix_recordings_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_recordings_desktop_type_id"), ["desktop_type_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_recordings_started_at"), ["started_at"], unique=False)


def downgrade() -> None:
    op.drop_table("recordings")
    with op.batch_alter_table("desktop_types", schema=None) as batch_op:
        batch_op.drop_column("record_sessions")
