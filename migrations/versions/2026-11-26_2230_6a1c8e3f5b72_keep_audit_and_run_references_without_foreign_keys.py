"""Keep the audit log's and source records' run references without foreign keys

Revision ID: 6a1c8e3f5b72
Revises: 2f7d9b4c8e13
Create Date: 2026-11-26 22:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "6a1c8e3f5b72"
down_revision: str | None = "2f7d9b4c8e13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, constraint, column, referred table) of the keys this revision drops.
KEYS = (
    ("change", "fk_change_user_id_user_account", "user_id", "user_account"),
    ("change", "fk_change_token_id_api_token", "token_id", "api_token"),
    ("change", "fk_change_source_id_source", "source_id", "source"),
    ("change", "fk_change_run_id_import_run", "run_id", "import_run"),
    ("source_record", "fk_source_record_last_run_id_import_run", "last_run_id", "import_run"),
)


def upgrade() -> None:
    # An S import writes about 283k audit rows and 283k source records: checking these keys on each
    # cost it about 6 s. The audit log is append-only history (its trigger refuses the updates an
    # ON DELETE SET NULL would make), and runs are never deleted: the ids stay as they were written.
    for table, name, _, _ in KEYS:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="foreignkey")
    _keep_the_audit_log_append_only_on_sqlite()


def downgrade() -> None:
    for table, name, column, referred in KEYS:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(name, referred, [column], ["id"], ondelete="SET NULL")
    _keep_the_audit_log_append_only_on_sqlite()


def _keep_the_audit_log_append_only_on_sqlite() -> None:
    """SQLite alters a table by copying it into a new one, which loses its triggers: make them again
    (as revision 7d4b1f9e2c60 did). PostgreSQL alters the table in place and keeps its trigger."""
    if op.get_bind().dialect.name != "sqlite":
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER change_append_only_{event.lower()} BEFORE {event} ON change "
            "BEGIN SELECT RAISE(ABORT, 'the audit log (change) is append-only'); END"
        )
