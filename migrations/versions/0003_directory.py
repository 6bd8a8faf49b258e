"""school directory: school level, classes per school year, memberships with validity and history

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""
from datetime import date

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def school_year(on: date) -> int:
    return on.year if on.month >= 9 else on.year - 1


def upgrade() -> None:
    op.add_column("schools", sa.Column("level", sa.String(length=16), nullable=True))
    op.create_table(
        "classes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("school_year", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("grade", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["school_id"], ["schools.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("school_id", "school_year", "name", name="uq_class"),
    )
    op.create_index("ix_classes_school_id", "classes", ["school_id"])
    with op.batch_alter_table("memberships") as batch:
        batch.add_column(sa.Column("class_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("external_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("valid_from", sa.Date(), nullable=True))
        batch.add_column(sa.Column("valid_until", sa.Date(), nullable=True))
    move_class_names()
    with op.batch_alter_table("memberships") as batch:
        batch.alter_column("valid_from", existing_type=sa.Date(), nullable=False)
        batch.drop_constraint("uq_membership", type_="unique")
        batch.drop_column("class_name")
        batch.create_foreign_key("fk_memberships_class_id", "classes", ["class_id"], ["id"])
        batch.create_index("ix_memberships_class_id", ["class_id"])


def move_class_names() -> None:
    """Each membership's class name becomes a class of this school year; every membership starts today."""
    conn = op.get_bind()
    today, year = date.today(), school_year(date.today())
    conn.execute(sa.text("UPDATE memberships SET valid_from = :today"), {"today": today})
    rows = conn.execute(sa.text("SELECT id, school_id, class_name FROM memberships WHERE class_name IS NOT NULL"))
    for membership_id, school_id, class_name in rows.fetchall():
        found = conn.execute(sa.text(
            "SELECT id FROM classes WHERE school_id = :school AND school_year = :year AND name = :name"),
            {"school": school_id, "year": year, "name": class_name}).scalar()
        if found is None:
            conn.execute(sa.text("INSERT INTO classes (school_id, school_year, name) VALUES (:school, :year, :name)"),
                         {"school": school_id, "year": year, "name": class_name})
            found = conn.execute(sa.text(
                "SELECT id FROM classes WHERE school_id = :school AND school_year = :year AND name = :name"),
                {"school": school_id, "year": year, "name": class_name}).scalar()
        conn.execute(sa.text("UPDATE memberships SET class_id = :cls WHERE id = :id"),
                     {"cls": found, "id": membership_id})


def downgrade() -> None:
    with op.batch_alter_table("memberships") as batch:
        batch.add_column(sa.Column("class_name", sa.String(length=64), nullable=True))
    op.execute("UPDATE memberships SET class_name = (SELECT name FROM classes WHERE classes.id = memberships.class_id)")
    with op.batch_alter_table("memberships") as batch:
        batch.drop_index("ix_memberships_class_id")
        batch.drop_constraint("fk_memberships_class_id", type_="foreignkey")
        batch.drop_column("class_id")
        batch.drop_column("external_id")
        batch.drop_column("valid_from")
        batch.drop_column("valid_until")
        batch.create_unique_constraint("uq_membership", ["account_id", "school_id", "role"])
    op.drop_index("ix_classes_school_id", "classes")
    op.drop_table("classes")
    op.drop_column("schools", "level")
