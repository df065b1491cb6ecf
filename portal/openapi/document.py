"""The OpenAPI 3.1 document of `/api/v1`.

The document is built from the constants the endpoints themselves check (statuses, roles, sorts, field
names) and from the configured limits, so it cannot drift from what the API accepts. Tests validate real
responses against it and fail when a route under `/api/v1` is missing from it.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from portal.applications.api import DETAIL_FIELDS, SUMMARY_FIELDS
from portal.applications.models import APPLICATION_STATUSES, CRITICALITIES, TRIGRAM_PATTERN
from portal.applications.queries import SORTS
from portal.applications.search import SEARCHED_FIELDS
from portal.core.access import ROLE_NAMES, Scope
from portal.entities.api import ENTITY_FIELDS
from portal.entities.models import ENTITY_KINDS
from portal.environments.models import COMPONENT_KINDS, ENVIRONMENT_KINDS, ENVIRONMENT_STATUSES
from portal.interfaces.api import INTERFACE_FIELDS
from portal.people.api import PERSON_FIELDS
from portal.people.models import STAKEHOLDER_ROLES
from portal.search.api import MAX_LIMIT as GLOBAL_SEARCH_MAX_LIMIT

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
# `/api/v1/search` answers this many hits per type when `limit` is absent.
GLOBAL_SEARCH_DEFAULT_LIMIT = 10
# `PageRequest.from_args` refuses pages beyond this one.
MAX_PAGE = 1_000_000
# `ApplicationFilters.from_args` refuses a longer `trigram` filter.
TRIGRAM_MAX_LENGTH = 7

API_DESCRIPTION = """\
Read-only JSON API of the application referential.

- Authenticate with an API token: `Authorization: Bearer ref_...` (create one on the portal's
  "My API tokens" page, or with `flask tokens create` for automation). A browser signed in to the
  portal may also call the API with its session cookie. A missing, unknown, expired or revoked token
  answers 401 with `WWW-Authenticate`; a role or scope that does not allow the call answers 403.

- Parameter names are case-insensitive: `Trigram=Bca` and `trigram=Bca` mean the same.
- Lists answer an envelope `{count, count_is_estimate, page, page_size, next, previous, results}`;
  `next` and `previous` keep every other parameter. A page past the end answers empty `results`, not an error.
  A very large `count` may be an estimate, flagged by `count_is_estimate`.
- `fields=a,b` keeps only those members of each result (of the object, on detail endpoints).
- Every `/api/v1` answer carries an `ETag`; send it back in `If-None-Match` to get `304 Not Modified`.
- Errors are `application/problem+json` (RFC 9457) with a `detail` that says what to change; some carry
  `allowed` (the accepted values), `suggestions` (close trigrams) or `maximum` (a limit).
"""


# --- Schema helpers -----------------------------------------------------------------------------------------


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def string(description: str | None = None, **keywords: Any) -> dict[str, Any]:
    return _described({"type": "string", **keywords}, description)


def integer(description: str | None = None, **keywords: Any) -> dict[str, Any]:
    return _described({"type": "integer", **keywords}, description)


def boolean(description: str | None = None) -> dict[str, Any]:
    return _described({"type": "boolean"}, description)


def enum(values: tuple[str, ...], description: str | None = None) -> dict[str, Any]:
    return _described({"type": "string", "enum": list(values)}, description)


def array(items: dict[str, Any], description: str | None = None, **keywords: Any) -> dict[str, Any]:
    return _described({"type": "array", "items": items, **keywords}, description)


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` or null: `type: [..., "null"]` for plain types, `anyOf` for a `$ref`."""
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    result = dict(schema)
    result["type"] = [schema["type"], "null"]
    if "enum" in schema:
        # `enum` is checked on its own, whatever `type` says, so null must be one of its values too.
        result["enum"] = [*schema["enum"], None]
    return result


def closed_object(
    properties: dict[str, dict[str, Any]], description: str | None = None, optional: tuple[str, ...] = ()
) -> dict[str, Any]:
    """An object with exactly these members, all required except `optional`."""
    return _described(
        {
            "type": "object",
            "properties": properties,
            "required": [name for name in properties if name not in optional],
            "additionalProperties": False,
        },
        description,
    )


