"""`/api/v1/entities`: the organisation tree."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request

from portal.core.access import Role, requires
from portal.core.api import (
    LIST_PARAMETERS,
    detail_fields,
    json_response,
    lowercase_args,
    paginated_json,
    pick,
    reject_unknown,
)
from portal.core.errors import ApiError
from portal.entities.models import Entity
from portal.entities.queries import EntityFilters, find_entity, get_ancestors, get_subtree, select_entities
from portal.extensions import db

bp = Blueprint("entities_api", __name__, url_prefix="/api/v1/entities")

ENTITY_FIELDS = ("code", "name", "kind", "parent")
ENTITY_DETAIL_FIELDS = (*ENTITY_FIELDS, "ancestors", "subtree")


def entity_json(entity: Entity) -> dict[str, Any]:
    return {
        "code": entity.code,
        "name": entity.name,
        "kind": entity.kind,
        "parent": entity.parent.code if entity.parent else None,
    }


@bp.get("")
@requires(Role.READER)
def list_() -> Response:
    args = lowercase_args(request.args)
    reject_unknown(args, (*EntityFilters.PARAMETERS, *LIST_PARAMETERS))
    statement = select_entities(EntityFilters.from_args(args, current_app.config["SEARCH_MAX_QUERY_LENGTH"]))
    return paginated_json(db.session, statement, args, entity_json, ENTITY_FIELDS)


@bp.get("/<code>")
@requires(Role.READER)
def detail(code: str) -> Response:
    """The entity, its ancestors from the root, and its whole subtree with each node's depth."""
    fields = detail_fields(ENTITY_DETAIL_FIELDS)
    entity = find_entity(db.session, code)
    if entity is None:
        raise ApiError(404, f"No entity has the code {code[:40]!r}.")
    body = entity_json(entity)
    body["ancestors"] = [{"code": item.code, "name": item.name} for item in get_ancestors(entity)]
    subtree = get_subtree(db.session, entity)
    codes = {entity.id: entity.code} | {child.id: child.code for child, _depth in subtree}
    body["subtree"] = [
        {
            "code": child.code,
            "name": child.name,
            "kind": child.kind,
            "parent": codes.get(child.parent_id or 0),
            "depth": depth,
        }
        for child, depth in subtree
    ]
    return json_response(pick(body, fields))
