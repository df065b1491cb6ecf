"""The declarative base every model inherits, with the naming convention Alembic relies on."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Dialect, MetaData, String, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Base class of every model; its metadata names each index and constraint predictably."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and read back timezone-aware on both engines.

    PostgreSQL keeps the offset; SQLite has no timestamp type and returns naive values, which would
    make the API answer differently depending on the engine.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("UTCDateTime needs timezone-aware datetimes")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# An object's business key as the audit log, source records, conflicts and diff rows store it
# (`BCA|prod|server|srv-bca-01`). PostgreSQL compares it byte by byte (COLLATE "C"): keys are only ever
# matched, and comparing them by the database's locale made each index entry of a large import dearer
# (0.8 s of an import of 20,000 applications). On a C.UTF-8 database, the order is the same anyway.
NaturalKey = String(600).with_variant(String(600, collation="C"), "postgresql")
# A trigram kept for matching only, as the audit log keeps the application a change belongs to.
TrigramKey = String(7).with_variant(String(7, collation="C"), "postgresql")


class TimestampMixin:
    """`created_at` and `updated_at`, kept by the application (both engines, no triggers)."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


def enum_check(column: str, values: tuple[str, ...]) -> str:
    """SQL for a CHECK constraint that keeps `column` within `values` (NULL allowed)."""
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IS NULL OR {column} IN ({quoted})"
