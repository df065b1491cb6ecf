"""Confirm a source's records of one type all at once

Revision ID: 2f7d9b4c8e13
Revises: 9c3a6f1e7d24
Create Date: 2026-11-26 22:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2f7d9b4c8e13"
down_revision: str | None = "9c3a6f1e7d24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A run that states every record of a type its source has confirms them with one row here, instead
    # of rewriting each record's last_seen_at (an unchanged re-import of a large workbook).
    op.create_table(
        "source_confirmation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("object_type", sa.String(length=20), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"], ["source.id"], name=op.f("fk_source_confirmation_source_id_source"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["import_run.id"], name=op.f("fk_source_confirmation_run_id_import_run"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_confirmation")),
        sa.UniqueConstraint("source_id", "object_type", name=op.f("uq_source_confirmation_source_id_object_type")),
    )
    op.create_index(op.f("ix_source_confirmation_run_id"), "source_confirmation", ["run_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_source_confirmation_run_id"), table_name="source_confirmation")
    op.drop_table("source_confirmation")
