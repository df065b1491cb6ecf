"""Keep the dry run's plan in pieces

Revision ID: 3e8b5d1a7c46
Revises: 6a1c8e3f5b72
Create Date: 2026-11-27 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3e8b5d1a7c46"
down_revision: str | None = "6a1c8e3f5b72"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plan of a large workbook is tens of megabytes: as one value, the driver held several escaped
    # copies of it at once. Pieces of about a megabyte keep an import's memory flat. A run that was
    # waiting with a kept plan loses it: its apply plans the workbook again, as when the referential changed.
    op.create_table(
        "import_plan_chunk",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["import_run.id"], name=op.f("fk_import_plan_chunk_run_id_import_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "position", name=op.f("pk_import_plan_chunk")),
    )
    with op.batch_alter_table("import_run") as batch:
        batch.drop_column("plan_data")


def downgrade() -> None:
    with op.batch_alter_table("import_run") as batch:
        batch.add_column(sa.Column("plan_data", sa.LargeBinary(), nullable=True))
    op.drop_table("import_plan_chunk")
