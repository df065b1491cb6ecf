"""`/api/v1/applications`: search, list and detail. `applications/search` answers the old system's
scripts unchanged (`?Trigram=Bca&page_size=50&page=1`, parameter names in any case)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import Blueprint, Response, current_app, request, url_for

from portal.applications.models import Application
from portal.applications.queries import ApplicationFilters, find_application, select_interfaces_of, suggest_trigrams
from portal.applications.search import search_applications
from portal.core.access import Role, requires
from portal.core.api import (
    LIST_PARAMETERS,
    flag,
    json_body,
    json_body_response,
    json_response,
    list_envelope,
    lowercase_args,
    pick,
    reject_unknown,
    selected_fields,
)
from portal.core.cache import search_cache
from portal.core.errors import ApiError
from portal.core.pagination import PageRequest
from portal.entities.queries import get_ancestors
from portal.extensions import db
from portal.people.models import STAKEHOLDER_ROLES
from portal.sources.queries import get_provenance

bp = Blueprint("applications_api", __name__, url_prefix="/api/v1/applications")

SUMMARY_FIELDS = (
    "trigram",
    "name",
    "status",
    "criticality",
    "entity",
    "owner",
    "updated_at",
    "url",
    "score",
    "matches",
)
DETAIL_FIELDS = (
    "trigram",
    "name",
    "description",
    "status",
    "criticality",
    "lifecycle",
    "entity",
    "tags",
    "documentation_url",
    "repository_url",
    "stakeholders",
    "environments",
    "interfaces",
    "created_at",
    "updated_at",
    "url",
)


def _search_response() -> Response:
    args = lowercase_args(request.args)
    reject_unknown(args, (*ApplicationFilters.PARAMETERS, *LIST_PARAMETERS))
    filters = ApplicationFilters.from_args(args, current_app.config["SEARCH_MAX_QUERY_LENGTH"])
    page = PageRequest.from_args(args)
    fields = selected_fields(args, SUMMARY_FIELDS)
    # Answers hold absolute links, so the host asked for is part of what is cached.
    cache_key = search_cache.key(request.host_url + request.path, list(args.items(multi=True)))
    cached = search_cache.get(cache_key)
    if cached is not None:
        return json_body_response(cached, cache="hit")
    found = search_applications(db.session, filters, page, current_app.config["SEARCH_EXACT_COUNT_LIMIT"])
    results = []
    for summary in found.results:
        summary["url"] = url_for("applications_api.detail", trigram=summary["trigram"], _external=True)
        results.append(pick(summary, fields))
    body = json_body(list_envelope(results, found.count, found.count_is_estimate, page, args))
    search_cache.put(cache_key, body)
    return json_body_response(body, cache="miss" if search_cache.enabled else None)


@bp.get("/search")
@requires(Role.READER)
def search() -> Response:
    """Ranked search: `q` (trigram, name, person, hostname, URL, entity) combined with the filters."""
    return _search_response()


@bp.get("")
@requires(Role.READER)
def list_() -> Response:
    """The same filters as search; sorted by trigram unless `sort` (or `q`) says otherwise."""
    return _search_response()


@bp.get("/<trigram>")
@requires(Role.READER)
def detail(trigram: str) -> Response:
    """Everything known about one application. Unknown trigram: 404 with close trigrams as suggestions."""
    args = lowercase_args(request.args)
    reject_unknown(args, ("fields", "provenance"))
    fields = selected_fields(args, (*DETAIL_FIELDS, "provenance"))
    # Asking for the provenance field asks for the provenance.
    with_provenance = flag(args, "provenance") or (fields is not None and "provenance" in fields)
    application = find_application(db.session, trigram)
    if application is None:
        suggestions = suggest_trigrams(db.session, trigram)
        hint = f" Did you mean {', '.join(suggestions)}?" if suggestions else ""
        raise ApiError(404, f"No application has the trigram {trigram[:16]!r}.{hint}", suggestions=suggestions)
    body = application_json(application)
    if with_provenance:
        # Per field: the winning source, the run that last changed its statement, when it last confirmed it.
        provenance = get_provenance(db.session, "application", application.trigram)
        body["provenance"] = {field: found.as_dict() for field, found in provenance.items()}
    return json_response(pick(body, fields))


def application_json(application: Application) -> dict[str, Any]:
    stakeholders: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for link in sorted(application.stakeholders, key=lambda item: (STAKEHOLDER_ROLES.index(item.role), item.id)):
        person = link.person
        stakeholders[link.role].append({"login": person.login, "name": person.display_name, "email": person.email})
    entity = application.entity
    interfaces: dict[str, list[dict[str, Any]]] = {"outgoing": [], "incoming": []}
    for interface in db.session.scalars(select_interfaces_of(application.id)):
        outgoing = interface.source_application_id == application.id
        other = interface.target if outgoing else interface.source
        interfaces["outgoing" if outgoing else "incoming"].append(
            {
                "target" if outgoing else "source": {"trigram": other.trigram, "name": other.name},
                "protocol": interface.protocol,
                "frequency": interface.frequency,
                "middleware": interface.middleware,
                "description": interface.description,
            }
        )
    return {
        "trigram": application.trigram,
        "name": application.name,
        "description": application.description,
        "status": application.status,
        "criticality": application.criticality,
        "lifecycle": {
            "go_live": _iso(application.go_live_date),
            "end_of_support": _iso(application.end_of_support_date),
            "decommission": _iso(application.decommission_date),
        },
        "entity": {
            "code": entity.code,
            "name": entity.name,
            "kind": entity.kind,
            "path": [{"code": item.code, "name": item.name} for item in get_ancestors(entity)],
        }
        if entity
        else None,
        "tags": application.tag_list,
        "documentation_url": application.documentation_url,
        "repository_url": application.repository_url,
        "stakeholders": {role: stakeholders[role] for role in STAKEHOLDER_ROLES if role in stakeholders},
        "environments": [
            {
                "kind": environment.kind,
                "name": environment.name,
                "url": environment.url,
                "status": environment.status,
                "components": [
                    {"kind": component.kind, "name": component.name, "attributes": component.attributes or {}}
                    for component in environment.components
                ],
            }
            for environment in application.environments
        ],
        "interfaces": interfaces,
        "created_at": application.created_at.isoformat(),
        "updated_at": application.updated_at.isoformat(),
        "url": url_for("applications_api.detail", trigram=application.trigram, _external=True),
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None
