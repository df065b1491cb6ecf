"""Portal pages for entities: the organisation tree, and one entity with its subtree's applications."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template, request

from portal.applications.listing import search_response
from portal.core.access import Role, requires
from portal.core.api import lowercase_args
from portal.core.htmx import is_partial
from portal.entities.queries import EntityFilters, get_entity_tree
from portal.extensions import db

bp = Blueprint("entities", __name__)


@bp.get("/entities")
@requires(Role.READER)
def list_() -> Response:
    """The whole tree, or with `?q=` only the entities whose code or name matches, with their ancestors."""
    filters = EntityFilters.from_args(lowercase_args(request.args), current_app.config["SEARCH_MAX_QUERY_LENGTH"])
    tree = get_entity_tree(db.session, filters.q)
    return current_app.make_response(render_template("entities/list.html", tree=tree, q=filters.q))


@bp.get("/entities/<code>")
@requires(Role.READER)
def detail(code: str) -> Response:
    """The entity, its sub-entities, and its subtree's applications searched as on the home page (htmx
    asks this same URL for the results region alone). An unknown code gets a 404 page with close ones."""
    tree = get_entity_tree(db.session)
    entity = tree.find(code)
    if entity is None:
        wanted = code.strip().upper()[:40]
        if is_partial():
            abort(404, f"No entity has the code {wanted}.")
        html = render_template("entities/not_found.html", code=wanted, suggestions=tree.similar(wanted))
        return current_app.make_response((html, 404))
    return search_response(
        db.session, "entities/detail.html", "entities.detail", {"entity": entity.code}, entity=entity
    )
