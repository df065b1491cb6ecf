"""The OpenAPI document: valid 3.1, true to what the running app answers, complete, and shown as a page."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from sqlalchemy import select

from portal.applications.models import APPLICATION_STATUSES
from portal.applications.queries import SORTS, ApplicationFilters
from portal.auth.models import User
from portal.changes.queries import ChangeFilters
from portal.conflicts.models import Conflict
from portal.conflicts.queries import ConflictFilters
from portal.conflicts.resolve import Resolution, resolve
from portal.core.access import Scope, policy_of
from portal.core.api import LIST_PARAMETERS
from portal.entities.models import ENTITY_KINDS
from portal.entities.queries import EntityFilters
from portal.environments.models import ENVIRONMENT_KINDS
from portal.imports.api import PUSH_PARAMETERS
from portal.imports.merge import Statement
from portal.imports.runs import Actor, execute, finish, open_run
from portal.imports.schema import OBJECT_TYPES
from portal.interfaces.queries import InterfaceFilters
from portal.people.models import STAKEHOLDER_ROLES
from portal.people.queries import PersonFilters
from tests.openapi import without_fields
from tests.unit.builders import (
    make_documented_referential,
    make_source,
    make_token,
    make_user,
    reindex,
)
from tests.unit.conftest import shared_session, sign_in_as
from tests.unit.imports.runs import state

# The tests share one referential, made once per module and engine: each runs in a savepoint, rolled back after it.
pytestmark = pytest.mark.usefixtures("module_connection")

DOCUMENT_URI = "urn:referentiel:openapi"
# Timestamps have their own test (see `test_timestamps_are_rfc3339_date_times`), so that an engine
# that loses the UTC offset fails that test alone rather than every shape check.
SHAPE_FORMATS = FormatChecker(formats=[name for name in FormatChecker.checkers if name != "date-time"])


@dataclass(frozen=True)
class Example:
    """A real request that should get `status` from `path` (a path of the document).

    `url` may name ids the `referential` fixture returns, as `{run}`.
    """

    path: str
    status: str
    url: str
    # (dotted target, replacement) patched for the request, to provoke a status the data cannot.
    patch: tuple[str, Any] | None = None
    # Who calls: the signed-in reader's browser, nobody, or a token (see `call_as`).
    caller: str = "reader"
    method: str = "get"
    # A POST's body: JSON (a list) or text sent as `content_type`.
    body: Any = None
    content_type: str = "application/json"

    @property
    def id(self) -> str:
        return f"{self.status}:{self.url}" if self.method == "get" else f"{self.status}:POST {self.url}"


# Every field of every object type, in a batch whose records refer to each other (and to `referential`).
FULL_BATCH = [
    {"type": "entity", "code": "DSI-ZQ", "name": "Zèbres", "kind": "team", "parent": "DSI"},
    {"type": "person", "login": "zqowner", "name": "Zoé Quentin", "email": "zq@bank.example", "entity": "DSI-ZQ"},
    {
        "type": "application",
        "trigram": "zqa",
        "name": "Zebra",
        "description": "Pushed by NiFi",
        "status": "build",
        "criticality": "low",
        "entity": "DSI-ZQ",
        "go_live": "2026-01-05",
        "end_of_support": "2030-12-31",
        "decommission": None,
        "tags": ["nifi", "zebra"],
        "documentation_url": "https://wiki.bank.example/zqa",
    },
    {"type": "environment", "trigram": "ZQA", "kind": "prod", "url": "https://zqa.bank.example", "status": "active"},
    {"type": "environment", "trigram": "ZQA", "name": "uat-2", "kind": "uat"},
    {
        "type": "component",
        "trigram": "ZQA",
        "environment": "prod",
        "kind": "server",
        "name": "par-lx-zqa-p01",
        "details": {"os": "RHEL 9", "memory_gb": 16},
    },
    {
        "type": "stakeholder",
        "trigram": "ZQA",
        "login": "zqowner",
        "role": "owner",
        "name": "Zoé Quentin",
        "email": "zq@bank.example",
    },
    {
        "type": "interface",
        "source": "ZQA",
        "target": "BCA",
        "protocol": "SFTP",
        "frequency": "daily",
        "middleware": "CFT",
        "description": None,
    },
]
INVALID_BATCH = [
    {"type": "application", "trigram": "ZQB", "name": "Zebu"},
    {"type": "application", "trigram": "ZQC", "status": "alive"},
    {"type": "server", "name": "par-lx-zqd"},
]
RECORDS = "/api/v1/sources/{source_name}/records"
BEGIN = "/api/v1/sources/{source_name}/snapshots"
PUSH = "/api/v1/sources/nifi/records"
SNAPSHOTS = "/api/v1/sources/nifi/snapshots"
NDJSON = "application/x-ndjson"


def post(path: str, status: str, url: str, body: Any = None, **options: Any) -> Example:
    """A POST by a steward's ingest token, unless `caller` says otherwise."""
    return Example(path, status, url, method="post", body=body, **{"caller": "ingest-token", **options})


