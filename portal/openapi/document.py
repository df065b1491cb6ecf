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
from portal.changes.api import FIELDS as CHANGE_FIELDS
from portal.changes.models import OPERATIONS
from portal.conflicts.api import FIELDS as CONFLICT_FIELDS
from portal.conflicts.models import CONFLICT_STATUSES, RESOLUTIONS
from portal.core.access import ROLE_NAMES, Role, Scope
from portal.entities.api import ENTITY_DETAIL_FIELDS, ENTITY_FIELDS
from portal.entities.models import ENTITY_KINDS
from portal.environments.models import COMPONENT_KINDS, ENVIRONMENT_KINDS, ENVIRONMENT_STATUSES
from portal.imports.api import RUN_FIELDS
from portal.imports.models import ROW_ACTIONS, RUN_KINDS, RUN_MODES, RUN_STATUSES
from portal.imports.push import MAX_NESTING, NDJSON_TYPES
from portal.imports.schema import OBJECT_TYPES, SHEET_ORDER, Field, ObjectType, day, details, tags
from portal.interfaces.api import INTERFACE_FIELDS
from portal.people.api import PERSON_DETAIL_FIELDS, PERSON_FIELDS
from portal.people.models import STAKEHOLDER_ROLES
from portal.search.api import DEFAULT_LIMIT as GLOBAL_SEARCH_DEFAULT_LIMIT
from portal.search.api import MAX_LIMIT as GLOBAL_SEARCH_MAX_LIMIT
from portal.sources.forms import MAX_PRECEDENCE
from portal.sources.models import SOURCE_KINDS, SOURCE_NAME_PATTERN

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
# `PageRequest.from_args` refuses pages beyond this one.
MAX_PAGE = 1_000_000
# `ApplicationFilters.from_args` refuses a longer `trigram` filter.
TRIGRAM_MAX_LENGTH = 7
# What the input checks let through (`core/inputs.py`, on the query string and the path): no character of category Cc.
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f-\x9f]*$"
# `imports.api.push` refuses a longer `Idempotency-Key`.
IDEMPOTENCY_KEY_MAX_LENGTH = 200
# A key field a pushed record may leave out, and the field that names the object then:
# `Statement.normalize` names an environment after its kind.
KEY_FALLBACKS = {"environment": ("name", "kind")}

