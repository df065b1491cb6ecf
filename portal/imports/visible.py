"""The visible referential as the merge sees it: objects by natural key, their fields as canonical text.

One `Store` per object type reads the current values of the objects a run touches and writes the
values the merge decided, in bulk (one statement per chunk, never one ORM object per row). The
merge never touches the models directly: this module is the only place that knows how a field
(`entity`, `go_live`, `details`...) maps to columns, foreign keys and Python types.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from portal.applications.models import Application
from portal.core.bulk import insert_rows, update_rows
from portal.core.models import utcnow
from portal.entities.models import Entity
from portal.environments.models import Component, Environment
from portal.imports.schema import OBJECT_TYPES, ObjectType, format_details, parse_details, tags
from portal.interfaces.models import Interface
from portal.people.models import Person, Stakeholder

Key = tuple[str, ...]
Values = dict[str, str | None]
CHUNK = 1000
# Past this many distinct owners (first key parts), reading everything beats filtering by owner.
LOAD_ALL_THRESHOLD = 5000


@dataclass
class VisibleObject:
    """An object of the referential: its primary key and its fields as canonical text."""

    id: int
    values: Values


def chunks(items: list[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def as_date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


class References:
    """Ids of the objects others point at (entities, people, applications, environments), created ones included."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.entities = {code: id_ for code, id_ in session.execute(select(Entity.code, Entity.id))}
        self.people: dict[str, int] = {}
        self.applications: dict[str, int] = {}
        self.environments: dict[tuple[str, str], int] = {}

    def load_people(self, logins: Iterable[str]) -> None:
        wanted = sorted(set(logins) - self.people.keys())
        for chunk in chunks(wanted):
            rows = self.session.execute(select(Person.login, Person.id).where(Person.login.in_(chunk)))
            self.people.update({login: id_ for login, id_ in rows})

    def load_applications(self, trigrams: Iterable[str]) -> None:
        wanted = sorted(set(trigrams) - self.applications.keys())
        for chunk in chunks(wanted):
            rows = self.session.execute(
                select(Application.trigram, Application.id).where(Application.trigram.in_(chunk))
            )
            self.applications.update({trigram: id_ for trigram, id_ in rows})

    def load_environments(self, pairs: Iterable[tuple[str, str]]) -> None:
        """The ids of these (trigram, environment name) pairs, read by application: those this run
        created are known already (a first import creates every environment its components name)."""
        wanted = sorted({trigram for trigram, name in pairs if (trigram, name) not in self.environments})
        for chunk in chunks(wanted):
            rows = self.session.execute(
                select(Application.trigram, Environment.name, Environment.id)
                .join(Environment.application)
                .where(Application.trigram.in_(chunk))
            )
            self.environments.update({(trigram, name): id_ for trigram, name, id_ in rows})


class Store:
    """Reads and writes one object type. Subclasses say which rows, which columns, which conversions."""

    object_type: ObjectType

    def select_rows(self) -> Select[*tuple[Any, ...]]:
        """Rows of (id, key parts..., field values...) in the order of `object_type.key` then `own_fields`."""
        raise NotImplementedError

    def owner_column(self) -> Any:
        """The column matched against the first key part when loading only some objects."""
        raise NotImplementedError

    def load(self, session: Session, keys: Iterable[Key]) -> dict[Key, VisibleObject]:
        owners = sorted({key[0] for key in keys})
        statements = (
            [self.select_rows()]
            if len(owners) > LOAD_ALL_THRESHOLD
            else [self.select_rows().where(self.owner_column().in_(chunk)) for chunk in chunks(owners)]
        )
        key_size = len(self.object_type.key)
        names = [column.name for column in self.object_type.own_fields]
        found: dict[Key, VisibleObject] = {}
        for statement in statements:
            for row in session.execute(statement):
                key = tuple(row[1 : 1 + key_size])
                raw = row[1 + key_size :]
                found[key] = VisibleObject(row[0], self.canonical(dict(zip(names, raw, strict=True))))
        return found

    def canonical(self, values: dict[str, Any]) -> Values:
        """Database values as the canonical text the schema produces."""
        return {name: (value.isoformat() if isinstance(value, date) else value) for name, value in values.items()}

    def create(self, session: Session, refs: References, items: list[tuple[Key, Values]]) -> None:
        raise NotImplementedError

    def update(self, session: Session, refs: References, items: list[tuple[int, Key, Values]]) -> None:
        """Write changed fields: `items` holds (id, key, {field: new canonical value})."""
        now = utcnow()
        rows = [{"id": id_, **self.columns(refs, key, values), **self.stamp(now)} for id_, key, values in items]
        update_rows(session, self.model, rows)

    model: Any

    def columns(self, refs: References, key: Key, values: Values) -> dict[str, Any]:
        raise NotImplementedError

    def stamp(self, now: Any) -> dict[str, Any]:
        return {"updated_at": now} if hasattr(self.model, "updated_at") else {}

    def insert_with_ids(self, session: Session, rows: list[dict[str, Any]]) -> list[int]:
        return insert_rows(session, self.model, rows, returning="id")


