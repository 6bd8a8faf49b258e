"""sessions: each school's device policy (ask, shared or personal), for the SSO sessions of its people

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-10
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("schools") as batch:
        batch.add_column(sa.Column("device_policy", sa.String(length=16), nullable=False, server_default="ask"))


def downgrade() -> None:
    with op.batch_alter_table("schools") as batch:
        batch.drop_column("device_policy")
