"""clients.frontchannel_logout_uri and frontchannel_logout_session_required: a platform's OpenID Connect
Front-Channel Logout 1.0 registration (`leerid clients create|update --frontchannel-logout-uri URI
[--frontchannel-logout-session-required]`)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("frontchannel_logout_uri", sa.String(length=2000), nullable=True))
        batch.add_column(sa.Column("frontchannel_logout_session_required", sa.Boolean(), server_default=sa.false(),
                                   nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("frontchannel_logout_session_required")
        batch.drop_column("frontchannel_logout_uri")
