"""Finding entities and walking the organisation tree."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BindParameter, Select, func, or_, select
from sqlalchemy.orm import Session, aliased, selectinload
from werkzeug.datastructures import MultiDict

from portal.core.api import choice, search_text
from portal.core.text import contains_pattern, folded
from portal.entities.models import ENTITY_KINDS, Entity
from portal.search.text import fold


def select_subtree_ids(code: str | BindParameter[str]) -> Select:
    """Ids of the entity with this code and of every entity below it (a recursive CTE, both engines)."""
    if isinstance(code, str):
        code = code.strip().upper()
    return _subtree(select(Entity.id).where(Entity.code == code))


def select_subtree_ids_of(roots: Select) -> Select:
    """Ids of the entities `roots` selects (a select of `Entity.id`) and of every entity below them."""
    return _subtree(roots)


def _subtree(roots: Select) -> Select:
    tree = roots.cte("subtree", recursive=True)
    child = aliased(Entity)
    tree = tree.union_all(select(child.id).join(tree, child.parent_id == tree.c.id))
    return select(tree.c.id)


@dataclass(frozen=True)
class EntityFilters:
    """`q` matches code or name (case-insensitive), `kind` the level, `parent` the direct parent's code."""

    PARAMETERS = ("q", "kind", "parent")

    q: str = ""
    kind: tuple[str, ...] = ()
    parent: str | None = None

    @classmethod
    def from_args(cls, args: MultiDict[str, str], max_query_length: int = 200) -> EntityFilters:
        """Raises `ApiError` (400) for an unknown kind or a query that is too long."""
        return cls(
            q=search_text(args, max_query_length),
            kind=tuple(choice(args, "kind", ENTITY_KINDS)),
            parent=(args.get("parent") or "").strip().upper() or None,
        )


def select_entities(filters: EntityFilters) -> Select:
    statement = select(Entity).options(selectinload(Entity.parent)).order_by(Entity.code)
    if filters.q:
        pattern = contains_pattern(fold(filters.q))
        statement = statement.where(
            or_(func.lower(Entity.code).like(pattern, escape="\\"), folded(Entity.name).like(pattern, escape="\\"))
        )
    if filters.kind:
        statement = statement.where(Entity.kind.in_(filters.kind))
    if filters.parent:
        parent = aliased(Entity)
        statement = statement.join(parent, parent.id == Entity.parent_id).where(parent.code == filters.parent)
    return statement


def find_entity(session: Session, code: str) -> Entity | None:
    return session.scalars(select(Entity).where(Entity.code == code.strip().upper())).first()


def get_ancestors(entity: Entity) -> list[Entity]:
    """From the root down to the entity's parent."""
    ancestors: list[Entity] = []
    current = entity.parent
    while current is not None and current not in ancestors:
        ancestors.insert(0, current)
        current = current.parent
    return ancestors


def get_subtree(session: Session, entity: Entity) -> list[tuple[Entity, int]]:
    """Every entity below `entity`, depth first, each with its depth (1 for children)."""
    rows = session.scalars(select(Entity).where(Entity.id.in_(select_subtree_ids(entity.code)))).all()
    children: dict[int | None, list[Entity]] = {}
    for row in rows:
        children.setdefault(row.parent_id, []).append(row)
    ordered: list[tuple[Entity, int]] = []

    def walk(parent_id: int, depth: int) -> None:
        for child in sorted(children.get(parent_id, []), key=lambda item: item.code):
            ordered.append((child, depth))
            walk(child.id, depth + 1)

    walk(entity.id, 1)
    return ordered
