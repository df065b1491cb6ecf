"""Import runs: one row per workbook upload, push batch, API sync or portal edit, visible to every replica."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from portal.core.models import Base, NaturalKey, UTCDateTime, enum_check, utcnow
from portal.sources.models import Source

RUN_KINDS = ("upload", "push", "snapshot", "sync", "edit", "resolution", "recompute")
RUN_MODES = ("dry_run", "apply")
# queued -> running -> ready (a dry run waiting for Apply) -> applying -> succeeded | failed | cancelled.
# A snapshot spanning several push batches stays `open` between its begin and commit calls.
RUN_STATUSES = ("queued", "running", "ready", "applying", "open", "succeeded", "failed", "cancelled")
FINISHED_STATUSES = ("succeeded", "failed", "cancelled")
# What each record of a run came to (the dry-run diff and the push results use the same words).
ROW_ACTIONS = ("create", "update", "unchanged", "conflict", "error")


class ImportRun(Base):
    """One run of one source: who started it, what it would change (dry run) or changed (apply), how far it is.

    An uploaded workbook is kept in `file_data` until the run finishes, so that any replica can apply it.
    `heartbeat_at` is refreshed while a run works; a run whose heartbeat stopped (its process died) is
    marked failed by the next process that starts.
    """

    __tablename__ = "import_run"
    __table_args__ = (
        CheckConstraint(enum_check("kind", RUN_KINDS), name="kind"),
        CheckConstraint(enum_check("mode", RUN_MODES), name="mode"),
        CheckConstraint(enum_check("status", RUN_STATUSES), name="status"),
        UniqueConstraint("source_id", "idempotency_key"),
        Index("ix_import_run_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    mode: Mapped[str] = mapped_column(String(10), default="apply")
    status: Mapped[str] = mapped_column(String(10), default="queued")
    actor: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_token.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    filename: Mapped[str | None] = mapped_column(String(255))
    file_data: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    # The state of the referential the dry run's plan (`ImportPlanChunk`) was made from: the apply writes
    # that plan as reviewed when this state has not changed since, instead of planning again.
    plan_version: Mapped[str | None] = mapped_column(String(400))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    # Choices made when the run was started: {"partial": bool, "snapshot": bool}.
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    phase: Mapped[str | None] = mapped_column(String(40))
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int] = mapped_column(default=0)
    # Records per action ({"create": 3, "update": 1, ...}), and values written to the audit log.
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    changes_written: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # Extra columns a workbook had, which were ignored; the push API's per-record results.
    notes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    source: Mapped[Source] = relationship()

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def percent(self) -> int:
        return min(100, 100 * self.progress_done // self.progress_total) if self.progress_total else 0


class ImportRow(Base):
    """One record of a run that is not unchanged: what it would change or changed, or why it was refused.

    `location` says where the record came from (`Applications!7` for row 7 of a sheet, `#12` for the
    13th record of a push); `changes` maps each field to `[before, after]`; `errors` lists
    `{"column": ..., "value": ..., "reason": ...}`. Unchanged records are only counted.
    """

    __tablename__ = "import_row"
    __table_args__ = (
        CheckConstraint(enum_check("action", ROW_ACTIONS), name="action"),
        Index("ix_import_row_run_id_action", "run_id", "action"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("import_run.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column()
    sheet: Mapped[str | None] = mapped_column(String(40))
    row_number: Mapped[int | None] = mapped_column()
    object_type: Mapped[str] = mapped_column(String(20))
    natural_key: Mapped[str] = mapped_column(NaturalKey)
    action: Mapped[str] = mapped_column(String(10))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class ImportPlanChunk(Base):
    """A piece of a dry run's plan (portal/imports/plans.py): compressed JSON lines, cut into pieces of
    about a megabyte so that neither keeping nor reading a large plan holds it whole in memory (a
    database driver copies and escapes a value several times over). Dropped when the run ends."""

    __tablename__ = "import_plan_chunk"

    run_id: Mapped[int] = mapped_column(ForeignKey("import_run.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
