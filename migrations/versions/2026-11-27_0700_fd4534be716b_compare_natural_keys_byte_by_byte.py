"""Compare natural keys byte by byte on PostgreSQL

Revision ID: fd4534be716b
Revises: 524403eeb210
Create Date: 2026-11-27 07:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "fd4534be716b"
down_revision: str | None = "524403eeb210"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("change", "conflict", "import_row", "source_record")


def upgrade() -> None:
    # Keys are only matched, never sorted for people: comparing them by the database's locale made each
    # index entry of a large import dearer (inserting an import of 20,000 applications' source records
    # and audit rows again: 0.8 s less). SQLite compares bytes already. PostgreSQL rebuilds the indexes.
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f'ALTER TABLE {table} ALTER COLUMN natural_key TYPE varchar(600) COLLATE "C"')


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f'ALTER TABLE {table} ALTER COLUMN natural_key TYPE varchar(600) COLLATE "default"')