API_DESCRIPTION = """\
JSON API of the application referential: reads for scripts, and the push API through which NiFi and
other sources send records.

- Authenticate with an API token: `Authorization: Bearer ref_...` (create one on the portal's
  "My API tokens" page, or with `flask tokens create` for automation). A browser signed in to the
  portal may also call the API with its session cookie (and must send its `X-CSRF-Token` on a POST).
  A missing, unknown, expired or revoked token answers 401 with `WWW-Authenticate`; a role or scope
  that does not allow the call answers 403.
- Reads need the reader role and a token with the `read` (or `write`) scope. Pushes need the steward
  role and a token with the `ingest` scope, which opens nothing else; an operation that needs more than
  a reader says so, in its description and in `x-required-role`.

- Parameter names are case-insensitive: `Trigram=Bca` and `trigram=Bca` mean the same. An empty value
  (`status=`) is the same as leaving the parameter out. A parameter or path holding control characters is
  refused (400).
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
    """`schema` or null: `type: [..., "null"]` for plain types, `anyOf` for a `$ref` or an `anyOf`."""
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    if "anyOf" in schema:
        return {**schema, "anyOf": [*schema["anyOf"], {"type": "null"}]}
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


# Lists the members an answer without `fields=` always holds, on objects whose members `fields=` selects.
UNLESS_FIELDS = "x-required-unless-fields"


def selectable_object(
    properties: dict[str, dict[str, Any]], description: str, optional: tuple[str, ...] = ()
) -> dict[str, Any]:
    """An object whose members `fields=` selects: without `fields` it holds every member except `optional`,
    with it only the members named. No member is `required`, since `fields` may leave any of them out;
    `x-required-unless-fields` names those an answer without `fields` holds (the docs page and tests read it)."""
    return {
        "type": "object",
        "description": description + " `fields=` keeps only the members it names; without it, every member is "
        "there" + (f" (except {', '.join(f'`{name}`' for name in optional)}, on request)." if optional else "."),
        "properties": properties,
        "minProperties": 1,
        "additionalProperties": False,
        UNLESS_FIELDS: [name for name in properties if name not in optional],
    }


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
        "ApplicationSummary": selectable_object(summary, "An application in a list."),
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
        "ApplicationDetail": selectable_object(
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
                "provenance": {
                    "type": "object",
                    "description": "With `provenance=true` only: for each field a source states, where its value "
                    "comes from. A field no source states (entered before sources existed) is absent.",
                    "propertyNames": enum(tuple(column.name for column in OBJECT_TYPES["application"].own_fields)),
                    "additionalProperties": ref("FieldProvenance"),
                },
            },
            "Everything known about one application.",
            optional=("provenance",),
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
        "Entity": selectable_object(entity, "An organisation unit."),
        "SubtreeEntity": closed_object({**entity, "depth": integer("1 for children, 2 below them...", minimum=1)}),
        "EntityDetail": selectable_object(
            {
                **entity,
                "ancestors": array(ref("EntityReference"), "From the root down to the parent."),
                "subtree": array(ref("SubtreeEntity"), "Every entity below, depth first."),
            },
            "An organisation unit with its ancestors and its subtree.",
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
        "Person": selectable_object(person, "Someone holding roles on applications."),
        "Role": closed_object(
            {"role": enum(STAKEHOLDER_ROLES), "application": application, "entity": nullable(ref("EntityReference"))},
            "A role held on an application; `entity` owns the application.",
        ),
        "PersonDetail": selectable_object(
            {**person, "roles": array(ref("Role"))}, "Someone, with every role they hold."
        ),
    }


def interface_schemas() -> dict[str, dict[str, Any]]:
    return {
        "Interface": selectable_object(
            {
                "source": ref("ApplicationReference"),
                "target": ref("ApplicationReference"),
                "protocol": string(),
                "frequency": nullable(string()),
                "middleware": nullable(string()),
                "description": nullable(string()),
            },
            "A flow from one application to another.",
        )
    }


NATURAL_KEY = string("The object's business key; the parts of a composite key are joined by `|` (`BCA|jdupont|owner`).")
# The object types in the order of the workbook's sheets.
OBJECT_TYPE = enum(SHEET_ORDER)


def source_schemas() -> dict[str, dict[str, Any]]:
    return {
        "Source": closed_object(
            {
                "name": string("Lowercase; it appears in the push URL.", pattern=SOURCE_NAME_PATTERN.pattern),
                "kind": enum(SOURCE_KINDS, "Workbooks, pushes (NiFi), a pulled REST API, or portal edits."),
                "description": nullable(string()),
                "precedence": integer(
                    "For every field, the source with the highest precedence that states a value wins.",
                    minimum=0,
                    maximum=MAX_PRECEDENCE,
                ),
                "field_precedence": {
                    "type": "object",
                    "description": "Overrides of `precedence` for single fields, keyed `<object type>.<field>` "
                    "(`application.status`).",
                    "additionalProperties": integer(minimum=0, maximum=MAX_PRECEDENCE),
                },
                "records": integer("Objects this source describes.", minimum=0),
                "missing": integer("Of those, the ones its last snapshot no longer mentioned.", minimum=0),
                "last_run_at": nullable(TIMESTAMP),
                "last_success_at": nullable(TIMESTAMP),
            },
            "A source of data and how fresh it is.",
        ),
        "SourceList": closed_object(
            {"count": integer(minimum=0), "results": array(ref("Source"), "By precedence, highest first.")},
            "Every source (a short list: not paginated).",
        ),
    }


def audit_schemas() -> dict[str, dict[str, Any]]:
    """Conflicts between sources, the audit log, and where a visible value comes from."""
    return {
        "ConflictCandidate": closed_object(
            {"source": string(), "value": string(), "precedence": integer("The source's precedence for the field.")},
            "What one source states.",
        ),
        "Conflict": selectable_object(
            {
                "id": integer(minimum=1),
                "object_type": OBJECT_TYPE,
                "key": NATURAL_KEY,
                "application": nullable(_described(TRIGRAM, "The application the object belongs to.")),
                "field": string(),
                "status": enum(CONFLICT_STATUSES),
                "candidates": array(ref("ConflictCandidate"), "Every source's value, the one shown first."),
                "opened_at": TIMESTAMP,
                "resolution": nullable(
                    closed_object(
                        {
                            "how": enum(
                                RESOLUTIONS,
                                "kept: the value shown stays; chose: a losing source's value was pinned; "
                                "pinned: a new manual value; agreed: the sources came to agree.",
                            ),
                            "value": nullable(string("The value settled on.")),
                            "by": nullable(string("Who resolved it: a login, or a token.")),
                            "at": nullable(TIMESTAMP),
                            "note": nullable(string()),
                        },
                        "How a steward (or the sources themselves) settled it; null while open.",
                    )
                ),
            },
            "Sources state different values for one field; the winner by precedence is shown meanwhile.",
        ),
        "Change": selectable_object(
            {
                "id": integer(minimum=1),
                "at": TIMESTAMP,
                "actor": string("A login, `token ref_... of <login>`, or `system`."),
                "source": nullable(string("The source whose statement made the change.")),
                "run": nullable(integer("The import run that made it.", minimum=1)),
                "object_type": OBJECT_TYPE,
                "key": NATURAL_KEY,
                "application": nullable(_described(TRIGRAM, "The application the object belongs to.")),
                "field": nullable(string("The field changed; null for a whole object (create, missing, present).")),
                "operation": enum(
                    OPERATIONS,
                    "create: a new object (`new` holds its fields as JSON); update: one field; missing / present: "
                    "a snapshot stopped (or started again) mentioning the object; resolve: a conflict was resolved.",
                ),
                "old": nullable(string()),
                "new": nullable(string()),
            },
            "One change to a visible value: the audit log is append-only.",
        ),
        "FieldProvenance": closed_object(
            {
                "source": string("The source whose value is shown (highest precedence)."),
                "run": nullable(integer("The import run that last changed this source's statement.", minimum=1)),
                "confirmed_at": _described(TIMESTAMP, "When the source last stated the object."),
                "missing_since": nullable(
                    _described(TIMESTAMP, "When a snapshot of the source stopped mentioning the object.")
                ),
            },
            "Where a visible value comes from.",
        ),
    }


def record_field_schema(object_type: ObjectType, column: Field) -> dict[str, Any]:
    """The JSON a field takes; how the field is read (`portal/imports/schema.py`) decides its type."""
    notes = [f"Workbook column {column.header}" + (f": {column.help}." if column.help else ".")]
    if column.choices:
        schema = enum(column.choices)
    elif column.parse is day:
        schema = string(format="date")
        notes.append("`dd/mm/yyyy` is read too.")
    elif column.parse is tags:
        schema = {"anyOf": [string("Comma-separated."), array(string())]}
    elif column.parse is details:
        schema = {
            "anyOf": [
                string("`key=value; key=value`."),
                {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
            ]
        }
    else:
        schema = string()
    if column.required and column.name not in {key.name for key in object_type.key}:
        notes.append(f"Needed to create the {object_type.name}.")
    return _described(schema, " ".join(notes))


def record_schema(object_type: ObjectType) -> dict[str, Any]:
    """One pushed record of `object_type`: its key fields required, every other field optional and nullable."""
    key_names = [column.name for column in object_type.key]
    properties = {"type": enum((object_type.name,))}
    for column in object_type.columns:
        field_schema = record_field_schema(object_type, column)
        properties[column.name] = field_schema if column.name in key_names else nullable(field_schema)
    fallback = KEY_FALLBACKS.get(object_type.name)
    schema: dict[str, Any] = {
        "type": "object",
        "description": f"One {object_type.name}, as a row of the {object_type.sheet} sheet. "
        "A field set to null withdraws this source's statement of it; a field left out keeps it.",
        "properties": properties,
        "required": ["type", *(name for name in key_names if not fallback or name != fallback[0])],
        "additionalProperties": False,
    }
    if fallback:
        name, other = fallback
        schema["anyOf"] = [{"required": [name]}, {"required": [other]}]
        schema["description"] += f" Without `{name}`, it is named after its `{other}`."
    return schema


def record_schema_name(object_type: str) -> str:
    return f"{object_type.title()}Record"


def import_schemas() -> dict[str, dict[str, Any]]:
    """Pushed records, the push API's answers, and import runs."""
    counts = closed_object(
        {action: integer(minimum=0) for action in (*ROW_ACTIONS, "missing")},
        "Records per action; `missing`: records of this source a snapshot no longer mentioned.",
    )
    records = {record_schema_name(name): record_schema(OBJECT_TYPES[name]) for name in SHEET_ORDER}
    return {
        "Record": {
            "description": "A record of a pushed batch: `type` says which object it describes, and the other "
            "members are the fields of that sheet of the workbook, under their snake_case names. Values are "
            "read as in a workbook: trigrams and enumerations in any case, enumerations also by their workbook "
            "labels (French ones included), dates also as `dd/mm/yyyy`.",
            "oneOf": [ref(name) for name in records],
            "discriminator": {
                "propertyName": "type",
                "mapping": {name: f"#/components/schemas/{record_schema_name(name)}" for name in SHEET_ORDER},
            },
        },
        **records,
        "RecordResult": closed_object(
            {
                "index": integer("Position of the record in the batch, from 0.", minimum=0),
                "type": string(
                    "The record's `type` as sent: one of the object types, or, for a record refused because its "
                    "type is unknown, what it said (`record` when it had none or was not an object)."
                ),
                "key": NATURAL_KEY,
                "action": enum(
                    ROW_ACTIONS,
                    "create, update, unchanged; conflict: another source states something else for a field "
                    "(see `conflicts`); error: refused (see `errors`).",
                ),
                "changes": {
                    "type": "object",
                    "description": "The visible values this record changed, by field.",
                    "additionalProperties": closed_object({"before": nullable(string()), "after": nullable(string())}),
                },
                "conflicts": {
                    "type": "object",
                    "description": "Fields on which sources disagree: every source's value, the one shown first.",
                    "additionalProperties": array(ref("ConflictCandidate")),
                },
                "errors": array(
                    closed_object(
                        {"field": string(), "value": nullable(string("The value sent, as text.")), "reason": string()}
                    ),
                    "Why the record was refused.",
                ),
            },
            "What became of one record of the batch.",
            optional=("changes", "conflicts", "errors"),
        ),
        "PushResult": closed_object(
            {
                "run": integer("The import run that applied the batch (`/api/v1/imports/{run_id}`).", minimum=1),
                "status": enum(("succeeded",)),
                "counts": counts,
                "changes_written": integer("Visible values changed (rows of the audit log).", minimum=0),
                "results": array(ref("RecordResult"), "One per record, in the order sent."),
            },
            "The batch was applied (with `partial=true`: its valid records).",
        ),
        "InvalidRecords": closed_object(
            {
                **problem_properties(),
                "results": array(ref("RecordResult"), "The refused records, each with its index and reasons."),
            },
            "A problem document: some records are invalid and nothing was applied; or the `Idempotency-Key` "
            "was used for another batch (then without `results`).",
            optional=("results",),
        ),
        "ImportRun": selectable_object(
            {
                "id": integer(minimum=1),
                "source": string(),
                "kind": enum(
                    RUN_KINDS,
                    "upload: a workbook; push: one pushed batch; snapshot: a snapshot spanning several "
                    "batches; sync: a pull from an API; edit, resolution: portal edits.",
                ),
                "mode": enum(RUN_MODES),
                "status": enum(
                    RUN_STATUSES,
                    "queued, running, ready (a dry run waiting to be applied), applying, then succeeded, "
                    "failed or cancelled. A snapshot stays `open` between its begin and commit calls.",
                ),
                "actor": string("A login, `token ref_... of <login>`, or `system`."),
                "created_at": TIMESTAMP,
                "finished_at": nullable(TIMESTAMP),
                "filename": nullable(string("The uploaded workbook's name.")),
                "phase": nullable(string("What a running run is doing.")),
                "progress": closed_object({"done": integer(minimum=0), "total": integer(minimum=0)}),
                "counts": {
                    "type": "object",
                    "description": f"Records per action ({', '.join(ROW_ACTIONS)}, missing); empty before any.",
                    "additionalProperties": integer(minimum=0),
                },
                "changes_written": integer("Visible values changed.", minimum=0),
                "error": nullable(string("Why the run failed.")),
            },
            "One run of one source: a workbook import, a pushed batch, a snapshot, a sync. Only the list of runs "
            "takes `fields=`.",
        ),
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


def problem_properties() -> dict[str, dict[str, Any]]:
    """The members every problem document has."""
    return {
        "type": string(format="uri-reference"),
        "title": string(),
        "status": integer(minimum=400, maximum=599),
        "detail": string("What went wrong and how to fix the request."),
        "instance": string("The path of the request."),
    }


def problem_schema() -> dict[str, Any]:
    return closed_object(
        {
            **problem_properties(),
            "allowed": array(string(), "The accepted values or parameters."),
            "suggestions": array(TRIGRAM, "Existing trigrams close to the one asked for."),
            "maximum": integer("The limit that was exceeded."),
            "request_id": string("Quote it when reporting an unexpected error (500)."),
        },
        "An RFC 9457 problem document.",
        optional=("allowed", "suggestions", "maximum", "request_id"),
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
                "ahead_of_this_release": boolean(
                    "The schema is at a migration this release does not know: a newer release migrated it already."
                ),
            },
            optional=("migration", "expected", "detail", "ahead_of_this_release"),
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
        **source_schemas(),
        **audit_schemas(),
        **import_schemas(),
        "Problem": problem_schema(),
        **operations_schemas(),
    }
    for item in ("ApplicationSummary", "Entity", "Person", "Interface", "ImportRun", "Conflict", "Change"):
        schemas[f"{item}Page"] = page_schema(item, max_page_size)
    return schemas