EXAMPLES = [
    Example("/api/v1/applications/search", "200", "/api/v1/applications/search?Trigram=Bca&page_size=50&page=1"),
    Example("/api/v1/applications/search", "200", "/api/v1/applications/search?q=bca"),
    Example("/api/v1/applications/search", "200", "/api/v1/applications/search?q=par-lx-bca"),
    Example("/api/v1/applications/search", "200", "/api/v1/applications/search?fields=trigram"),
    Example("/api/v1/applications/search", "400", "/api/v1/applications/search?status=alive"),
    Example("/api/v1/applications", "200", "/api/v1/applications?sort=-name&page_size=2"),
    Example("/api/v1/applications", "200", "/api/v1/applications?page=2&page_size=2"),
    Example("/api/v1/applications", "400", "/api/v1/applications?page_size=501"),
    Example("/api/v1/applications/{trigram}", "200", "/api/v1/applications/bca"),
    Example("/api/v1/applications/{trigram}", "200", "/api/v1/applications/XYZ"),
    Example("/api/v1/applications/{trigram}", "200", "/api/v1/applications/bca?fields=name,provenance"),
    Example("/api/v1/applications/{trigram}", "400", "/api/v1/applications/BCA?fields=colour"),
    Example("/api/v1/applications/{trigram}", "404", "/api/v1/applications/BCB"),
    Example("/api/v1/entities", "200", "/api/v1/entities"),
    Example("/api/v1/entities", "200", "/api/v1/entities?fields=parent"),
    Example("/api/v1/entities", "400", "/api/v1/entities?kind=city"),
    Example("/api/v1/entities/{code}", "200", "/api/v1/entities/DSI"),
    Example("/api/v1/entities/{code}", "200", "/api/v1/entities/dsi-pay-card"),
    Example("/api/v1/entities/{code}", "200", "/api/v1/entities/DSI?fields=code,subtree"),
    Example("/api/v1/entities/{code}", "400", "/api/v1/entities/DSI?fields=colour"),
    Example("/api/v1/entities/{code}", "404", "/api/v1/entities/NOPE"),
    Example("/api/v1/people", "200", "/api/v1/people"),
    Example("/api/v1/people", "200", "/api/v1/people?fields=entity,login"),
    Example("/api/v1/people", "400", "/api/v1/people?role=boss"),
    Example("/api/v1/people/{login}", "200", "/api/v1/people/jdupont"),
    Example("/api/v1/people/{login}", "200", "/api/v1/people/mmartin"),
    Example("/api/v1/people/{login}", "200", "/api/v1/people/jdupont?fields=roles"),
    Example("/api/v1/people/{login}", "400", "/api/v1/people/jdupont?colour=blue"),
    Example("/api/v1/people/{login}", "404", "/api/v1/people/nobody"),
    Example("/api/v1/interfaces", "200", "/api/v1/interfaces"),
    Example("/api/v1/interfaces", "200", "/api/v1/interfaces?fields=protocol"),
    Example("/api/v1/interfaces", "400", "/api/v1/interfaces?colour=blue"),
    Example("/api/v1/search", "200", "/api/v1/search?q=bca"),
    Example("/api/v1/search", "200", "/api/v1/search?q=par&limit=1"),
    Example("/api/v1/search", "400", "/api/v1/search"),
    Example("/api/v1/openapi.json", "200", "/api/v1/openapi.json"),
    Example("/healthz", "200", "/healthz"),
    Example("/readyz", "200", "/readyz"),
    Example("/readyz", "503", "/readyz", patch=("portal.health.views.head_revision", lambda: "not-the-head")),
    Example("/api/v1/me", "200", "/api/v1/me"),
    Example("/api/v1/me", "200", "/api/v1/me", caller="read-token"),
    Example("/api/v1/applications/{trigram}", "200", "/api/v1/applications/bca?provenance=true"),
    Example("/api/v1/applications/{trigram}", "200", "/api/v1/applications/XYZ?provenance=1"),
    Example("/api/v1/applications/{trigram}", "400", "/api/v1/applications/BCA?provenance=perhaps"),
    Example("/api/v1/sources", "200", "/api/v1/sources"),
    Example("/api/v1/sources/{name}", "200", "/api/v1/sources/NiFi"),
    Example("/api/v1/sources/{name}", "404", "/api/v1/sources/crm"),
    Example("/api/v1/conflicts", "200", "/api/v1/conflicts"),
    Example("/api/v1/conflicts", "200", "/api/v1/conflicts?fields=candidates"),
    Example("/api/v1/conflicts", "200", "/api/v1/conflicts?status=all&source=workbooks&application=bca2"),
    Example("/api/v1/conflicts", "400", "/api/v1/conflicts?colour=red"),
    Example("/api/v1/changes", "200", "/api/v1/changes"),
    Example("/api/v1/changes", "200", "/api/v1/changes?fields=id,operation"),
    Example("/api/v1/changes", "200", "/api/v1/changes?application=bca&operation=update&since=2020-01-01"),
    Example("/api/v1/changes", "400", "/api/v1/changes?operation=delete"),
    Example("/api/v1/imports", "200", "/api/v1/imports", caller="read-token"),
    Example("/api/v1/imports", "200", "/api/v1/imports?fields=status", caller="read-token"),
    Example("/api/v1/imports", "200", "/api/v1/imports?source=nifi&status=open&kind=snapshot", caller="read-token"),
    Example("/api/v1/imports", "400", "/api/v1/imports?colour=red", caller="read-token"),
    Example("/api/v1/imports/{run_id}", "200", "/api/v1/imports/{run}", caller="read-token"),
    Example("/api/v1/imports/{run_id}", "404", "/api/v1/imports/999999999", caller="read-token"),
    post(RECORDS, "200", PUSH, FULL_BATCH),
    post(RECORDS, "200", PUSH + "?mode=delta", "\n".join(map(json.dumps, FULL_BATCH[:3])), content_type=NDJSON),
    post(RECORDS, "200", PUSH + "?partial=true", INVALID_BATCH),
    post(RECORDS, "200", PUSH + "?mode=snapshot", [{"type": "application", "trigram": "BCA", "name": "Banque"}]),
    post(RECORDS, "200", PUSH + "?snapshot={open_snapshot}", FULL_BATCH),
    post(RECORDS, "400", PUSH + "?mode=full", FULL_BATCH),
    post(RECORDS, "400", PUSH, '{"type": "application"\nnot json', content_type=NDJSON),
    post(RECORDS, "404", "/api/v1/sources/crm/records", FULL_BATCH),
    post(RECORDS, "409", "/api/v1/sources/workbooks/records", FULL_BATCH),
    post(RECORDS, "409", PUSH + "?snapshot={closed_snapshot}", FULL_BATCH),
    post(RECORDS, "413", PUSH, [{}] * 10_001),
    post(RECORDS, "422", PUSH, INVALID_BATCH),
    post(BEGIN, "201", SNAPSHOTS),
    post(BEGIN, "400", SNAPSHOTS, caller="steward-browser"),
    post(BEGIN, "404", "/api/v1/sources/crm/snapshots"),
    post(BEGIN, "409", "/api/v1/sources/workbooks/snapshots"),
]
for action in ("commit", "abort"):
    path = f"/api/v1/sources/{{source_name}}/snapshots/{{snapshot_id}}/{action}"
    EXAMPLES += [
        post(path, "200", f"{SNAPSHOTS}/{{open_snapshot}}/{action}"),
        post(path, "400", f"{SNAPSHOTS}/{{open_snapshot}}/{action}", caller="steward-browser"),
        post(path, "404", f"{SNAPSHOTS}/999999999/{action}"),
        post(path, "409", f"{SNAPSHOTS}/{{closed_snapshot}}/{action}"),
    ]
