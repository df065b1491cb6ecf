"""Finding interfaces between applications."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import aliased, selectinload
from werkzeug.datastructures import MultiDict

from portal.applications.models import Application, normalize_trigram
from portal.interfaces.models import Interface


@dataclass(frozen=True)
class InterfaceFilters:
    """`application` matches either end, `source` and `target` one end each (trigrams, any case);
    `protocol` and `middleware` match exactly, ignoring case."""

    PARAMETERS = ("application", "source", "target", "protocol", "middleware")

    application: str | None = None
    source: str | None = None
    target: str | None = None
    protocol: str | None = None
    middleware: str | None = None

    @classmethod
    def from_args(cls, args: MultiDict[str, str]) -> InterfaceFilters:
        def trigram(name: str) -> str | None:
            return normalize_trigram(args.get(name) or "")[:7] or None

        def text(name: str) -> str | None:
            return (args.get(name) or "").strip().lower()[:80] or None

        return cls(
            application=trigram("application"),
            source=trigram("source"),
            target=trigram("target"),
            protocol=text("protocol"),
            middleware=text("middleware"),
        )


def select_interfaces(filters: InterfaceFilters) -> Select:
    source = aliased(Application)
    target = aliased(Application)
    statement = (
        select(Interface)
        .join(source, source.id == Interface.source_application_id)
        .join(target, target.id == Interface.target_application_id)
        .options(selectinload(Interface.source), selectinload(Interface.target))
        .order_by(source.trigram, target.trigram, Interface.protocol)
    )
    if filters.application:
        statement = statement.where(or_(source.trigram == filters.application, target.trigram == filters.application))
    if filters.source:
        statement = statement.where(source.trigram == filters.source)
    if filters.target:
        statement = statement.where(target.trigram == filters.target)
    if filters.protocol:
        statement = statement.where(func.lower(Interface.protocol) == filters.protocol)
    if filters.middleware:
        statement = statement.where(func.lower(Interface.middleware) == filters.middleware)
    return statement