def _described(schema: dict[str, Any], description: str | None) -> dict[str, Any]:
    return {**schema, "description": description} if description else schema


TRIGRAM = string("Business key: 3 letters, then up to 4 letters or digits.", pattern=TRIGRAM_PATTERN.pattern)
TIMESTAMP = string("RFC 3339 date and time.", format="date-time")
DATE = nullable(string(format="date"))
API_URL = string("Absolute URL of this object in the API.", format="uri")


# --- Component schemas --------------------------------------------------------------------------------------


def reference_schemas() -> dict[str, dict[str, Any]]:
    """The small `{key, name}` objects that point from one object to another."""
    return {
        "EntityReference": closed_object({"code": string(), "name": string()}, "An entity, by code and name."),
        "PersonReference": closed_object({"login": string(), "name": string()}, "A person, by login and name."),
        "ApplicationReference": closed_object({"trigram": TRIGRAM, "name": string()}, "An application."),
    }


def application_summary_properties() -> dict[str, dict[str, Any]]:
    return {
        "trigram": TRIGRAM,
        "name": string(),
        "status": enum(APPLICATION_STATUSES),
        "criticality": nullable(enum(CRITICALITIES)),
        "entity": nullable(ref("EntityReference")),
        "owner": nullable(ref("PersonReference")),
        "updated_at": TIMESTAMP,
        "url": API_URL,
        "score": nullable({"type": "number", "description": "Relevance when `q` is given, null otherwise."}),
        "matches": array(ref("Match"), "Why the application matched `q` (empty without `q`)."),
    }


def application_schemas() -> dict[str, dict[str, Any]]:
    summary = application_summary_properties()
    hit = {name: schema for name, schema in summary.items() if name != "score"}
    interface_fields = {
        "protocol": string(),
        "frequency": nullable(string()),
        "middleware": nullable(string()),
        "description": nullable(string()),
    }
    stakeholders = {role: array(ref("Stakeholder"), minItems=1) for role in STAKEHOLDER_ROLES}
    return {
        "Match": closed_object(
            {"field": enum(SEARCHED_FIELDS), "highlight": string("HTML fragment with the matched text in <mark>.")},
            "One field of the application that matched the query.",
        ),
        "ApplicationSummary": closed_object(summary, "An application in a list. `fields=` narrows it."),
        "ApplicationHit": closed_object(hit, "An application found by the global search."),
        "Stakeholder": closed_object({"login": string(), "name": string(), "email": nullable(string())}),
        "Component": closed_object(
            {"kind": enum(COMPONENT_KINDS), "name": string(), "attributes": {"type": "object"}},
            "A server, database, namespace, URL or queue of an environment; `attributes` are free details.",
        ),
        "Environment": closed_object(
            {
                "kind": enum(ENVIRONMENT_KINDS),
                "name": string(),
                "url": nullable(string()),
                "status": nullable(enum(ENVIRONMENT_STATUSES)),
                "components": array(ref("Component")),
            }
        ),
        "OutgoingInterface": closed_object({"target": ref("ApplicationReference"), **interface_fields}),
        "IncomingInterface": closed_object({"source": ref("ApplicationReference"), **interface_fields}),
        "ApplicationDetail": closed_object(
            {
                "trigram": TRIGRAM,
                "name": string(),
                "description": nullable(string()),
                "status": enum(APPLICATION_STATUSES),
                "criticality": nullable(enum(CRITICALITIES)),
                "lifecycle": closed_object({"go_live": DATE, "end_of_support": DATE, "decommission": DATE}),
                "entity": nullable(
                    closed_object(
                        {
                            "code": string(),
                            "name": string(),
                            "kind": enum(ENTITY_KINDS),
                            "path": array(ref("EntityReference"), "Ancestors of the entity, from the root."),
                        }
                    )
                ),
                "tags": array(string()),
                "documentation_url": nullable(string()),
                "repository_url": nullable(string()),
                "stakeholders": closed_object(
                    stakeholders, "People by role; a role nobody holds is absent.", optional=STAKEHOLDER_ROLES
                ),
                "environments": array(ref("Environment")),
                "interfaces": closed_object(
                    {"outgoing": array(ref("OutgoingInterface")), "incoming": array(ref("IncomingInterface"))}
                ),
                "created_at": TIMESTAMP,
                "updated_at": TIMESTAMP,
                "url": API_URL,
            },
            "Everything known about one application. `fields=` narrows it.",
        ),
    }