class EntityStore(Store):
    object_type = OBJECT_TYPES["entity"]
    model = Entity

    def select_rows(self) -> Select[*tuple[Any, ...]]:
        parent = aliased(Entity)
        return select(Entity.id, Entity.code, Entity.name, Entity.kind, parent.code).outerjoin(
            parent, Entity.parent_id == parent.id
        )

    def owner_column(self) -> Any:
        return Entity.code

    def columns(self, refs: References, key: Key, values: Values) -> dict[str, Any]:
        out: dict[str, Any] = {name: values[name] for name in ("name", "kind") if name in values}
        if "parent" in values:
            out["parent_id"] = refs.entities[values["parent"]] if values["parent"] else None
        return out

    def create(self, session: Session, refs: References, items: list[tuple[Key, Values]]) -> None:
        # Parents first: an entity may name a parent created by the same run.
        pending = list(items)
        while pending:
            ready = [item for item in pending if not item[1].get("parent") or item[1]["parent"] in refs.entities]
            if not ready:  # a cycle, which validation refuses before this point
                raise ValueError("entities refer to each other as parents")
            rows = [{"code": key[0], **self.columns(refs, key, values)} for key, values in ready]
            refs.entities.update(zip((key[0] for key, _ in ready), self.insert_with_ids(session, rows), strict=True))
            pending = [item for item in pending if item not in ready]


class PersonStore(Store):
    object_type = OBJECT_TYPES["person"]
    model = Person

    def select_rows(self) -> Select[*tuple[Any, ...]]:
        return select(Person.id, Person.login, Person.display_name, Person.email, Entity.code).outerjoin(Person.entity)

    def owner_column(self) -> Any:
        return Person.login

    def columns(self, refs: References, key: Key, values: Values) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "name" in values:
            # A person needs a display name: without one, their login stands in for it.
            out["display_name"] = values["name"] or key[0]
        if "email" in values:
            out["email"] = values["email"]
        if "entity" in values:
            out["entity_id"] = refs.entities[values["entity"]] if values["entity"] else None
        return out

    def create(self, session: Session, refs: References, items: list[tuple[Key, Values]]) -> None:
        rows = [{"login": key[0], "display_name": key[0], **self.columns(refs, key, values)} for key, values in items]
        refs.people.update(zip((key[0] for key, _ in items), self.insert_with_ids(session, rows), strict=True))


APPLICATION_COLUMNS = {
    "name": "name",
    "description": "description",
    "status": "status",
    "criticality": "criticality",
    "go_live": "go_live_date",
    "end_of_support": "end_of_support_date",
    "decommission": "decommission_date",
    "tags": "tags",
    "documentation_url": "documentation_url",
}
DATE_FIELDS = {"go_live", "end_of_support", "decommission"}


class ApplicationStore(Store):
    object_type = OBJECT_TYPES["application"]
    model = Application

    def select_rows(self) -> Select[*tuple[Any, ...]]:
        a = Application
        return select(
            a.id,
            a.trigram,
            a.name,
            a.description,
            a.status,
            a.criticality,
            Entity.code,
            a.go_live_date,
            a.end_of_support_date,
            a.decommission_date,
            a.tags,
            a.documentation_url,
        ).outerjoin(a.entity)

    def owner_column(self) -> Any:
        return Application.trigram

    def canonical(self, values: dict[str, Any]) -> Values:
        out = super().canonical(values)
        out["tags"] = tags(out["tags"])  # stored as written by whoever wrote it; compared canonically
        return out

    def columns(self, refs: References, key: Key, values: Values) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in values.items():
            if name == "entity":
                out["entity_id"] = refs.entities[value] if value else None
            else:
                out[APPLICATION_COLUMNS[name]] = as_date(value) if name in DATE_FIELDS else value
        return out

    def create(self, session: Session, refs: References, items: list[tuple[Key, Values]]) -> None:
        # A new application nobody gave a status to is in production (the model's default, set here
        # because bulk rows must all name the same columns).
        rows = [
            {"trigram": key[0], **self.columns(refs, key, values), "status": values.get("status") or "production"}
            for key, values in items
        ]
        refs.applications.update(zip((key[0] for key, _ in items), self.insert_with_ids(session, rows), strict=True))