# Every signed-in operation refuses a missing or unknown token (401), a token without the scope it
# needs (403: an ingest token reads nothing, a read token pushes nothing), and an address that sent
# too many bad tokens (429).
SECURED = {(example.path, example.method): example for example in EXAMPLES if example.path.startswith("/api/")}
EXAMPLES += [
    replace(secured, status=status, caller=caller, patch=patch)
    for secured in SECURED.values()
    for status, caller, patch in (
        ("401", "anonymous", None),
        ("401", "unknown-token", None),
        ("403", "read-token" if secured.method == "post" else "ingest-token", None),
        ("429", "unknown-token", ("portal.core.ratelimit.RateLimiter.retry_after", lambda *_: 42)),
    )
]
OK_EXAMPLES = [example for example in EXAMPLES if example.status == "200" and example.caller == "reader"]
# Answers built with an ETag (the probes answer without one).
CONDITIONAL_EXAMPLES = [example for example in OK_EXAMPLES if example.path.startswith("/api/")]
# Answers that carry timestamps (`created_at`, `opened_at`, `confirmed_at`...).
TIMESTAMPED_PATHS = (
    "/api/v1/applications",
    "/api/v1/sources",
    "/api/v1/imports",
    "/api/v1/conflicts",
    "/api/v1/changes",
)
TIMESTAMPED_EXAMPLES = [
    example
    for example in EXAMPLES
    if example.status in {"200", "201"}
    and example.caller in {"reader", "read-token", "ingest-token"}
    and (example.path.startswith(TIMESTAMPED_PATHS) or "?q=bca" in example.url)
]


