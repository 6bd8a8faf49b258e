"""badges: QR badges for young pupils (a secret and a short code, both stored only as hashes), and each school's
badge settings (the networks a badge login may come from, and the second step)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "badges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("pin_hash", sa.String(length=64), nullable=True),
        sa.Column("picture_hash", sa.String(length=64), nullable=True),
        sa.Column("issued_by", sa.String(length=36), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["school_id"], ["schools.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("secret_hash"),
        sa.UniqueConstraint("code_hash"),
    )
    op.create_index("ix_badges_account_id", "badges", ["account_id"])
    op.create_index("ix_badges_school_id", "badges", ["school_id"])
    with op.batch_alter_table("schools") as batch:
        batch.add_column(sa.Column("badge_networks", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                                   nullable=True))
        batch.add_column(sa.Column("badge_second_step", sa.String(length=16), nullable=False,
                                   server_default="none"))


def downgrade() -> None:
    with op.batch_alter_table("schools") as batch:
        batch.drop_column("badge_second_step")
        batch.drop_column("badge_networks")
    op.drop_index("ix_badges_school_id", table_name="badges")
    op.drop_index("ix_badges_account_id", table_name="badges")
    op.drop_table("badges")
