"""audit_events: an index on (subject_id, event, seq), so that the latest event of a kind about a person (the notice
after a wiped second factor, read at every login) is found without reading all of that person's records. Built
CONCURRENTLY on PostgreSQL: the audit log keeps taking records while it is made.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-23
"""
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

NAME = "ix_audit_events_subject_event"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            # should it fail half-way, PostgreSQL leaves an invalid index of this name: drop it and upgrade again
            op.create_index(NAME, "audit_events", ["subject_id", "event", "seq"], postgresql_concurrently=True)
    else:
        op.create_index(NAME, "audit_events", ["subject_id", "event", "seq"])


def downgrade() -> None:
    op.drop_index(NAME, "audit_events")