def entity_schemas() -> dict[str, dict[str, Any]]:
    entity = {
        "code": string(),
        "name": string(),
        "kind": enum(ENTITY_KINDS),
        "parent": nullable(string("Code of the parent entity.")),
    }
    return {
        "Entity": closed_object(entity, "An organisation unit. `fields=` narrows it."),
        "SubtreeEntity": closed_object({**entity, "depth": integer("1 for children, 2 below them...", minimum=1)}),
        "EntityDetail": closed_object(
            {
                **entity,
                "ancestors": array(ref("EntityReference"), "From the root down to the parent."),
                "subtree": array(ref("SubtreeEntity"), "Every entity below, depth first."),
            }
        ),
    }


def person_schemas() -> dict[str, dict[str, Any]]:
    person = {
        "login": string(),
        "name": string(),
        "email": nullable(string()),
        "entity": nullable(ref("EntityReference")),
    }
    application = closed_object({"trigram": TRIGRAM, "name": string(), "status": enum(APPLICATION_STATUSES)})
    return {
        "Person": closed_object(person, "Someone holding roles on applications. `fields=` narrows it."),
        "Role": closed_object(
            {"role": enum(STAKEHOLDER_ROLES), "application": application, "entity": nullable(ref("EntityReference"))},
            "A role held on an application; `entity` owns the application.",
        ),
        "PersonDetail": closed_object({**person, "roles": array(ref("Role"))}),
    }


def interface_schemas() -> dict[str, dict[str, Any]]:
    return {
        "Interface": closed_object(
            {
                "source": ref("ApplicationReference"),
                "target": ref("ApplicationReference"),
                "protocol": string(),
                "frequency": nullable(string()),
                "middleware": nullable(string()),
                "description": nullable(string()),
            },
            "A flow from one application to another. `fields=` narrows it.",
        )
    }


def search_group(item: dict[str, Any]) -> dict[str, Any]:
    return closed_object({"count": integer(minimum=0), "count_is_estimate": boolean(), "results": array(item)})


def global_search_schema() -> dict[str, Any]:
    return closed_object(
        {
            "q": string("The query, trimmed."),
            "applications": search_group(ref("ApplicationHit")),
            "people": search_group(closed_object({"login": string(), "name": string(), "email": nullable(string())})),
            "entities": search_group(closed_object({"code": string(), "name": string(), "kind": enum(ENTITY_KINDS)})),
            "components": search_group(
                closed_object(
                    {
                        "name": string(),
                        "kind": enum(COMPONENT_KINDS),
                        "environment": enum(ENVIRONMENT_KINDS),
                        "application": TRIGRAM,
                    }
                )
            ),
        },
        "Up to `limit` hits of each type, each group with its total.",
    )


def page_schema(item: str, max_page_size: int) -> dict[str, Any]:
    """The list envelope around results of type `item`."""
    return closed_object(
        {
            "count": integer("How many results in all pages.", minimum=0),
            "count_is_estimate": boolean("True when `count` is an estimate of a very large result."),
            "page": integer(minimum=1, maximum=MAX_PAGE),
            "page_size": integer(minimum=1, maximum=max_page_size),
            "next": nullable(string("The next page, with the same parameters.", format="uri")),
            "previous": nullable(string("The previous page, with the same parameters.", format="uri")),
            "results": array(ref(item)),
        },
        f"A page of {item} results.",
    )


