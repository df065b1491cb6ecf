"""Keep the dry run's plan on its import run

Revision ID: 9c3a6f1e7d24
Revises: 5b8e2d7c4a91
Create Date: 2026-11-26 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9c3a6f1e7d24"
down_revision: str | None = "5b8e2d7c4a91"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The apply writes the plan a steward reviewed, instead of reading and planning the workbook again,
    # when the referential has not changed since the dry run (plan_version).
    with op.batch_alter_table("import_run") as batch:
        batch.add_column(sa.Column("plan_data", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("plan_version", sa.String(length=400), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("import_run") as batch:
        batch.drop_column("plan_version")
        batch.drop_column("plan_data")
