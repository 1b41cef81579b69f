"""desktop provisioning

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 03:31:53.643490
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "desktop_type_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("desktop_type_id", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("(group_id IS NULL) <> (user_id IS NULL)", name="group_or_user"),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["desktop_type_id"], ["desktop_types.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("desktop_type_id", "group_id"),
        sa.UniqueConstraint("desktop_type_id", "user_id"),
    )
    with op.batch_alter_table("desktop_type_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_desktop_type_assignments_desktop_type_id"), ["desktop_type_id"], unique=False
        )

    # The server default fills existing rows. It stays: dropping it would make SQLite rebuild
    # desktop_types, which desktops reference.
    with op.batch_alter_table("desktop_types", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pids_limit", sa.Integer(), nullable=False, server_default="1024"))
        batch_op.add_column(sa.Column("shm_size_mb", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_running", sa.Integer(), nullable=True))

    with op.batch_alter_table("desktops", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state_changed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("address", sa.String(length=255), nullable=True))
        batch_op.alter_column("user_id", existing_type=sa.INTEGER(), nullable=True)
        batch_op.create_unique_constraint("uq_desktops_user_id_desktop_type_id", ["user_id", "desktop_type_id"])
    op.execute("UPDATE desktops SET state_changed_at = created_at")
    with op.batch_alter_table("desktops", schema=None) as batch_op:
        batch_op.alter_column("state_changed_at", existing_type=sa.DateTime(), nullable=False)


def downgrade() -> None:
    op.execute("DELETE FROM desktops WHERE user_id IS NULL")
    with op.batch_alter_table("desktops", schema=None) as batch_op:
        batch_op.drop_constraint("uq_desktops_user_id_desktop_type_id", type_="unique")
        batch_op.alter_column("user_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("address")
        batch_op.drop_column("state_changed_at")

    # SQLite (3.35+) drops these columns in place; a rebuild would break desktops' foreign key.
    with op.batch_alter_table("desktop_types", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("max_running")
        batch_op.drop_column("shm_size_mb")
        batch_op.drop_column("pids_limit")

    with op.batch_alter_table("desktop_type_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_desktop_type_assignments_desktop_type_id"))

    op.drop_table("desktop_type_assignments")
