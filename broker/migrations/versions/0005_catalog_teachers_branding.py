"""admin-edited catalog fields, assignment folders, branding

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "branding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_name", sa.String(length=80), nullable=False),
        sa.Column("logo", sa.Text(), nullable=False),
        sa.Column("favicon", sa.Text(), nullable=False),
        sa.Column("primary_colour", sa.String(length=7), nullable=False),
        sa.Column("accent_colour", sa.String(length=7), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["updated_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("desktop_type_assignments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("folder", sa.String(length=64), nullable=True))
    with op.batch_alter_table("desktop_types", schema=None) as batch_op:
        batch_op.add_column(sa.Column("admin_fields", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("desktop_types", schema=None) as batch_op:
        batch_op.drop_column("admin_fields")
    with op.batch_alter_table("desktop_type_assignments", schema=None) as batch_op:
        batch_op.drop_column("folder")
    op.drop_table("branding")
