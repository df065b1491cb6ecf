"""The OpenAPI document: valid 3.1, true to what the running app answers, complete, and shown as a page."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from portal.applications.models import APPLICATION_STATUSES
from portal.applications.queries import SORTS, ApplicationFilters
from portal.core.access import Scope
from portal.core.api import LIST_PARAMETERS
from portal.entities.models import ENTITY_KINDS
from portal.entities.queries import EntityFilters
from portal.environments.models import ENVIRONMENT_KINDS
from portal.interfaces.queries import InterfaceFilters
from portal.people.models import STAKEHOLDER_ROLES
from portal.people.queries import PersonFilters
from tests.unit.builders import (
    add_stakeholder,
    make_application,
    make_entity,
    make_environment,
    make_interface,
    make_person,
    make_token,
    make_user,
    reindex,
)

DOCUMENT_URI = "urn:referentiel:openapi"
# Timestamps have their own test (see `test_timestamps_are_rfc3339_date_times`), so that an engine
# that loses the UTC offset fails that test alone rather than every shape check.
SHAPE_FORMATS = FormatChecker(formats=[name for name in FormatChecker.checkers if name != "date-time"])


@dataclass(frozen=True)
class Example:
    """A real request that should get `status` from `path` (a path of the document)."""

    path: str
    status: str
    url: str
    # (dotted target, replacement) patched for the request, to provoke a status the data cannot.
    patch: tuple[str, Any] | None = None
    # Who calls: the signed-in reader's browser, nobody, or a token (see `call_as`).
    caller: str = "reader"

    @property
    def id(self) -> str:
        return f"{self.status}:{self.url}"


EXAMPLES = [
    Example("/api/v1/applications/search", "200", "/api/v1/applications/search?Trigram=Bca&page_size=50&page=1"),
    Example("/api/v1/applications/search", "200", "/api/v1/applications/search?q=bca"),
    Example("/api/v1/applications/search", "200", "/api/v1/applications/search?q=par-lx-bca"),
    Example("/api/v1/applications/search", "400", "/api/v1/applications/search?status=alive"),
    Example("/api/v1/applications", "200", "/api/v1/applications?sort=-name&page_size=2"),
    Example("/api/v1/applications", "200", "/api/v1/applications?page=2&page_size=2"),
    Example("/api/v1/applications", "400", "/api/v1/applications?page_size=501"),
    Example("/api/v1/applications/{trigram}", "200", "/api/v1/applications/bca"),
    Example("/api/v1/applications/{trigram}", "200", "/api/v1/applications/XYZ"),
    Example("/api/v1/applications/{trigram}", "400", "/api/v1/applications/BCA?fields=colour"),
    Example("/api/v1/applications/{trigram}", "404", "/api/v1/applications/BCB"),
    Example("/api/v1/entities", "200", "/api/v1/entities"),
    Example("/api/v1/entities", "400", "/api/v1/entities?kind=city"),
    Example("/api/v1/entities/{code}", "200", "/api/v1/entities/DSI"),
    Example("/api/v1/entities/{code}", "200", "/api/v1/entities/dsi-pay-card"),
    Example("/api/v1/entities/{code}", "404", "/api/v1/entities/NOPE"),
    Example("/api/v1/people", "200", "/api/v1/people"),
    Example("/api/v1/people", "400", "/api/v1/people?role=boss"),
    Example("/api/v1/people/{login}", "200", "/api/v1/people/jdupont"),
    Example("/api/v1/people/{login}", "200", "/api/v1/people/mmartin"),
    Example("/api/v1/people/{login}", "404", "/api/v1/people/nobody"),
    Example("/api/v1/interfaces", "200", "/api/v1/interfaces"),
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
]
# Every signed-in operation refuses a missing or unknown token (401), a token without the read scope
# (403), and an address that sent too many bad tokens (429).
SECURED_URLS = {example.path: example.url for example in EXAMPLES if example.path.startswith("/api/")}
EXAMPLES += [
    example
    for path, url in SECURED_URLS.items()
    for example in (
        Example(path, "401", url, caller="anonymous"),
        Example(path, "401", url, caller="unknown-token"),
        Example(path, "403", url, caller="ingest-token"),
        Example(
            path,
            "429",
            url,
            caller="unknown-token",
            patch=("portal.core.ratelimit.RateLimiter.retry_after", lambda *_: 42),
        ),
    )
]
OK_EXAMPLES = [example for example in EXAMPLES if example.status == "200" and example.caller == "reader"]
# Answers built with an ETag (the probes answer without one).
CONDITIONAL_EXAMPLES = [example for example in OK_EXAMPLES if example.path.startswith("/api/")]
# Answers that carry `created_at` / `updated_at`.
TIMESTAMPED_EXAMPLES = [
    example for example in OK_EXAMPLES if example.path.startswith("/api/v1/applications") or "?q=bca" in example.url
]


@pytest.fixture
def referential(session):
    """Every kind of object, with optional members both present and absent."""
    group = make_entity(session, "DSI", "Direction des Systèmes d'Information", kind="division")
    team = make_entity(session, "DSI-PAY", "Paiements", kind="department", parent=group)
    make_entity(session, "DSI-PAY-CARD", "Cartes", parent=team)
    bca = make_application(
        session,
        "BCA",
        "Banque de Compensation Automatisée",
        entity=team,
        description="Compensation interbancaire",
        criticality="critical",
        go_live_date=date(2015, 3, 2),
        tags="paiement, sepa",
        documentation_url="https://wiki.bank.example/bca",
    )
    bca2 = make_application(session, "BCA2", "Banque de Compensation v2", entity=team, status="build")
    xyz = make_application(session, "XYZ", "Gestion des habilitations", status="retired")
    owner = make_person(session, "jdupont", "Jean Dupont", entity=team)
    support = make_person(session, "mmartin", "Marie Martin")
    support.email = None  # make_person always sets an email
    add_stakeholder(session, bca, owner, "owner")
    add_stakeholder(session, bca, support, "support")
    production = make_environment(
        session, bca, "prod", url="https://bca.intranet.bank.example", servers=("par-lx-bca-p01",)
    )
    production.components[0].attributes = {"ip": "10.0.0.1"}
    make_environment(session, bca, "uat")
    make_interface(session, bca, bca2, protocol="SFTP", frequency="daily", middleware="CFT")
    make_interface(session, xyz, bca, protocol="REST")
    reindex(session)
    # Answers must show what the database gives back, not the objects this session still holds.
    session.expire_all()


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


def response_validator(
    document: dict[str, Any], path: str, status: str, media_type: str, format_checker: FormatChecker = SHAPE_FORMATS
) -> Draft202012Validator:
    """A Draft 2020-12 validator of the documented body, resolving `$ref`s inside the document."""
    response = document["paths"][path]["get"]["responses"][status]
    pointer = response["$ref"][1:] if "$ref" in response else f"/paths/{json_pointer_part(path)}/get/responses/{status}"
    pointer += f"/content/{json_pointer_part(media_type)}/schema"
    registry = Registry().with_resource(DOCUMENT_URI, DRAFT202012.create_resource(document))
    return Draft202012Validator({"$ref": f"{DOCUMENT_URI}#{pointer}"}, registry=registry, format_checker=format_checker)


def validation_errors(validator: Draft202012Validator, body: Any) -> list[str]:
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(body)]


def test_document_is_valid_openapi_3_1(document):
    validate(document)
    assert document["openapi"].startswith("3.1.")


def test_document_is_served_with_an_etag(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.headers["ETag"]


def call_as(caller: str, client, anonymous_client, session, url: str):
    if caller == "reader":
        return client.get(url)
    if caller == "anonymous":
        return anonymous_client.get(url)
    if caller == "unknown-token":
        return anonymous_client.get(url, headers={"Authorization": "Bearer ref_abcdefgh_" + "x" * 43})
    scope = {"read-token": Scope.READ, "ingest-token": Scope.INGEST}[caller]
    _, secret = make_token(session, make_user(session, "script", "admin"), scope)
    return anonymous_client.get(url, headers={"Authorization": f"Bearer {secret}"})


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda example: f"{example.id}:{example.caller}")
def test_response_matches_documented_schema(
    client, anonymous_client, session, referential, document, monkeypatch, example
):
    if example.patch:
        monkeypatch.setattr(*example.patch)
    response = call_as(example.caller, client, anonymous_client, session, example.url)
    assert response.status_code == int(example.status), response.get_data(as_text=True)
    documented = resolved(document, document["paths"][example.path]["get"]["responses"][example.status])
    assert [response.mimetype] == list(documented["content"])
    validator = response_validator(document, example.path, example.status, response.mimetype)
    assert validation_errors(validator, response.get_json()) == []


@pytest.mark.parametrize("example", TIMESTAMPED_EXAMPLES, ids=lambda example: example.id)
def test_timestamps_are_rfc3339_date_times(client, referential, document, example):
    response = client.get(example.url)
    validator = response_validator(
        document, example.path, "200", response.mimetype, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    assert validation_errors(validator, response.get_json()) == []


def documented_statuses(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (path, status)
        for path, path_item in document["paths"].items()
        for status in path_item["get"]["responses"]
        if status not in {"default", "304"}
    }


def test_every_documented_status_has_an_example(document):
    assert documented_statuses(document) == {(example.path, example.status) for example in EXAMPLES}


def paths_with_not_modified(document: dict[str, Any]) -> list[str]:
    return [path for path, item in document["paths"].items() if "304" in item["get"]["responses"]]


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
        ("/api/v1/applications/{trigram}", {"fields"}),
        ("/api/v1/entities", set(EntityFilters.PARAMETERS) | set(LIST_PARAMETERS)),
        ("/api/v1/people", set(PersonFilters.PARAMETERS) | set(LIST_PARAMETERS)),
        ("/api/v1/interfaces", set(InterfaceFilters.PARAMETERS) | set(LIST_PARAMETERS)),
        ("/api/v1/search", {"q", "limit"}),
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
    assert parameter_schema(document, path, name)["items"]["enum"] == list(values)


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


def test_docs_page_shows_every_operation(client, document):
    page = client.get("/api/docs").get_data(as_text=True)
    for path, path_item in document["paths"].items():
        for method, operation in path_item.items():
            assert f"{method.upper()} {path}" in page
            assert operation["summary"] in page


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