def problem_schema() -> dict[str, Any]:
    return closed_object(
        {
            "type": string(format="uri-reference"),
            "title": string(),
            "status": integer(minimum=400, maximum=599),
            "detail": string("What went wrong and how to fix the request."),
            "instance": string("The path of the request."),
            "allowed": array(string(), "The accepted values or parameters."),
            "suggestions": array(TRIGRAM, "Existing trigrams close to the one asked for."),
            "maximum": integer("The limit that was exceeded."),
        },
        "An RFC 9457 problem document.",
        optional=("allowed", "suggestions", "maximum"),
    )


def operations_schemas() -> dict[str, dict[str, Any]]:
    return {
        "Health": closed_object({"status": enum(("ok",))}),
        "Readiness": closed_object(
            {
                "status": enum(("ok", "unavailable")),
                "database": enum(("reachable", "unreachable")),
                "migration": nullable(string("The schema's current migration.")),
                "expected": nullable(string("The migration the code needs.")),
                "detail": string("Why the database could not be reached."),
            },
            optional=("migration", "expected", "detail"),
        ),
        "Me": closed_object(
            {
                "login": string(),
                "display_name": string(),
                "email": nullable(string()),
                "role": enum(ROLE_NAMES),
                "authenticated_by": enum(("token", "session")),
                "token": nullable(
                    closed_object(
                        {
                            "prefix": string("The token's public prefix (its secret is never shown again)."),
                            "name": string(),
                            "scopes": array(enum(tuple(scope.value for scope in Scope))),
                            "expires_at": nullable(string(format="date-time")),
                        }
                    )
                ),
            }
        ),
        "OpenApiDocument": {
            "type": "object",
            "required": ["openapi", "info", "paths"],
            "properties": {"openapi": string(pattern=r"^3\.1\.\d+$")},
        },
    }


def component_schemas(max_page_size: int) -> dict[str, dict[str, Any]]:
    schemas = {
        **reference_schemas(),
        **application_schemas(),
        **entity_schemas(),
        **person_schemas(),
        **interface_schemas(),
        "GlobalSearch": global_search_schema(),
        "Problem": problem_schema(),
        **operations_schemas(),
    }
    for item in ("ApplicationSummary", "Entity", "Person", "Interface"):
        schemas[f"{item}Page"] = page_schema(item, max_page_size)
    return schemas


# --- Parameters and responses -------------------------------------------------------------------------------


def query(
    name: str, schema: dict[str, Any], description: str, example: Any = None, required: bool = False
) -> dict[str, Any]:
    parameter: dict[str, Any] = {"name": name, "in": "query", "description": description, "schema": schema}
    if required:
        parameter["required"] = True
    if schema.get("type") == "array":
        # Repeated (`status=a&status=b`); commas inside one value also separate values.
        parameter.update(style="form", explode=True)
    if example is not None:
        parameter["example"] = example
    return parameter


def path(name: str, description: str, example: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": string(),
        "example": example,
    }


def choices(name: str, values: tuple[str, ...], what: str) -> dict[str, Any]:
    return query(
        name,
        array(enum(values)),
        f"Keep {what}. Repeat the parameter or separate values with commas; values are case-insensitive.",
    )


def fields_parameter(available: tuple[str, ...]) -> dict[str, Any]:
    parameter = query(
        "fields",
        array(enum(available)),
        "Comma-separated members to keep in each result; all of them when absent.",
    )
    parameter.update(style="form", explode=False)
    return parameter


def shared_ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/parameters/{name}"}


def shared_parameters(default_page_size: int, max_page_size: int) -> dict[str, dict[str, Any]]:
    return {
        "Page": query("page", integer(minimum=1, maximum=MAX_PAGE, default=1), "Page number, from 1."),
        "PageSize": query(
            "page_size",
            integer(minimum=1, maximum=max_page_size, default=default_page_size),
            f"Results per page, at most {max_page_size}.",
        ),
        "IfNoneMatch": {
            "name": "If-None-Match",
            "in": "header",
            "description": "An ETag from an earlier answer: `304 Not Modified` when nothing changed.",
            "schema": string(),
        },
    }


def ok(schema_name: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
        "content": {JSON: {"schema": ref(schema_name)}},
    }


def problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": ref("Problem")}}}


