"""provisioning: parents' e-mail addresses, the review list of uncertain roster matches, school-bound clients

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "parent_emails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["school_id"], ["schools.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "school_id", "email", name="uq_parent_email"),
    )
    op.create_index("ix_parent_emails_account_id", "parent_emails", ["account_id"])
    op.create_table(
        "roster_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("row", sa.JSON(), nullable=False),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=36), nullable=True),
        sa.Column("account_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["school_id"], ["schools.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_roster_reviews_school_id", "roster_reviews", ["school_id"])
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("school_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_clients_school_id", "schools", ["school_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_constraint("fk_clients_school_id", type_="foreignkey")
        batch.drop_column("school_id")
    op.drop_index("ix_roster_reviews_school_id", "roster_reviews")
    op.drop_table("roster_reviews")
    op.drop_index("ix_parent_emails_account_id", "parent_emails")
    op.drop_table("parent_emails")
