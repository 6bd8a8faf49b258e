"""school activations: a school takes a school-agreement platform on, with its agreement's reference

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "school_activations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("agreement", sa.String(length=200), nullable=True),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("activated_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["clients.client_id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["school_id"], ["schools.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_id", "school_id", name="uq_school_activation"),
    )
    op.create_index("ix_school_activations_client_id", "school_activations", ["client_id"])


def downgrade() -> None:
    op.drop_index("ix_school_activations_client_id", "school_activations")
    op.drop_table("school_activations")
