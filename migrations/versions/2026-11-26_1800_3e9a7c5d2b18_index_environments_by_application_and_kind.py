"""Index environments by application and kind

Revision ID: 3e9a7c5d2b18
Revises: 8c1f4e2a9b37
Create Date: 2026-11-26 18:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "3e9a7c5d2b18"
down_revision: str | None = "8c1f4e2a9b37"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The search page counts the environment kinds of its results on every keystroke, and the
    # environment filter asks "has a prod environment" per application: both read (application, kind)
    # alone, which this index answers without touching the table.
    op.create_index("ix_environment_application_id_kind", "environment", ["application_id", "kind"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ANALYZE environment")


def downgrade() -> None:
    op.drop_index("ix_environment_application_id_kind", table_name="environment")