@pytest.fixture(scope="module")
def referential(app, module_connection):
    """Every kind of object, with optional members both present and absent. Made once per module and engine; each
    test reads it through a session of its own, so answers show what the database gives back."""
    with shared_session(app) as session:
        make_documented_referential(session)
        ids = sources_and_runs(session)
        reindex(session)
    return ids


def sources_and_runs(session) -> dict[str, int]:
    """Two sources that state things, a conflict open and one resolved, a record missing from a snapshot,
    and snapshots open and committed. Returns the ids that example URLs name."""
    nifi = make_source(session, "nifi", kind="push", precedence=60, description="NiFi flow from the CMDB")
    workbooks = make_source(session, "workbooks", kind="excel", precedence=40)
    state(session, nifi, "application", ("BCA",), name="Banque de Compensation Automatisée", status="production")
    state(session, nifi, "application", ("BCA2",), status="build", description="Version 2")
    state(session, nifi, "person", ("lbernard",), name="Luc Bernard")
    # The workbooks disagree with nifi on BCA's name (open) and on BCA2's status (resolved).
    state(session, workbooks, "application", ("BCA",), name="Banque de compensation")
    state(session, workbooks, "application", ("BCA2",), status="plan")
    state(session, workbooks, "application", ("XYZ",), description="Habilitations")
    contested = session.scalars(select(Conflict).where(Conflict.application == "BCA2")).one()
    resolve(session, contested, Resolution("kept", note="nifi is right"), Actor("test-steward"))
    # A snapshot of the workbooks that no longer mentions XYZ: missing since now.
    snapshot = open_run(session, workbooks, "upload", Actor("test-steward"), filename="referentiel.xlsx")
    execute(
        session, snapshot, [Statement("application", ("BCA",), {"name": "Banque de compensation"}, 0)], snapshot=True
    )
    open_snapshot = open_run(session, nifi, "snapshot", Actor("test-pusher"))
    open_snapshot.status = "open"
    closed_snapshot = open_run(session, nifi, "snapshot", Actor("test-pusher"))
    finish(session, closed_snapshot, "succeeded")
    session.flush()
    return {"run": snapshot.id, "open_snapshot": open_snapshot.id, "closed_snapshot": closed_snapshot.id}


@pytest.fixture
def document(client):
    return client.get("/api/v1/openapi.json").get_json()