NOT_MODIFIED = {"$ref": "#/components/responses/NotModified"}
UNEXPECTED = {"$ref": "#/components/responses/UnexpectedError"}
BAD_QUERY = (
    "A parameter is wrong: unknown parameter or value, a number out of range, a query that is too long, "
    "text that is not UTF-8 or holds control characters. `detail` says which; `allowed` lists accepted values."
)


SIGN_IN_RESPONSES = {
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "403": {"$ref": "#/components/responses/Forbidden"},
    "429": {"$ref": "#/components/responses/TooManyBadTokens"},
}


def operation(
    operation_id: str,
    tag: str,
    summary: str,
    description: str,
    parameters: list[dict[str, Any]],
    responses: dict[str, dict[str, Any]],
    public: bool = False,
) -> dict[str, Any]:
    """One operation; unless `public`, it needs a token or a session and may answer 401, 403 or 429."""
    described = {
        "operationId": operation_id,
        "tags": [tag],
        "summary": summary,
        "description": description,
        "parameters": parameters,
        "responses": responses if public else {**responses, **SIGN_IN_RESPONSES},
    }
    if public:
        described["security"] = []
    return described


def list_operation(
    operation_id: str,
    tag: str,
    summary: str,
    description: str,
    filters: list[dict[str, Any]],
    item: str,
    fields: tuple[str, ...],
) -> dict[str, Any]:
    parameters = [
        *filters,
        shared_ref("Page"),
        shared_ref("PageSize"),
        fields_parameter(fields),
        shared_ref("IfNoneMatch"),
    ]
    responses = {
        "200": ok(f"{item}Page", f"A page of {item} results."),
        "304": NOT_MODIFIED,
        "400": problem(BAD_QUERY),
        "default": UNEXPECTED,
    }
    return {"get": operation(operation_id, tag, summary, description, parameters, responses)}


def application_filters(max_query_length: int) -> list[dict[str, Any]]:
    return [
        query(
            "q",
            string(maxLength=max_query_length),
            "Search text: a trigram, words of a name or description, a person, a hostname or URL, an entity. "
            "An exact trigram always ranks first.",
        ),
        query(
            "trigram",
            string(maxLength=TRIGRAM_MAX_LENGTH),
            "Trigrams starting with this, any case (`Bca` finds BCA and BCA2).",
            "BCA",
        ),
        choices("status", APPLICATION_STATUSES, "applications in one of these lifecycle statuses"),
        query("entity", string(), "Entity code; applications of this entity and of every entity below it."),
        choices("environment", ENVIRONMENT_KINDS, "applications having an environment of one of these kinds"),
        query("person", string(), "Login of a stakeholder (combined with `role` when both are given)."),
        choices("role", STAKEHOLDER_ROLES, "applications where someone (or `person`) holds one of these roles"),
        query(
            "sort",
            enum(SORTS),
            "Order of the results; a leading `-` reverses it. Default: `relevance` with `q`, `trigram` without.",
        ),
    ]


def application_paths(max_query_length: int) -> dict[str, dict[str, Any]]:
    filters = application_filters(max_query_length)
    return {
        "/api/v1/applications/search": list_operation(
            "searchApplications",
            "Applications",
            "Search applications",
            "Ranked search combined with filters. Kept unchanged for the scripts of the previous system: "
            "`/api/v1/applications/search?Trigram=Bca&page_size=50&page=1` works as written.",
            filters,
            "ApplicationSummary",
            SUMMARY_FIELDS,
        ),
        "/api/v1/applications": list_operation(
            "listApplications",
            "Applications",
            "List applications",
            "The same filters as the search, sorted by trigram unless `sort` (or `q`) says otherwise.",
            filters,
            "ApplicationSummary",
            SUMMARY_FIELDS,
        ),
        "/api/v1/applications/{trigram}": {
            "get": operation(
                "getApplication",
                "Applications",
                "One application",
                "Identity, lifecycle, entity with its path, stakeholders by role, environments with their "
                "components, interfaces in and out. An unknown trigram answers 404 with close trigrams "
                "in `suggestions`.",
                [
                    path("trigram", "The application's trigram, any case.", "BCA"),
                    fields_parameter(DETAIL_FIELDS),
                    shared_ref("IfNoneMatch"),
                ],
                {
                    "200": ok("ApplicationDetail", "The application."),
                    "304": NOT_MODIFIED,
                    "400": problem("Unknown parameter or unknown field in `fields`, or text that is not valid."),
                    "404": problem("No application has this trigram; `suggestions` lists close ones."),
                    "default": UNEXPECTED,
                },
            )
        },
    }