class EnvironmentStore(Store):
    object_type = OBJECT_TYPES["environment"]
    model = Environment

    def select_rows(self) -> Select[*tuple[Any, ...]]:
        e = Environment
        return select(e.id, Application.trigram, e.name, e.kind, e.url, e.status).join(e.application)

    def owner_column(self) -> Any:
        return Application.trigram

    def columns(self, refs: References, key: Key, values: Values) -> dict[str, Any]:
        return dict(values)

    def create(self, session: Session, refs: References, items: list[tuple[Key, Values]]) -> None:
        rows = [
            {
                "application_id": refs.applications[key[0]],
                "name": key[1],
                **self.columns(refs, key, values),
                "status": values.get("status") or "active",
            }
            for key, values in items
        ]
        ids = self.insert_with_ids(session, rows)
        refs.environments.update(zip(((key[0], key[1]) for key, _ in items), ids, strict=True))


class ComponentStore(Store):
    object_type = OBJECT_TYPES["component"]
    model = Component

    def select_rows(self) -> Select[*tuple[Any, ...]]:
        c = Component
        return (
            select(c.id, Application.trigram, Environment.name, c.kind, c.name, c.attributes)
            .join(c.environment)
            .join(Environment.application)
        )

    def owner_column(self) -> Any:
        return Application.trigram

    def canonical(self, values: dict[str, Any]) -> Values:
        return {"details": format_details(values["details"])}

    def columns(self, refs: References, key: Key, values: Values) -> dict[str, Any]:
        return {"attributes": parse_details(values["details"]) or None} if "details" in values else {}

    def stamp(self, now: Any) -> dict[str, Any]:
        return {}

    def create(self, session: Session, refs: References, items: list[tuple[Key, Values]]) -> None:
        rows = [
            {
                "environment_id": refs.environments[(key[0], key[1])],
                "kind": key[2],
                "name": key[3],
                **self.columns(refs, key, values),
            }
            for key, values in items
        ]
        insert_rows(session, self.model, rows)  # nothing refers to these: their ids are not needed


class StakeholderStore(Store):
    object_type = OBJECT_TYPES["stakeholder"]
    model = Stakeholder

    def select_rows(self) -> Select[*tuple[Any, ...]]:
        s = Stakeholder
        return select(s.id, Application.trigram, Person.login, s.role).join(s.application).join(s.person)

    def owner_column(self) -> Any:
        return Application.trigram

    def columns(self, refs: References, key: Key, values: Values) -> dict[str, Any]:
        return {}

    def create(self, session: Session, refs: References, items: list[tuple[Key, Values]]) -> None:
        rows = [
            {"application_id": refs.applications[key[0]], "person_id": refs.people[key[1]], "role": key[2]}
            for key, _ in items
        ]
        insert_rows(session, self.model, rows)  # nothing refers to these: their ids are not needed


class InterfaceStore(Store):
    object_type = OBJECT_TYPES["interface"]
    model = Interface

    def select_rows(self) -> Select[*tuple[Any, ...]]:
        i = Interface
        target = aliased(Application)
        return (
            select(i.id, Application.trigram, target.trigram, i.protocol, i.frequency, i.middleware, i.description)
            .join(Application, i.source_application_id == Application.id)
            .join(target, i.target_application_id == target.id)
        )

    def owner_column(self) -> Any:
        return Application.trigram

    def columns(self, refs: References, key: Key, values: Values) -> dict[str, Any]:
        return dict(values)

    def create(self, session: Session, refs: References, items: list[tuple[Key, Values]]) -> None:
        rows = [
            {
                "source_application_id": refs.applications[key[0]],
                "target_application_id": refs.applications[key[1]],
                "protocol": key[2],
                **self.columns(refs, key, values),
            }
            for key, values in items
        ]
        insert_rows(session, self.model, rows)  # nothing refers to these: their ids are not needed


STORES: dict[str, Store] = {
    store.object_type.name: store
    for store in (
        EntityStore(),
        PersonStore(),
        ApplicationStore(),
        EnvironmentStore(),
        ComponentStore(),
        StakeholderStore(),
        InterfaceStore(),
    )
}