# --- Parameters and responses -------------------------------------------------------------------------------


def query(
    name: str, schema: dict[str, Any], description: str, example: Any = None, required: bool = False
) -> dict[str, Any]:
    if schema.get("type") == "string" and "enum" not in schema and "pattern" not in schema:
        # Every endpoint refuses a parameter holding control characters (`core/inputs.py`).
        schema = {**schema, "pattern": NO_CONTROL_CHARACTERS}
    parameter: dict[str, Any] = {"name": name, "in": "query", "description": description, "schema": schema}
    if required:
        parameter["required"] = True
    else:
        # The endpoints read an empty value (`until=`, as a form sends a blank field) as no value at all.
        parameter["allowEmptyValue"] = True
    if schema.get("type") == "array":
        # Repeated (`status=a&status=b`); commas inside one value also separate values.
        parameter.update(style="form", explode=True)
    if example is not None:
        parameter["example"] = example
    return parameter


def path(name: str, description: str, example: str | int, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        # A path holding control characters is refused (400) before any route runs.
        "schema": schema or string(pattern=NO_CONTROL_CHARACTERS),
        "example": example,
    }


def listed(values: tuple[str, ...]) -> dict[str, Any]:
    """Items of a list parameter: one of `values`, or empty (`a,,b`), which the endpoints skip."""
    return array(enum((*values, "")))