def resolved(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """`node`, or what its local `$ref` (`#/components/<kind>/<name>`) names."""
    if "$ref" not in node:
        return node
    _, _, kind, name = node["$ref"].split("/")
    return document["components"][kind][name]


def json_pointer_part(text: str) -> str:
    return text.replace("~", "~0").replace("/", "~1")


def answer_document(document: dict[str, Any], url: str) -> dict[str, Any]:
    return document if "fields=" in url.lower() else without_fields(document)


def response_validator(
    document: dict[str, Any],
    path: str,
    status: str,
    media_type: str,
    format_checker: FormatChecker = SHAPE_FORMATS,
    method: str = "get",
) -> Draft202012Validator:
    """A Draft 2020-12 validator of the documented body, resolving `$ref`s inside the document."""
    response = document["paths"][path][method]["responses"][status]
    pointer = (
        response["$ref"][1:] if "$ref" in response else f"/paths/{json_pointer_part(path)}/{method}/responses/{status}"
    )
    pointer += f"/content/{json_pointer_part(media_type)}/schema"
    return pointer_validator(document, pointer, format_checker)


def pointer_validator(
    document: dict[str, Any], pointer: str, format_checker: FormatChecker = SHAPE_FORMATS
) -> Draft202012Validator:
    registry = Registry().with_resource(DOCUMENT_URI, DRAFT202012.create_resource(document))
    return Draft202012Validator({"$ref": f"{DOCUMENT_URI}#{pointer}"}, registry=registry, format_checker=format_checker)


def validation_errors(validator: Draft202012Validator, body: Any) -> list[str]:
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(body)]


def test_fields_may_leave_out_any_member_but_an_answer_without_fields_holds_them_all(document):
    """The schemas required every member, so answers narrowed by `fields=` broke them (found by schemathesis)."""
    narrowed = {"code": "DSI"}
    assert validation_errors(pointer_validator(document, "/components/schemas/Entity"), narrowed) == []
    assert validation_errors(pointer_validator(document, "/components/schemas/Entity"), {}) != []
    strict = pointer_validator(without_fields(document), "/components/schemas/Entity")
    assert validation_errors(strict, narrowed) == [
        f": {member!r} is a required property" for member in ("name", "kind", "parent")
    ]


def test_document_is_valid_openapi_3_1(document):
    validate(document)
    assert document["openapi"].startswith("3.1.")


def test_document_is_served_with_an_etag(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.headers["ETag"]


def call_as(example: Example, client, anonymous_client, session, ids: dict[str, int]):
    """Make the example's request as its caller; `ids` fill in the ids its URL names."""
    url = example.url.format(**ids)
    options: dict[str, Any] = {"method": example.method.upper(), "headers": {}}
    if example.body is not None:
        text = example.body if isinstance(example.body, str) else json.dumps(example.body)
        options.update(data=text, content_type=example.content_type)
    if example.caller == "reader":
        return client.open(url, **options)
    if example.caller == "steward-browser":
        # Signed in, but without the X-CSRF-Token header the portal's pages send.
        browser = sign_in_as(client.application.test_client(), session, make_user(session, "steward", "steward"))
        return browser.open(url, **options)
    if example.caller == "anonymous":
        return anonymous_client.open(url, **options)
    if example.caller == "unknown-token":
        options["headers"]["Authorization"] = "Bearer ref_abcdefgh_" + "x" * 43
        return anonymous_client.open(url, **options)
    scope = {"read-token": Scope.READ, "ingest-token": Scope.INGEST}[example.caller]
    script = session.scalars(select(User).where(User.login == "script")).first() or make_user(
        session, "script", "admin"
    )
    _, secret = make_token(session, script, scope)
    options["headers"]["Authorization"] = f"Bearer {secret}"
    return anonymous_client.open(url, **options)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda example: f"{example.id}:{example.caller}")
def test_response_matches_documented_schema(
    client, anonymous_client, session, referential, document, monkeypatch, example
):
    if example.patch:
        monkeypatch.setattr(*example.patch)
    response = call_as(example, client, anonymous_client, session, referential)
    assert response.status_code == int(example.status), response.get_data(as_text=True)
    documented = resolved(document, document["paths"][example.path][example.method]["responses"][example.status])
    assert [response.mimetype] == list(documented["content"])
    validator = response_validator(
        answer_document(document, example.url), example.path, example.status, response.mimetype, method=example.method
    )
    assert validation_errors(validator, response.get_json()) == []


@pytest.mark.parametrize("example", TIMESTAMPED_EXAMPLES, ids=lambda example: f"{example.id}:{example.caller}")
def test_timestamps_are_rfc3339_date_times(client, anonymous_client, session, referential, document, example):
    response = call_as(example, client, anonymous_client, session, referential)
    validator = response_validator(
        answer_document(document, example.url),
        example.path,
        example.status,
        response.mimetype,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
        method=example.method,
    )
    assert validation_errors(validator, response.get_json()) == []


def documented_statuses(document: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (path, method, status)
        for path, path_item in document["paths"].items()
        for method, operation in path_item.items()
        for status in operation["responses"]
        if status not in {"default", "304"}
    }


