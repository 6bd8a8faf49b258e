"""mandates: who may act for whom (parent, school, assistant), for which actions, until when; and whether a
platform accepts logins on someone's behalf

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mandates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("represented_id", sa.String(length=36), nullable=False),
        sa.Column("actor_id", sa.String(length=36), nullable=True),
        sa.Column("actor_school_id", sa.Integer(), nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("clients", sa.JSON(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("awaiting", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changed_by", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(["represented_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["actor_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["actor_school_id"], ["schools.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_mandates_represented_id", "mandates", ["represented_id"])
    op.create_index("ix_mandates_actor_id", "mandates", ["actor_id"])
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("delegation", sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("delegation")
    op.drop_index("ix_mandates_actor_id", "mandates")
    op.drop_index("ix_mandates_represented_id", "mandates")
    op.drop_table("mandates")
