"""ending access ends access: tunnels and their tokens bound to the sign-in that opened them, kill reasons

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 02:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tunnel_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("issued_at", sa.DateTime(), nullable=True))
        batch_op.create_foreign_key(
            "fk_tunnel_tokens_session_id_sessions", "sessions", ["session_id"], ["id"], ondelete="CASCADE"
        )
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kill_reason", sa.String(length=32), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("session_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.drop_column("session_id")
        batch_op.drop_column("kill_reason")
    with op.batch_alter_table("tunnel_tokens", schema=None) as batch_op:
        batch_op.drop_constraint("fk_tunnel_tokens_session_id_sessions", type_="foreignkey")
        batch_op.drop_column("issued_at")
        batch_op.drop_column("session_id")
