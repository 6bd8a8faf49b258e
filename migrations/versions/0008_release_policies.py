"""release policies: versioned per platform with per-attribute justification, vendors' requests to change them,
the vendor's name, what a person declined, pending consent requests for young pupils, and operators

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "release_policies",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("basis", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.JSON(), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["clients.client_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("client_id", "version"),
    )
    op.create_table(
        "policy_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=36), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["clients.client_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_policy_requests_status", "policy_requests", ["status"])
    op.create_table(
        "consent_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["client_id"], ["clients.client_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_consent_requests_account_id_status", "consent_requests", ["account_id", "status"])
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("vendor", sa.String(length=200), nullable=True))
    with op.batch_alter_table("consents") as batch:
        batch.add_column(sa.Column("declined", sa.JSON(), nullable=True))
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("operator", sa.Boolean(), server_default=sa.false(), nullable=False))
    # every platform registered so far: its policy as it stands is its current version
    clients = sa.table("clients", sa.column("client_id", sa.String), sa.column("basis", sa.String),
                       sa.column("purpose", sa.Text), sa.column("attributes", sa.JSON),
                       sa.column("policy_version", sa.Integer), sa.column("created_at", sa.DateTime(timezone=True)))
    policies = sa.table("release_policies", sa.column("client_id", sa.String), sa.column("version", sa.Integer),
                        sa.column("basis", sa.String), sa.column("purpose", sa.JSON), sa.column("attributes", sa.JSON),
                        sa.column("created_at", sa.DateTime(timezone=True)))
    rows = op.get_bind().execute(sa.select(clients)).mappings().all()
    if rows:
        op.bulk_insert(policies, [{
            "client_id": r["client_id"], "version": r["policy_version"], "basis": r["basis"],
            "purpose": {"nl": r["purpose"]} if r["purpose"] else {},
            "attributes": [{"name": a, "optional": False} for a in r["attributes"] or []],
            "created_at": r["created_at"],
        } for r in rows])


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("operator")
    with op.batch_alter_table("consents") as batch:
        batch.drop_column("declined")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("vendor")
    op.drop_index("ix_consent_requests_account_id_status", "consent_requests")
    op.drop_table("consent_requests")
    op.drop_index("ix_policy_requests_status", "policy_requests")
    op.drop_table("policy_requests")
    op.drop_table("release_policies")