def test_every_documented_status_has_an_example(document):
    assert documented_statuses(document) == {(example.path, example.method, example.status) for example in EXAMPLES}


def paths_with_not_modified(document: dict[str, Any]) -> list[str]:
    return [path for path, item in document["paths"].items() if "304" in item.get("get", {}).get("responses", {})]


@pytest.mark.parametrize("example", CONDITIONAL_EXAMPLES, ids=lambda example: example.id)
def test_not_modified_when_if_none_match_matches(client, referential, example):
    etag = client.get(example.url).headers["ETag"]
    response = client.get(example.url, headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == etag


def test_304_is_documented_exactly_where_answers_carry_an_etag(client, referential, document):
    for example in OK_EXAMPLES:
        has_etag = "ETag" in client.get(example.url).headers
        assert has_etag == (example.path in paths_with_not_modified(document)), example.url


def openapi_path(rule: str) -> str:
    """`/api/v1/applications/<trigram>` -> `/api/v1/applications/{trigram}` (converters dropped)."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_every_api_route_is_documented(app, document):
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = openapi_path(rule.rule)
        assert path in document["paths"], f"{rule.rule} ({rule.endpoint}) is not in the OpenAPI document"
        methods = {method.lower() for method in rule.methods - {"HEAD", "OPTIONS"}}
        assert methods <= set(document["paths"][path]), f"{rule.rule}: {methods} not all documented"


def test_every_documented_path_is_a_route(app, document):
    routes = {openapi_path(rule.rule) for rule in app.url_map.iter_rules()}
    assert set(document["paths"]) <= routes


def query_parameter_names(document: dict[str, Any], path: str) -> set[str]:
    parameters = [resolved(document, parameter) for parameter in document["paths"][path]["get"]["parameters"]]
    return {parameter["name"] for parameter in parameters if parameter["in"] == "query"}


@pytest.mark.parametrize(
    ("path", "accepted"),
    [
        ("/api/v1/applications/search", set(ApplicationFilters.PARAMETERS) | set(LIST_PARAMETERS)),
        ("/api/v1/applications", set(ApplicationFilters.PARAMETERS) | set(LIST_PARAMETERS)),
        ("/api/v1/applications/{trigram}", {"fields", "provenance"}),
        ("/api/v1/entities", set(EntityFilters.PARAMETERS) | set(LIST_PARAMETERS)),
        ("/api/v1/people", set(PersonFilters.PARAMETERS) | set(LIST_PARAMETERS)),
        ("/api/v1/interfaces", set(InterfaceFilters.PARAMETERS) | set(LIST_PARAMETERS)),
        ("/api/v1/search", {"q", "limit"}),
        ("/api/v1/conflicts", set(ConflictFilters.PARAMETERS) | set(LIST_PARAMETERS)),
        ("/api/v1/changes", set(ChangeFilters.PARAMETERS) | set(LIST_PARAMETERS)),
        # `imports.api.runs` lists its filters inline.
        ("/api/v1/imports", {"source", "status", "kind"} | set(LIST_PARAMETERS)),
        ("/api/v1/sources", set()),
    ],
)
def test_documented_query_parameters_are_those_the_endpoint_accepts(document, path, accepted):
    assert query_parameter_names(document, path) == accepted


def parameter_schema(document: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    for parameter in document["paths"][path]["get"]["parameters"]:
        if resolved(document, parameter)["name"] == name:
            return resolved(document, parameter)["schema"]
    raise AssertionError(f"{path} does not document {name}")


@pytest.mark.parametrize(
    ("path", "name", "values"),
    [
        ("/api/v1/applications/search", "status", APPLICATION_STATUSES),
        ("/api/v1/applications/search", "environment", ENVIRONMENT_KINDS),
        ("/api/v1/applications/search", "role", STAKEHOLDER_ROLES),
        ("/api/v1/entities", "kind", ENTITY_KINDS),
        ("/api/v1/people", "role", STAKEHOLDER_ROLES),
    ],
)
def test_documented_enumeration_is_the_model_constant(document, path, name, values):
    # And the empty item, which the endpoints skip (`status=build,,plan`).
    assert parameter_schema(document, path, name)["items"]["enum"] == [*values, ""]


def test_documented_sorts_are_the_query_constant(document):
    assert parameter_schema(document, "/api/v1/applications", "sort")["enum"] == list(SORTS)


def test_documented_page_size_limit_follows_configuration(app, document):
    schema = parameter_schema(document, "/api/v1/entities", "page_size")
    assert schema["maximum"] == app.config["API_MAX_PAGE_SIZE"]
    assert schema["default"] == app.config["API_DEFAULT_PAGE_SIZE"]


@pytest.mark.parametrize(
    "path",
    ["/api/v1/applications/search", "/api/v1/applications", "/api/v1/entities", "/api/v1/people", "/api/v1/search"],
)
def test_documented_query_length_follows_configuration(app, document, path):
    assert parameter_schema(document, path, "q")["maxLength"] == app.config["SEARCH_MAX_QUERY_LENGTH"]


def test_operations_declare_the_role_and_scope_their_view_requires(app, document):
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        policy = policy_of(app, rule.endpoint)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = document["paths"][openapi_path(rule.rule)][method.lower()]
            security = operation.get("security", document["security"])
            assert operation["x-required-role"] == policy.role.label, rule.rule
            assert {"bearerToken": [policy.scope.value]} in security, rule.rule


def test_documented_push_parameters_are_those_the_endpoint_accepts(document):
    parameters = [resolved(document, parameter) for parameter in document["paths"][RECORDS]["post"]["parameters"]]
    assert {parameter["name"] for parameter in parameters if parameter["in"] == "query"} == set(PUSH_PARAMETERS)
    assert "Idempotency-Key" in {parameter["name"] for parameter in parameters if parameter["in"] == "header"}


def test_documented_push_limits_follow_configuration(app, document):
    body = document["paths"][RECORDS]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["maxItems"] == app.config["PUSH_MAX_RECORDS"]


@pytest.mark.parametrize("object_type", list(OBJECT_TYPES.values()), ids=lambda object_type: object_type.name)
def test_record_schema_is_the_import_schema(document, object_type):
    schema = document["components"]["schemas"][f"{object_type.name.title()}Record"]
    assert set(schema["properties"]) == {"type", *(column.name for column in object_type.columns)}
    assert set(schema["required"]) - {"type"} <= {column.name for column in object_type.key}
    assert schema["additionalProperties"] is False


def request_validator(document: dict[str, Any], media_type: str = "application/json") -> Draft202012Validator:
    pointer = f"/paths/{json_pointer_part(RECORDS)}/post/requestBody/content/{json_pointer_part(media_type)}/schema"
    return pointer_validator(document, pointer, Draft202012Validator.FORMAT_CHECKER)


def test_the_full_batch_uses_every_field_and_matches_the_request_schema(document):
    used = {(record["type"], name) for record in FULL_BATCH for name in record if name != "type"}
    every = {(object_type.name, column.name) for object_type in OBJECT_TYPES.values() for column in object_type.columns}
    # An environment's `name` may be left out (it is then its kind); the batch shows both ways.
    assert every <= used
    assert validation_errors(request_validator(document), FULL_BATCH) == []
    for record in FULL_BATCH:
        assert validation_errors(request_validator(document, NDJSON), record) == []


def test_the_documented_example_batch_matches_its_schema(document):
    content = document["paths"][RECORDS]["post"]["requestBody"]["content"]["application/json"]
    assert validation_errors(request_validator(document), content["example"]) == []


@pytest.mark.parametrize(
    "record",
    [
        {"type": "application", "trigram": "ZQA", "colour": "blue"},
        {"type": "application", "name": "No trigram"},
        {"type": "server", "name": "par-lx-zqa-p01"},
        {"type": "application", "trigram": "ZQA", "name": "Zebra", "criticality": "extreme"},
        {"type": "stakeholder", "trigram": "BCA", "login": "jdupont"},
        "BCA",
    ],
    ids=["unknown field", "no key", "unknown type", "unknown value", "incomplete key", "not an object"],
)
def test_a_record_the_schema_refuses_is_refused_by_the_api(document, anonymous_client, session, referential, record):
    assert validation_errors(request_validator(document), [record]) != []

    response = call_as(post(RECORDS, "422", PUSH, [record]), None, anonymous_client, session, referential)

    assert response.status_code == 422
    assert [result["index"] for result in response.json["results"]] == [0]


def test_push_results_show_changes_conflicts_and_errors(document, anonymous_client, session, referential):
    """The push examples' answers hold each optional member of a result, so the schema checks all of them."""
    answers = [
        call_as(example, None, anonymous_client, session, referential).json
        for example in EXAMPLES
        if example.path == RECORDS and example.status == "200" and example.caller == "ingest-token"
    ]
    members = {member for answer in answers for result in answer["results"] for member in result}
    assert {"changes", "conflicts", "errors"} <= members
    assert any(answer["counts"]["missing"] for answer in answers)


@pytest.mark.parametrize(("batch", "status"), [(FULL_BATCH, "200"), (INVALID_BATCH, "422")])
def test_a_replayed_push_answers_as_documented(document, anonymous_client, session, referential, batch, status):
    _, secret = make_token(session, make_user(session, "svc-nifi", "steward"), Scope.INGEST)
    headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": "flowfile-0b5a3c1e"}

    first = anonymous_client.post(PUSH, json=batch, headers=headers)
    replay = anonymous_client.post(PUSH, json=batch, headers=headers)

    assert (first.status_code, replay.status_code) == (int(status), int(status))
    assert replay.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert replay.json == first.json
    assert "Idempotent-Replayed" in document["paths"][RECORDS]["post"]["responses"][status]["headers"]
    validator = response_validator(document, RECORDS, status, replay.mimetype, method="post")
    assert validation_errors(validator, replay.json) == []


def test_the_referential_gives_the_examples_something_to_show(client, referential):
    conflicts = client.get("/api/v1/conflicts?status=all").json["results"]
    assert {conflict["status"] for conflict in conflicts} == {"open", "resolved"}
    changes = client.get("/api/v1/changes?page_size=500").json["results"]
    assert {"create", "update", "missing", "resolve"} <= {change["operation"] for change in changes}
    assert {"nifi", "workbooks", "manual"} <= {
        source["name"] for source in client.get("/api/v1/sources").json["results"]
    }
    assert client.get("/api/v1/applications/BCA?provenance=true").json["provenance"]["name"]["source"] == "nifi"
    xyz = client.get("/api/v1/applications/XYZ?provenance=true").json["provenance"]
    assert xyz["description"]["missing_since"] is not None


def test_docs_page_shows_every_operation(client, document):
    page = client.get("/api/docs").get_data(as_text=True)
    for path, path_item in document["paths"].items():
        for method, operation in path_item.items():
            assert f"{method.upper()} {path}" in page
            assert operation["summary"] in page


def test_docs_page_says_which_members_fields_may_leave_out(client):
    page = client.get("/api/docs").get_data(as_text=True)
    assert "<td>unless fields= leaves it out</td>" in page


def test_docs_page_shows_parameter_enumerations_and_defaults(client, app):
    page = client.get("/api/docs").get_data(as_text=True)
    assert ", ".join(APPLICATION_STATUSES) in page
    assert f"<code>{app.config['API_DEFAULT_PAGE_SIZE']}</code>" in page


def test_docs_page_shows_curl_example_for_this_host(client):
    session_cookie = client.get_cookie("referentiel_session")
    client.set_cookie("referentiel_session", session_cookie.value, domain="referentiel.bank.example")
    page = client.get("/api/docs", base_url="https://referentiel.bank.example").get_data(as_text=True)
    assert (
        "curl -H &#34;Authorization: Bearer $REFERENTIEL_TOKEN&#34; "
        "&#39;https://referentiel.bank.example/api/v1/applications/BCA&#39;" in page
    )


def test_docs_page_extends_the_base_layout(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert 'class="site-header"' in response.get_data(as_text=True)


def test_docs_page_has_no_script_inline_style_or_other_host(client):
    page = client.get("/api/docs").get_data(as_text=True).lower()
    assert not re.search(r"<script(?![^>]*\bsrc=\"/static/)", page), "a script that is not a static file"
    assert "style=" not in page
    assert "<style" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


def test_docs_page_shows_how_to_push(client):
    page = client.get("/api/docs").get_data(as_text=True)
    assert (
        "curl -H &#34;Authorization: Bearer $REFERENTIEL_TOKEN&#34; -X POST "
        "-H &#39;Content-Type: application/json&#39; --data-binary @batch.json "
        "&#39;http://localhost/api/v1/sources/nifi/records?mode=delta&#39;" in page
    )
    assert "Request body (<code>application/json</code>, <code>application/x-ndjson</code>" in page
    assert "Needs the steward role; a token also needs the <code>ingest</code> scope." in page