def choices(name: str, values: tuple[str, ...], what: str) -> dict[str, Any]:
    return query(
        name,
        listed(values),
        f"Keep {what}. Repeat the parameter or separate values with commas; values are case-insensitive.",
    )


def fields_parameter(available: tuple[str, ...]) -> dict[str, Any]:
    parameter = query(
        "fields",
        listed(available),
        "Comma-separated members to keep in each result (in the object, on a single object); all of them when "
        "absent or empty.",
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
    role: Role = Role.READER,
    scope: Scope = Scope.READ,
    request_body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One operation; unless `public`, it needs a token or a session and may answer 401, 403 or 429.

    `role` and `scope` are what the view's `@requires` declares (a test compares them).
    """
    if role > Role.READER or scope is not Scope.READ:
        description += f"\n\nNeeds the {role.label} role; a token also needs the `{scope}` scope."
    described: dict[str, Any] = {
        "operationId": operation_id,
        "tags": [tag],
        "summary": summary,
        "description": description,
        "parameters": parameters,
    }
    if request_body is not None:
        described["requestBody"] = request_body
    described["responses"] = responses if public else {**responses, **SIGN_IN_RESPONSES}
    if public:
        described["security"] = []
    else:
        described["x-required-role"] = role.label
        if scope is not Scope.READ:
            # OpenAPI 3.1 lets a requirement of a non-OAuth scheme list what it needs: here the token's scope.
            described["security"] = [{"bearerToken": [scope.value]}, {"sessionCookie": []}]
    return described


def list_operation(
    operation_id: str,
    tag: str,
    summary: str,
    description: str,
    filters: list[dict[str, Any]],
    item: str,
    fields: tuple[str, ...],
    role: Role = Role.READER,
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
    return {"get": operation(operation_id, tag, summary, description, parameters, responses, role=role)}


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
                "components, interfaces in and out; with `provenance=true`, where each field's value comes "
                "from. An unknown trigram answers 404 with close trigrams in `suggestions`.",
                [
                    path("trigram", "The application's trigram, any case.", "BCA"),
                    fields_parameter((*DETAIL_FIELDS, "provenance")),
                    query(
                        "provenance",
                        {**boolean(), "default": False},
                        "Add `provenance`: for each field, the source shown, the run that last changed it, "
                        "when the source last confirmed it. `1` and `0` are read too.",
                    ),
                    shared_ref("IfNoneMatch"),
                ],
                {
                    "200": ok("ApplicationDetail", "The application."),
                    "304": NOT_MODIFIED,
                    "400": problem(
                        "Unknown parameter, unknown field in `fields`, `provenance` neither true nor false, "
                        "or text that is not valid."
                    ),
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
                [
                    path("code", "The entity's code, any case.", "DSI-PAY"),
                    fields_parameter(ENTITY_DETAIL_FIELDS),
                    shared_ref("IfNoneMatch"),
                ],
                {
                    "200": ok("EntityDetail", "The entity."),
                    "304": NOT_MODIFIED,
                    "400": problem("Unknown parameter, unknown field in `fields`, or text that is not valid."),
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
                [
                    path("login", "The person's login, any case.", "jdupont"),
                    fields_parameter(PERSON_DETAIL_FIELDS),
                    shared_ref("IfNoneMatch"),
                ],
                {
                    "200": ok("PersonDetail", "The person."),
                    "304": NOT_MODIFIED,
                    "400": problem("Unknown parameter, unknown field in `fields`, or text that is not valid."),
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


def source_paths() -> dict[str, dict[str, Any]]:
    return {
        "/api/v1/sources": {
            "get": operation(
                "listSources",
                "Sources",
                "List sources",
                "Every source with its precedence, per-field overrides and freshness, highest precedence first: "
                "the Sources page as JSON. A short list, not paginated.",
                [shared_ref("IfNoneMatch")],
                {"200": ok("SourceList", "The sources."), "304": NOT_MODIFIED, "default": UNEXPECTED},
            )
        },
        "/api/v1/sources/{name}": {
            "get": operation(
                "getSource",
                "Sources",
                "One source",
                "A source, its precedence and freshness.",
                [path("name", "The source's name, any case.", "nifi"), shared_ref("IfNoneMatch")],
                {
                    "200": ok("Source", "The source."),
                    "304": NOT_MODIFIED,
                    "404": problem("No source has this name."),
                    "default": UNEXPECTED,
                },
            )
        },
    }


PUSH_DESCRIPTION = """\
Applies one batch of records (a JSON array, or NDJSON: one record per line) as what this source states,
merged field by field with what the other sources state: the highest precedence wins, a disagreement
opens a conflict, every visible change is written to the audit log. `results` says what became of each
record, in the order sent.

If a record is invalid, nothing is applied and the answer is 422 with the refused records, each with its
`index` and reasons; with `partial=true` the valid records are applied and the invalid ones reported.

Send an `Idempotency-Key` with every batch: a retry with the same key and body (after a timeout, say)
changes nothing and answers the first answer again, with `Idempotent-Replayed: true`.

`mode=snapshot` says the batch is everything the source knows: its records of the object types in the
batch that the batch does not mention are marked missing (never deleted). A snapshot too large for one
batch is begun (`POST .../snapshots`), pushed in batches with `snapshot=<id>`, then committed.
"""
CSRF = "a signed-in browser's request without its `X-CSRF-Token` header (token calls need none)"
NOT_A_PUSH_SOURCE = "The source is not a push source (workbook and API sources are not pushed to)"
REPLAYED = {
    "description": "`true` when this repeats the answer to an earlier request with the same `Idempotency-Key`.",
    "schema": enum(("true",)),
}


def push_request_body(max_records: int) -> dict[str, Any]:
    batch = array(ref("Record"), minItems=1, maxItems=max_records)
    example = [
        {"type": "application", "trigram": "BCA", "name": "Banque de Compensation", "status": "production"},
        {"type": "stakeholder", "trigram": "BCA", "login": "jdupont", "role": "owner", "name": "Jean Dupont"},
        {"type": "component", "trigram": "BCA", "environment": "prod", "kind": "server", "name": "par-lx-bca-p01"},
    ]
    return {
        "required": True,
        "description": f"At most {max_records:,} records. NDJSON (any of its media types) holds one record "
        "per line; blank lines are skipped. Any other media type is read as a JSON array.",
        "content": {
            JSON: {"schema": batch, "example": example},
            **{media_type: {"schema": ref("Record")} for media_type in NDJSON_TYPES},
        },
    }


def snapshot_operation(operation_id: str, summary: str, description: str, answer: str) -> dict[str, Any]:
    """Commit or abort an open snapshot."""
    return {
        "post": operation(
            operation_id,
            "Push",
            summary,
            description,
            [
                path("source_name", "The push source, any case.", "nifi"),
                path("snapshot_id", "The `id` answered when the snapshot began.", 42, integer(minimum=1)),
            ],
            {
                "200": {"description": answer, "content": {JSON: {"schema": ref("ImportRun")}}},
                "400": problem(CSRF[:1].upper() + CSRF[1:] + "."),
                "404": problem("No source has this name, or it has no snapshot with this id."),
                "409": problem(f"{NOT_A_PUSH_SOURCE}, or the snapshot was already committed or aborted."),
                "default": UNEXPECTED,
            },
            role=Role.STEWARD,
            scope=Scope.INGEST,
        )
    }


def push_paths(max_bytes: int, max_records: int) -> dict[str, dict[str, Any]]:
    source_name = path("source_name", "A source of kind `push`, declared by an admin; any case.", "nifi")
    return {
        "/api/v1/sources/{source_name}/records": {
            "post": operation(
                "pushRecords",
                "Push",
                "Push a batch of records",
                PUSH_DESCRIPTION,
                [
                    source_name,
                    query(
                        "mode",
                        {**enum(("delta", "snapshot")), "default": "delta"},
                        "`delta`: the records say what changed; `snapshot`: the batch is the source's whole set.",
                        "delta",
                    ),
                    query(
                        "partial",
                        {**boolean(), "default": False},
                        "Apply the valid records even when others are invalid. `1` and `0` are read too.",
                    ),
                    query(
                        "snapshot",
                        integer(minimum=1),
                        "This batch belongs to the open snapshot with this id (from `POST .../snapshots`); "
                        "leave `mode` at `delta`: the commit marks what the snapshot's batches did not mention.",
                    ),
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "description": "Identifies the batch, e.g. the flowfile's uuid: a retry with the same key "
                        "changes nothing. 1 to 200 visible characters, no spaces. Reusing a key for another body "
                        "answers 422.",
                        "schema": string(maxLength=IDEMPOTENCY_KEY_MAX_LENGTH, pattern=r"^[^\x00-\x20]+$"),
                    },
                ],
                {
                    "200": {
                        "description": "Applied (with `partial=true`: the valid records).",
                        "headers": {"Idempotent-Replayed": REPLAYED},
                        "content": {JSON: {"schema": ref("PushResult")}},
                    },
                    "400": problem(
                        "An unknown parameter, `mode` or `partial` with another value, `snapshot` with "
                        "`mode=snapshot`, an `Idempotency-Key` empty, too long or holding spaces, a body that is "
                        "not UTF-8 JSON (an array, or one record per line), "
                        f"an empty batch, a body nested deeper than {MAX_NESTING} levels; or {CSRF}."
                    ),
                    "404": problem("No source has this name, or it has no snapshot with the id in `snapshot`."),
                    "409": problem(
                        f"{NOT_A_PUSH_SOURCE}, or the snapshot in `snapshot` is no longer open, or another run of "
                        "this source (a workbook being applied) holds it: retry after `Retry-After` seconds; nothing "
                        "was written."
                    ),
                    "413": problem(
                        f"The body is larger than {max_bytes // (1024 * 1024)} MB, or the batch holds more than "
                        f"{max_records:,} records: split it."
                    ),
                    "422": {
                        "description": "Invalid records: nothing was applied; `results` lists the refused ones. "
                        "Or the `Idempotency-Key` was already used for another batch.",
                        "headers": {"Idempotent-Replayed": REPLAYED},
                        "content": {PROBLEM_JSON: {"schema": ref("InvalidRecords")}},
                    },
                    "default": UNEXPECTED,
                },
                role=Role.STEWARD,
                scope=Scope.INGEST,
                request_body=push_request_body(max_records),
            )
        },
        "/api/v1/sources/{source_name}/snapshots": {
            "post": operation(
                "beginSnapshot",
                "Push",
                "Begin a snapshot",
                "A snapshot spanning several batches: push each with `snapshot=<id>` (the `id` answered here), "
                "then commit it, or abort it. It stays `open` meanwhile.",
                [source_name],
                {
                    "201": {
                        "description": "The snapshot, `open`.",
                        "content": {JSON: {"schema": ref("ImportRun")}},
                    },
                    "400": problem(CSRF[:1].upper() + CSRF[1:] + "."),
                    "404": problem("No source has this name."),
                    "409": problem(NOT_A_PUSH_SOURCE + "."),
                    "default": UNEXPECTED,
                },
                role=Role.STEWARD,
                scope=Scope.INGEST,
            )
        },
        "/api/v1/sources/{source_name}/snapshots/{snapshot_id}/commit": snapshot_operation(
            "commitSnapshot",
            "Commit a snapshot",
            "Marks missing every record of this source, of the object types the snapshot's batches held, that "
            "none of them mentioned (nothing is deleted); `counts.missing` says how many.",
            "The snapshot, `succeeded`.",
        ),
        "/api/v1/sources/{source_name}/snapshots/{snapshot_id}/abort": snapshot_operation(
            "abortSnapshot",
            "Abort a snapshot",
            "Gives the snapshot up: its batches stay applied, as deltas, and nothing is marked missing.",
            "The snapshot, `cancelled`.",
        ),
    }


def import_paths() -> dict[str, dict[str, Any]]:
    return {
        "/api/v1/imports": list_operation(
            "listImports",
            "Imports",
            "List import runs",
            "Workbook imports, pushed batches, snapshots and API syncs, newest first.",
            [
                query("source", string(), "Name of the source, any case.", "nifi"),
                query("status", enum(RUN_STATUSES), "Runs in this status."),
                query("kind", enum(RUN_KINDS), "Runs of this kind."),
            ],
            "ImportRun",
            RUN_FIELDS,
            role=Role.STEWARD,
        ),
        "/api/v1/imports/{run_id}": {
            "get": operation(
                "getImport",
                "Imports",
                "One import run",
                "A run: its status, counts per action, the audit rows it wrote, why it failed.",
                [
                    path("run_id", "The run's id (`run` in a push answer).", 42, integer(minimum=1)),
                    shared_ref("IfNoneMatch"),
                ],
                {
                    "200": ok("ImportRun", "The run."),
                    "304": NOT_MODIFIED,
                    "404": problem("No run has this id."),
                    "default": UNEXPECTED,
                },
                role=Role.STEWARD,
            )
        },
    }


def audit_paths() -> dict[str, dict[str, Any]]:
    """Conflicts between sources and the audit log."""
    moment = {"anyOf": [string(format="date"), string(format="date-time")]}
    return {
        "/api/v1/conflicts": list_operation(
            "listConflicts",
            "Conflicts",
            "List conflicts",
            "Fields on which sources disagree, newest first: the Conflicts page as JSON, with its filters.",
            [
                query(
                    "status",
                    {**enum((*CONFLICT_STATUSES, "all")), "default": "open"},
                    "Open conflicts, resolved ones, or all.",
                ),
                query("source", string(), "A source taking part, by name.", "nifi"),
                query("field", string(), "The field the sources disagree on (`name`, `status`...)."),
                query("entity", string(), "Entity code: conflicts on applications of this entity and every one below."),
                query("application", string(), "Trigram, any case: the application and what belongs to it."),
                query("object_type", OBJECT_TYPE, "Conflicts on objects of this type."),
            ],
            "Conflict",
            CONFLICT_FIELDS,
        ),
        "/api/v1/changes": list_operation(
            "listChanges",
            "Changes",
            "List changes",
            "The audit log, newest first: every change to a visible value, who made it, through which source and run.",
            [
                query("application", string(), "Trigram, any case: the application and what belongs to it.", "BCA"),
                query("object_type", OBJECT_TYPE, "Changes of objects of this type."),
                query("key", string(), "The object's business key, exactly (`BCA|jdupont|owner`)."),
                query("field", string(), "Changes of this field."),
                query("source", string(), "Changes made through this source, by name."),
                query("actor", string(), "Changes made by this login, or this token (`token ref_... of <login>`)."),
                query("run", integer(minimum=1), "Changes made by this import run."),
                query("operation", enum(OPERATIONS), "Changes of this kind."),
                query("since", moment, "From this date, or date and time (UTC unless it says otherwise)."),
                query("until", moment, "Before this date, or date and time."),
            ],
            "Change",
            CHANGE_FIELDS,
        ),
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
            {"name": "Sources", "description": "Where data comes from, and how fresh it is."},
            {"name": "Push", "description": "Records pushed by NiFi and other sources, in batches and snapshots."},
            {"name": "Imports", "description": "Runs of every source: workbooks, pushes, syncs."},
            {"name": "Conflicts", "description": "Fields on which sources disagree."},
            {"name": "Changes", "description": "The audit log."},
            {"name": "Operations", "description": "This document and the orchestrator's probes."},
        ],
        "security": [{"bearerToken": [Scope.READ.value]}, {"sessionCookie": []}],
        "paths": {
            **application_paths(max_query_length),
            **directory_paths(max_query_length),
            **search_paths(max_query_length),
            **source_paths(),
            **push_paths(config["PUSH_MAX_BYTES"], config["PUSH_MAX_RECORDS"]),
            **import_paths(),
            **audit_paths(),
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
                    "description": "An API token `ref_...` with the scope the operation needs: `read` (or `write`) "
                    "for reads, `ingest` for pushes.",
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
                    "Anything else: 405 for a method the path does not answer, 503 when the database is "
                    "unreachable, 500 with a `request_id` to quote."
                ),
            },
        },
    }
