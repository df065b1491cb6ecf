"""Record sources, their statements, import runs, conflicts and changes

The audit log (`change`) is append-only: a trigger refuses UPDATE and DELETE on both engines.
Two sources exist from the start: `manual` (portal edits, the highest default precedence) and
`workbook` (stewards' uploads).

Revision ID: 7d4b1f9e2c60
Revises: 3e9a7c5d2b18
Create Date: 2026-11-26 19:20:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "7d4b1f9e2c60"
down_revision: str | None = "3e9a7c5d2b18"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "source",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("precedence", sa.Integer(), nullable=False),
        sa.Column("field_precedence", sa.JSON(), nullable=False),
        sa.Column("configuration", sa.JSON(), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IS NULL OR kind IN ('excel', 'push', 'api', 'manual')", name=op.f("ck_source_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source")),
        sa.UniqueConstraint("name", name=op.f("uq_source_name")),
    )
    op.create_table(
        "conflict",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("object_type", sa.String(length=20), nullable=False),
        sa.Column("natural_key", sa.String(length=600), nullable=False),
        sa.Column("application", sa.String(length=7), nullable=True),
        sa.Column("field", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("winning_source_id", sa.Integer(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.Column("resolution", sa.String(length=10), nullable=True),
        sa.Column("resolution_value", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "resolution IS NULL OR resolution IN ('kept', 'chose', 'pinned', 'agreed')",
            name=op.f("ck_conflict_resolution"),
        ),
        sa.CheckConstraint("status IS NULL OR status IN ('open', 'resolved')", name=op.f("ck_conflict_status")),
        sa.ForeignKeyConstraint(
            ["winning_source_id"], ["source.id"], name=op.f("fk_conflict_winning_source_id_source"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conflict")),
    )
    with op.batch_alter_table("conflict", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conflict_application"), ["application"], unique=False)
        batch_op.create_index(
            "ix_conflict_object_type_natural_key_field", ["object_type", "natural_key", "field"], unique=False
        )
        batch_op.create_index("ix_conflict_status_opened_at", ["status", "opened_at"], unique=False)

    op.create_table(
        "import_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("file_data", sa.LargeBinary(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("phase", sa.String(length=40), nullable=True),
        sa.Column("progress_done", sa.Integer(), nullable=False),
        sa.Column("progress_total", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("changes_written", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "kind IS NULL OR kind IN ('upload', 'push', 'snapshot', 'sync', 'edit', 'resolution', 'recompute')",
            name=op.f("ck_import_run_kind"),
        ),
        sa.CheckConstraint("mode IS NULL OR mode IN ('dry_run', 'apply')", name=op.f("ck_import_run_mode")),
        sa.CheckConstraint(
            "status IS NULL OR status IN "
            "('queued', 'running', 'ready', 'applying', 'open', 'succeeded', 'failed', 'cancelled')",
            name=op.f("ck_import_run_status"),
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["source.id"], name=op.f("fk_import_run_source_id_source"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_token.id"], name=op.f("fk_import_run_token_id_api_token"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_import_run_user_id_user_account"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_run")),
        sa.UniqueConstraint("source_id", "idempotency_key", name=op.f("uq_import_run_source_id_idempotency_key")),
    )
    with op.batch_alter_table("import_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_import_run_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_import_run_source_id"), ["source_id"], unique=False)
        batch_op.create_index("ix_import_run_status", ["status"], unique=False)

    op.create_table(
        "change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("object_type", sa.String(length=20), nullable=False),
        sa.Column("natural_key", sa.String(length=600), nullable=False),
        sa.Column("application", sa.String(length=7), nullable=True),
        sa.Column("field", sa.String(length=40), nullable=True),
        sa.Column("operation", sa.String(length=10), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "operation IS NULL OR operation IN ('create', 'update', 'missing', 'present', 'resolve')",
            name=op.f("ck_change_operation"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["import_run.id"], name=op.f("fk_change_run_id_import_run"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["source.id"], name=op.f("fk_change_source_id_source"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_token.id"], name=op.f("fk_change_token_id_api_token"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_change_user_id_user_account"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change")),
    )
    with op.batch_alter_table("change", schema=None) as batch_op:
        batch_op.create_index("ix_change_application_at", ["application", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_change_at"), ["at"], unique=False)
        batch_op.create_index("ix_change_object_type_natural_key", ["object_type", "natural_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_change_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_change_source_id"), ["source_id"], unique=False)

    op.create_table(
        "import_row",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sheet", sa.String(length=40), nullable=True),
        sa.Column("row_number", sa.Integer(), nullable=True),
        sa.Column("object_type", sa.String(length=20), nullable=False),
        sa.Column("natural_key", sa.String(length=600), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "action IS NULL OR action IN ('create', 'update', 'unchanged', 'conflict', 'error')",
            name=op.f("ck_import_row_action"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["import_run.id"], name=op.f("fk_import_row_run_id_import_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_row")),
    )
    with op.batch_alter_table("import_row", schema=None) as batch_op:
        batch_op.create_index("ix_import_row_run_id_action", ["run_id", "action"], unique=False)

    op.create_table(
        "source_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("object_type", sa.String(length=20), nullable=False),
        sa.Column("natural_key", sa.String(length=600), nullable=False),
        sa.Column("application", sa.String(length=7), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("field_runs", sa.JSON(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_id", sa.Integer(), nullable=True),
        sa.Column("missing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fingerprint", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["last_run_id"],
            ["import_run.id"],
            name=op.f("fk_source_record_last_run_id_import_run"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["source.id"], name=op.f("fk_source_record_source_id_source"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_record")),
        sa.UniqueConstraint(
            "source_id", "object_type", "natural_key", name=op.f("uq_source_record_source_id_object_type_natural_key")
        ),
    )
    with op.batch_alter_table("source_record", schema=None) as batch_op:
        batch_op.create_index("ix_source_record_application", ["application"], unique=False)
        batch_op.create_index(batch_op.f("ix_source_record_last_run_id"), ["last_run_id"], unique=False)
        batch_op.create_index("ix_source_record_object_type_natural_key", ["object_type", "natural_key"], unique=False)

    _forbid_changing_the_audit_log()
    if op.get_bind().dialect.name == "postgresql":
        # Every re-import confirms each record (last_seen_at): room on each page lets PostgreSQL do it
        # in place (a HOT update), without touching the indexes.
        op.execute("ALTER TABLE source_record SET (fillfactor = 80)")
    source = sa.table(
        "source",
        sa.column("name", sa.String),
        sa.column("kind", sa.String),
        sa.column("description", sa.Text),
        sa.column("precedence", sa.Integer),
        sa.column("field_precedence", sa.JSON),
        sa.column("configuration", sa.JSON),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        source,
        [
            {
                "name": "manual",
                "kind": "manual",
                "description": "Values edited in the portal, and values stewards pinned when resolving a conflict.",
                "precedence": 100,
                "field_precedence": {},
                "configuration": {},
                "created_at": now,
                "updated_at": now,
            },
            {
                "name": "workbook",
                "kind": "excel",
                "description": "Workbooks uploaded by data stewards.",
                "precedence": 50,
                "field_precedence": {},
                "configuration": {},
                "created_at": now,
                "updated_at": now,
            },
        ],
    )


def _forbid_changing_the_audit_log() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION change_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'the audit log (change) is append-only';
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER change_append_only BEFORE UPDATE OR DELETE ON change "
            "FOR EACH ROW EXECUTE FUNCTION change_is_append_only()"
        )
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER change_append_only_{event.lower()} BEFORE {event} ON change "
            "BEGIN SELECT RAISE(ABORT, 'the audit log (change) is append-only'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER change_append_only ON change")
        op.execute("DROP FUNCTION change_is_append_only()")
    else:
        op.execute("DROP TRIGGER change_append_only_update")
        op.execute("DROP TRIGGER change_append_only_delete")
    with op.batch_alter_table("source_record", schema=None) as batch_op:
        batch_op.drop_index("ix_source_record_object_type_natural_key")
        batch_op.drop_index(batch_op.f("ix_source_record_last_run_id"))
        batch_op.drop_index("ix_source_record_application")

    op.drop_table("source_record")
    with op.batch_alter_table("import_row", schema=None) as batch_op:
        batch_op.drop_index("ix_import_row_run_id_action")

    op.drop_table("import_row")
    with op.batch_alter_table("change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_change_source_id"))
        batch_op.drop_index(batch_op.f("ix_change_run_id"))
        batch_op.drop_index("ix_change_object_type_natural_key")
        batch_op.drop_index(batch_op.f("ix_change_at"))
        batch_op.drop_index("ix_change_application_at")

    op.drop_table("change")
    with op.batch_alter_table("import_run", schema=None) as batch_op:
        batch_op.drop_index("ix_import_run_status")
        batch_op.drop_index(batch_op.f("ix_import_run_source_id"))
        batch_op.drop_index(batch_op.f("ix_import_run_created_at"))

    op.drop_table("import_run")
    with op.batch_alter_table("conflict", schema=None) as batch_op:
        batch_op.drop_index("ix_conflict_status_opened_at")
        batch_op.drop_index("ix_conflict_object_type_natural_key_field")
        batch_op.drop_index(batch_op.f("ix_conflict_application"))

    op.drop_table("conflict")
    op.drop_table("source")