def directory_paths(max_query_length: int) -> dict[str, dict[str, Any]]:
    """Entities, people and interfaces: plain filtered lists and details."""
    text_query = string(maxLength=max_query_length)
    return {
        "/api/v1/entities": list_operation(
            "listEntities",
            "Entities",
            "List entities",
            "Organisation units, by code.",
            [
                query("q", text_query, "Part of the code or the name, any case."),
                choices("kind", ENTITY_KINDS, "entities of these levels"),
                query("parent", string(), "Code of the direct parent.", "DSI"),
            ],
            "Entity",
            ENTITY_FIELDS,
        ),
        "/api/v1/entities/{code}": {
            "get": operation(
                "getEntity",
                "Entities",
                "One entity",
                "The entity, its ancestors from the root, and its whole subtree with each node's depth.",
                [path("code", "The entity's code, any case.", "DSI-PAY"), shared_ref("IfNoneMatch")],
                {
                    "200": ok("EntityDetail", "The entity."),
                    "304": NOT_MODIFIED,
                    "404": problem("No entity has this code."),
                    "default": UNEXPECTED,
                },
            )
        },
        "/api/v1/people": list_operation(
            "listPeople",
            "People",
            "List people",
            "People, by name.",
            [
                query("q", text_query, "Part of the name, login or email; ignores case and accents.", "dupont"),
                query("entity", string(), "Entity code; people of this entity and of every entity below it."),
                choices("role", STAKEHOLDER_ROLES, "people holding one of these roles on at least one application"),
            ],
            "Person",
            PERSON_FIELDS,
        ),
        "/api/v1/people/{login}": {
            "get": operation(
                "getPerson",
                "People",
                "One person",
                "The person and every role they hold, with the application it is held on.",
                [path("login", "The person's login, any case.", "jdupont"), shared_ref("IfNoneMatch")],
                {
                    "200": ok("PersonDetail", "The person."),
                    "304": NOT_MODIFIED,
                    "404": problem("No person has this login."),
                    "default": UNEXPECTED,
                },
            )
        },
        "/api/v1/interfaces": list_operation(
            "listInterfaces",
            "Interfaces",
            "List interfaces",
            "Flows between applications, by source then target trigram.",
            [
                query("application", string(), "Trigram at either end, any case.", "BCA"),
                query("source", string(), "Trigram of the sending application, any case."),
                query("target", string(), "Trigram of the receiving application, any case."),
                query("protocol", string(), "Protocol, exactly, any case (`SFTP`)."),
                query("middleware", string(), "Middleware, exactly, any case."),
            ],
            "Interface",
            INTERFACE_FIELDS,
        ),
    }


def search_paths(max_query_length: int) -> dict[str, dict[str, Any]]:
    return {
        "/api/v1/search": {
            "get": operation(
                "searchEverything",
                "Search",
                "Search everything",
                "One query, answers grouped by type: applications (ranked), people, entities, components.",
                [
                    query("q", string(minLength=1, maxLength=max_query_length), "The text to search for.", "bca", True),
                    query(
                        "limit",
                        integer(minimum=1, maximum=GLOBAL_SEARCH_MAX_LIMIT, default=GLOBAL_SEARCH_DEFAULT_LIMIT),
                        "Hits per type.",
                    ),
                    shared_ref("IfNoneMatch"),
                ],
                {
                    "200": ok("GlobalSearch", "The hits, grouped by type."),
                    "304": NOT_MODIFIED,
                    "400": problem("`q` missing or too long, `limit` out of range, or an unknown parameter."),
                    "default": UNEXPECTED,
                },
            )
        }
    }


