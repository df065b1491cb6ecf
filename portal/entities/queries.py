"""Finding entities and walking the organisation tree."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import BindParameter, ColumnElement, Select, func, literal, or_, select
from sqlalchemy.orm import Session, aliased, selectinload
from werkzeug.datastructures import MultiDict

from portal.applications.models import Application
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


# The organisation tree as the entity pages show it: every entity with the applications of its subtree.


@dataclass(eq=False)
class EntityNode:
    """One entity of the tree, with the number of applications owned anywhere in its subtree."""

    code: str
    name: str
    kind: str
    applications: int = 0
    parent: EntityNode | None = field(default=None, repr=False)
    children: list[EntityNode] = field(default_factory=list, repr=False)
    matched: bool = True  # whether the filter text matches it (an unmatched node is a matched one's ancestor)

    @property
    def ancestors(self) -> list[EntityNode]:
        """From the root down to this entity's parent."""
        path: list[EntityNode] = []
        node = self.parent
        while node is not None:
            path.insert(0, node)
            node = node.parent
        return path

    def descendants(self) -> Iterator[EntityNode]:
        for child in self.children:
            yield child
            yield from child.descendants()

    @property
    def descendant_kinds(self) -> list[tuple[str, int]]:
        """(kind, how many) of the entities below this one, in the order of `ENTITY_KINDS`."""
        counts = Counter(node.kind for node in self.descendants())
        return [(kind, counts[kind]) for kind in ENTITY_KINDS if counts[kind]]


@dataclass
class EntityTree:
    """The roots of the (possibly filtered) tree, and every entity by code."""

    roots: list[EntityNode]
    by_code: dict[str, EntityNode]
    matched: int

    def find(self, code: str) -> EntityNode | None:
        return self.by_code.get(code.strip().upper())

    def similar(self, text: str, limit: int = 5) -> list[EntityNode]:
        """Entities whose code or name contains `text` (accents and case aside), else the nearest existing
        ancestor by code (`BDD-AGE` for `BDD-AGE-XYZ`): suggestions for a code that does not exist."""
        wanted, code = fold(text.strip()), text.strip().upper()
        found = [node for node in self.by_code.values() if wanted in fold(node.code) or wanted in fold(node.name)]
        if not found:
            prefixes = [node for node in self.by_code.values() if code.startswith(f"{node.code}-")]
            found = sorted(prefixes, key=lambda node: -len(node.code))[:1]
        return sorted(found, key=lambda node: node.code)[:limit]


def select_entity_outline(q: str = "") -> Select:
    """(id, parent_id, code, name, kind, matched) of every entity; `matched` says whether `q` matches it
    exactly as the API's `q` does (code or name, case and accents aside), true for all without `q`."""
    matched: ColumnElement[bool] = literal(True)
    if q:
        matching = select_entities(EntityFilters(q=q)).with_only_columns(Entity.id).order_by(None)
        matched = Entity.id.in_(matching)
    return select(Entity.id, Entity.parent_id, Entity.code, Entity.name, Entity.kind, matched.label("matched"))


def select_application_counts() -> Select:
    """(entity id, number of applications it owns directly) for every entity that owns some."""
    return (
        select(Application.entity_id, func.count())
        .where(Application.entity_id.is_not(None))
        .group_by(Application.entity_id)
    )


def get_entity_tree(session: Session, q: str = "") -> EntityTree:
    """The whole tree in two statements, whatever its size, children sorted by name. With `q`, only the
    entities it matches are kept, with their ancestors; counts always cover the whole subtree."""
    rows = session.execute(select_entity_outline(q)).all()
    owned: dict[int, int] = {row[0]: row[1] for row in session.execute(select_application_counts())}
    nodes = {row.id: EntityNode(row.code, row.name, row.kind, matched=bool(row.matched)) for row in rows}
    parents = {row.id: row.parent_id for row in rows if row.parent_id in nodes}
    for entity_id, count in owned.items():
        current: int | None = entity_id
        seen: set[int] = set()
        while current is not None and current in nodes and current not in seen:  # a cycle cannot loop forever
            seen.add(current)
            nodes[current].applications += count
            current = parents.get(current)
    kept = set(nodes)
    if q:
        kept = {entity_id for entity_id in nodes if nodes[entity_id].matched}
        for entity_id in list(kept):
            current = parents.get(entity_id)
            while current is not None and current not in kept:
                kept.add(current)
                current = parents.get(current)
    roots: list[EntityNode] = []
    for entity_id in sorted(kept, key=lambda item: (fold(nodes[item].name), nodes[item].code)):
        node, parent_id = nodes[entity_id], parents.get(entity_id)
        if parent_id is None:
            roots.append(node)
        else:
            node.parent = nodes[parent_id]
            nodes[parent_id].children.append(node)
    matched = sum(1 for node in nodes.values() if node.matched) if q else len(nodes)
    return EntityTree(roots, {nodes[entity_id].code: nodes[entity_id] for entity_id in kept}, matched)
