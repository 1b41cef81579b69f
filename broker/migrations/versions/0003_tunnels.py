"""tunnels

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 04:00:56.296216
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("desktop_id", sa.String(length=36), nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("guacd_connection_id", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("bytes_to_client", sa.BigInteger(), nullable=False),
        sa.Column("bytes_from_client", sa.BigInteger(), nullable=False),
        sa.Column("end_reason", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["desktop_id"], ["desktops.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_connections_desktop_id"), ["desktop_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_connections_user_id"), ["user_id"], unique=False)

    op.create_table(
        "tunnel_tokens",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("desktop_id", sa.String(length=36), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["desktop_id"], ["desktops.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("tunnel_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tunnel_tokens_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tunnel_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tunnel_tokens_expires_at"))

    op.drop_table("tunnel_tokens")
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_connections_user_id"))
        batch_op.drop_index(batch_op.f("ix_connections_desktop_id"))

    op.drop_table("connections")