def operations_paths() -> dict[str, dict[str, Any]]:
    return {
        "/api/v1/me": {
            "get": operation(
                "getMe",
                "Operations",
                "Who am I",
                "The account behind this call, and the token's scopes when a token was used: "
                "the quickest way for a script to check its token.",
                [shared_ref("IfNoneMatch")],
                {"200": ok("Me", "The caller."), "304": NOT_MODIFIED},
            )
        },
        "/api/v1/openapi.json": {
            "get": operation(
                "getOpenApiDocument",
                "Operations",
                "This document",
                "The OpenAPI 3.1 description of the API; `/api/docs` shows it as a page.",
                [shared_ref("IfNoneMatch")],
                {"200": ok("OpenApiDocument", "The document."), "304": NOT_MODIFIED},
            )
        },
        "/healthz": {
            "get": operation(
                "getHealth",
                "Operations",
                "Liveness probe",
                "The process answers; does not touch the database.",
                [],
                {"200": {"description": "Alive.", "content": {JSON: {"schema": ref("Health")}}}},
                public=True,
            )
        },
        "/readyz": {
            "get": operation(
                "getReadiness",
                "Operations",
                "Readiness probe",
                "Ready when the database answers and its schema is at the latest migration.",
                [],
                {
                    "200": {"description": "Ready.", "content": {JSON: {"schema": ref("Readiness")}}},
                    "503": {
                        "description": "Database unreachable or schema not at the latest migration.",
                        "content": {JSON: {"schema": ref("Readiness")}},
                    },
                },
                public=True,
            )
        },
    }


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API, with the limits of the running configuration."""
    config = current_app.config
    max_page_size = config["API_MAX_PAGE_SIZE"]
    max_query_length = config["SEARCH_MAX_QUERY_LENGTH"]
    return {
        "openapi": "3.1.0",
        "info": {"title": "Referentiel API", "version": "1", "description": API_DESCRIPTION},
        "tags": [
            {"name": "Applications", "description": "Applications, by trigram."},
            {"name": "Entities", "description": "The organisation tree."},
            {"name": "People", "description": "People and their roles."},
            {"name": "Interfaces", "description": "Flows between applications."},
            {"name": "Search", "description": "One query across every type."},
            {"name": "Operations", "description": "This document and the orchestrator's probes."},
        ],
        "security": [{"bearerToken": []}, {"sessionCookie": []}],
        "paths": {
            **application_paths(max_query_length),
            **directory_paths(max_query_length),
            **search_paths(max_query_length),
            **operations_paths(),
        },
        "components": {
            "schemas": component_schemas(max_page_size),
            "parameters": shared_parameters(config["API_DEFAULT_PAGE_SIZE"], max_page_size),
            "headers": {
                "ETag": {"description": "Identifies this answer; send it in `If-None-Match`.", "schema": string()}
            },
            "securitySchemes": {
                "bearerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token `ref_...` with the scope the operation needs (read for reads).",
                },
                "sessionCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "referentiel_session",
                    "description": "The portal's session after signing in (browsers).",
                },
            },
            "responses": {
                "Unauthorized": {
                    "description": "No valid credentials: the token is missing, malformed, unknown, expired or "
                    "revoked, or the session has ended.",
                    "headers": {"WWW-Authenticate": {"schema": string()}},
                    "content": {PROBLEM_JSON: {"schema": ref("Problem")}},
                },
                "Forbidden": problem("The caller's role, or the token's scopes, do not allow this operation."),
                "TooManyBadTokens": {
                    "description": "Too many invalid tokens from this address; wait `Retry-After` seconds.",
                    "headers": {"Retry-After": {"schema": integer()}},
                    "content": {PROBLEM_JSON: {"schema": ref("Problem")}},
                },
                "NotModified": {
                    "description": "The answer has not changed since the ETag in `If-None-Match`; no body.",
                    "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
                },
                "UnexpectedError": problem(
                    "Anything else: 405 for a method other than GET, 503 when the database is unreachable, "
                    "500 with a request id to quote."
                ),
            },
        },
    }
