"""What every `/api/v1` endpoint does with its input: the list envelope and its links, `fields=`, ETags,
case-insensitive names, the application filters, and a clear problem+json for every bad input."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from portal.applications.models import APPLICATION_STATUSES
from portal.entities.models import ENTITY_KINDS
from portal.environments.models import ENVIRONMENT_KINDS
from portal.people.models import STAKEHOLDER_ROLES
from tests.unit.builders import (
    add_stakeholder,
    make_application,
    make_entity,
    make_environment,
    make_interface,
    make_person,
    reindex,
)
from tests.unit.conftest import shared_session

# The tests share one referential, made once per module and engine: each runs in a savepoint, rolled back after it.
pytestmark = pytest.mark.usefixtures("module_connection")

LIST_ENDPOINTS = [
    "/api/v1/applications/search",
    "/api/v1/applications",
    "/api/v1/entities",
    "/api/v1/people",
    "/api/v1/interfaces",
]
# Endpoints that refuse parameters they do not know.
STRICT_ENDPOINTS = [*LIST_ENDPOINTS, "/api/v1/applications/BCA", "/api/v1/search?q=bca"]
# A filter per list endpoint that keeps exactly two results, for the pagination links.
TWO_RESULTS = {
    "/api/v1/applications/search": ("status", "production,build"),
    "/api/v1/applications": ("status", "production,build"),
    "/api/v1/entities": ("kind", "team"),
    "/api/v1/people": ("role", "owner"),
    "/api/v1/interfaces": ("protocol", "rest"),
}
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def referential(app, module_connection):
    """DSI > {DSI-PAY, DSI-RH}; four applications, three people, three interfaces."""
    with shared_session(app) as session:
        division = make_entity(session, "DSI", "Direction des Systèmes d'Information", kind="division")
        payments = make_entity(session, "DSI-PAY", "Paiements", parent=division)
        people = make_entity(session, "DSI-RH", "Ressources humaines", parent=division)
        bca = make_application(session, "BCA", "Banque de Compensation Automatisée", entity=payments)
        bca2 = make_application(session, "BCA2", "Banque de Compensation v2", entity=payments, status="build")
        pay = make_application(session, "PAY", "Paie", entity=people, status="plan")
        xyz = make_application(session, "XYZ", "Gestion des habilitations", entity=people, status="retired")
        jean = make_person(session, "jdupont", "Jean Dupont", entity=payments)
        marie = make_person(session, "mmartin", "Marie Martin", entity=people)
        make_person(session, "pbernard", "Paul Bernard")
        add_stakeholder(session, bca, jean, "owner")
        add_stakeholder(session, pay, marie, "owner")
        add_stakeholder(session, xyz, marie, "support")
        make_environment(session, bca, "prod", servers=("par-lx-bca-p01",))
        make_environment(session, xyz, "uat")
        make_interface(session, bca, bca2, protocol="SFTP")
        make_interface(session, bca, pay, protocol="REST")
        make_interface(session, xyz, bca, protocol="REST")
        reindex(session)


def get_raw(client, endpoint: str, query_string: str):
    """GET with the query string sent byte for byte (the test client would re-encode stray `%ff`)."""
    return client.get(endpoint, environ_overrides={"QUERY_STRING": query_string})


def assert_problem(response, status: int, *phrases: str) -> dict:
    """The response is a problem+json of `status` whose `detail` holds every phrase."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status
    for phrase in phrases:
        assert phrase in body["detail"]
    return body


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def trigrams(response) -> list[str]:
    return [item["trigram"] for item in response.get_json()["results"]]


# --- The list envelope and its links ---------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", LIST_ENDPOINTS)
def test_list_answers_the_envelope(client, referential, endpoint):
    body = client.get(endpoint).get_json()
    assert list(body) == ["count", "count_is_estimate", "page", "page_size", "next", "previous", "results"]
    assert body["count"] == len(body["results"]) and body["count_is_estimate"] is False
    assert (body["page"], body["page_size"], body["next"], body["previous"]) == (1, 50, None, None)


@pytest.mark.parametrize("endpoint", LIST_ENDPOINTS)
def test_next_link_keeps_the_other_parameters(client, referential, endpoint):
    name, value = TWO_RESULTS[endpoint]
    body = client.get(f"{endpoint}?{name}={value}&page_size=1").get_json()
    assert body["count"] == 2
    assert query_of(body["next"]) == {name: [value], "page": ["2"], "page_size": ["1"]}
    assert urlsplit(body["next"]).path == endpoint


@pytest.mark.parametrize("endpoint", LIST_ENDPOINTS)
def test_previous_link_keeps_the_other_parameters(client, referential, endpoint):
    name, value = TWO_RESULTS[endpoint]
    body = client.get(f"{endpoint}?{name}={value}&page_size=1&page=2").get_json()
    assert query_of(body["previous"]) == {name: [value], "page": ["1"], "page_size": ["1"]}
    assert body["next"] is None


@pytest.mark.parametrize("endpoint", LIST_ENDPOINTS)
def test_page_past_the_end_gives_empty_results_with_the_count(client, referential, endpoint):
    name, value = TWO_RESULTS[endpoint]
    response = client.get(f"{endpoint}?{name}={value}&page_size=1&page=9")
    assert response.status_code == 200
    body = response.get_json()
    assert body["results"] == [] and body["count"] == 2 and body["page"] == 9
    assert body["next"] is None and query_of(body["previous"])["page"] == ["8"]


@pytest.mark.parametrize(
    ("url", "fields"),
    [
        ("/api/v1/applications/search?q=bca&fields=trigram,score", ["trigram", "score"]),
        ("/api/v1/applications?fields=name&fields=trigram", ["name", "trigram"]),
        ("/api/v1/entities?fields=code", ["code"]),
        ("/api/v1/people?fields=login,email", ["login", "email"]),
        ("/api/v1/interfaces?fields=source,protocol", ["source", "protocol"]),
    ],
)
def test_fields_keeps_only_the_named_members_of_each_result(client, referential, url, fields):
    results = client.get(url).get_json()["results"]
    assert results and all(list(result) == fields for result in results)


def test_fields_keeps_only_the_named_members_of_a_detail(client, referential):
    assert client.get("/api/v1/applications/BCA?fields=trigram,status").get_json() == {
        "trigram": "BCA",
        "status": "production",
    }


@pytest.mark.parametrize(
    "url", ["/api/v1/entities?fields=,", "/api/v1/people?fields=%20,%20", "/api/v1/applications/BCA?fields=,"]
)
def test_fields_naming_no_member_keeps_them_all_when_only_commas(client, referential, url):
    """`fields=,` answered empty objects, which the schemas do not allow (`minProperties`); it means what an
    empty `fields=` means: every member."""
    full = client.get(url.split("?")[0]).get_json()
    assert client.get(url).get_json() == full


# --- ETags ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/applications/search?Trigram=Bca",
        "/api/v1/applications",
        "/api/v1/applications/BCA",
        "/api/v1/entities",
        "/api/v1/entities/DSI",
        "/api/v1/people",
        "/api/v1/people/jdupont",
        "/api/v1/interfaces",
        "/api/v1/search?q=bca",
    ],
)
def test_not_modified_when_if_none_match_matches_the_etag(client, referential, url):
    etag = client.get(url).headers["ETag"]
    response = client.get(url, headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.data == b""


def test_full_answer_when_if_none_match_is_stale(client, referential, session):
    etag = client.get("/api/v1/entities").headers["ETag"]
    make_entity(session, "DSI-NEW", "Nouvelle équipe")
    response = client.get("/api/v1/entities", headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response.headers["ETag"] != etag


# --- Case-insensitive parameter names ------------------------------------------------------------------------


def test_seed_search_works_as_written_when_names_are_capitalised(client, referential):
    response = client.get("/api/v1/applications/search?Trigram=Bca&page_size=50&page=1")
    assert trigrams(response) == ["BCA", "BCA2"]


@pytest.mark.parametrize(
    ("url", "key", "expected"),
    [
        ("/api/v1/applications?STATUS=retired", "trigram", ["XYZ"]),
        ("/api/v1/entities?Kind=division", "code", ["DSI"]),
        ("/api/v1/people?Role=support", "login", ["mmartin"]),
        ("/api/v1/interfaces?Source=xyz&Fields=protocol", "protocol", ["REST"]),
    ],
)
def test_filter_names_are_case_insensitive(client, referential, url, key, expected):
    assert [item[key] for item in client.get(url).get_json()["results"]] == expected


@pytest.mark.parametrize("endpoint", LIST_ENDPOINTS)
def test_page_size_name_is_case_insensitive(client, referential, endpoint):
    body = client.get(f"{endpoint}?PAGE_SIZE=1&Page=2").get_json()
    assert body["page_size"] == 1 and body["page"] == 2 and len(body["results"]) == 1


# --- Application filters (list and search share them) --------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=retired", ["XYZ"]),
        ("status=build&status=plan", ["BCA2", "PAY"]),
        ("status=BUILD,plan", ["BCA2", "PAY"]),
        ("trigram=bc", ["BCA", "BCA2"]),
        ("entity=dsi-pay", ["BCA", "BCA2"]),
        ("entity=DSI", ["BCA", "BCA2", "PAY", "XYZ"]),
        ("entity=NOPE", []),
        ("environment=uat", ["XYZ"]),
        ("environment=prod,uat", ["BCA", "XYZ"]),
        ("person=MMARTIN", ["PAY", "XYZ"]),
        ("role=owner", ["BCA", "PAY"]),
        ("person=mmartin&role=support", ["XYZ"]),
        ("person=jdupont&role=support", []),
        ("sort=-trigram", ["XYZ", "PAY", "BCA2", "BCA"]),
        ("sort=name", ["BCA", "BCA2", "XYZ", "PAY"]),
    ],
)
@pytest.mark.parametrize("endpoint", ["/api/v1/applications", "/api/v1/applications/search"])
def test_applications_filtered(client, referential, endpoint, query, expected):
    assert trigrams(client.get(f"{endpoint}?{query}")) == expected


def test_search_combines_query_and_filters(client, referential):
    assert trigrams(client.get("/api/v1/applications/search?q=banque&status=build")) == ["BCA2"]


def test_search_finds_application_by_hostname(client, referential):
    assert trigrams(client.get("/api/v1/applications/search?q=par-lx-bca")) == ["BCA"]


# --- Bad input: each answers problem+json with a detail that says what to change -------------------------------


@pytest.mark.parametrize(
    ("url", "name", "allowed"),
    [
        ("/api/v1/applications/search?status=alive", "status", APPLICATION_STATUSES),
        ("/api/v1/applications?environment=staging", "environment", ENVIRONMENT_KINDS),
        ("/api/v1/applications?role=boss", "role", STAKEHOLDER_ROLES),
        ("/api/v1/entities?kind=city", "kind", ENTITY_KINDS),
        ("/api/v1/people?role=boss", "role", STAKEHOLDER_ROLES),
    ],
)
def test_unknown_enumeration_value_lists_the_allowed_values(client, referential, url, name, allowed):
    body = assert_problem(client.get(url), 400, f"Unknown {name}", ", ".join(allowed))
    assert body["allowed"] == list(allowed)


def test_unknown_sort_lists_the_allowed_values(client, referential):
    body = assert_problem(client.get("/api/v1/applications?sort=colour"), 400, "Unknown sort 'colour'", "-updated")
    assert "relevance" in body["allowed"]


@pytest.mark.parametrize("endpoint", LIST_ENDPOINTS)
def test_page_size_over_the_maximum_is_refused(client, referential, endpoint):
    body = assert_problem(client.get(f"{endpoint}?page_size=501"), 400, "page_size must be at most 500, got 501")
    assert body["maximum"] == 500


@pytest.mark.parametrize("endpoint", LIST_ENDPOINTS)
def test_page_size_at_the_maximum_is_accepted(client, referential, endpoint):
    assert client.get(f"{endpoint}?page_size=500").get_json()["page_size"] == 500


@pytest.mark.parametrize("endpoint", LIST_ENDPOINTS)
@pytest.mark.parametrize("value", ["two", "1.5", "1e3"])
def test_non_numeric_page_is_refused(client, referential, endpoint, value):
    assert_problem(client.get(f"{endpoint}?page={value}"), 400, "page must be a whole number", repr(value))


@pytest.mark.parametrize("endpoint", LIST_ENDPOINTS)
@pytest.mark.parametrize("value", ["2.0", "2.", "+2", " 2 "])
def test_page_numbers_written_as_whole_decimals_are_accepted(client, referential, endpoint, value):
    """Found by schemathesis: `page=8.0` is the integer 8 to JSON Schema, which the document gives, and a
    client generated from it may send it so; it was refused with 400."""
    body = client.get(f"{endpoint}?page_size={value}&page={value}").get_json()
    assert (body["page"], body["page_size"]) == (2, 2)


@pytest.mark.parametrize("endpoint", LIST_ENDPOINTS)
def test_page_in_digits_other_than_ascii_is_refused(client, referential, endpoint):
    """Only ASCII digits make a number (`²` is a digit to `str.isdigit()`, not to `int()`)."""
    assert_problem(client.get(f"{endpoint}?page=%C2%B2"), 400, "page must be a whole number")


@pytest.mark.parametrize("endpoint", LIST_ENDPOINTS)
@pytest.mark.parametrize("name", ["page", "page_size"])
def test_zero_is_refused(client, referential, endpoint, name):
    assert_problem(client.get(f"{endpoint}?{name}=0"), 400, f"{name} must be a whole number of 1 or more", "got 0")


QUERY_ENDPOINTS = [
    "/api/v1/applications/search",
    "/api/v1/applications",
    "/api/v1/search",
    "/api/v1/entities",
    "/api/v1/people",
]


@pytest.mark.parametrize("endpoint", QUERY_ENDPOINTS)
def test_query_over_the_maximum_length_is_refused(client, referential, endpoint):
    assert_problem(client.get(f"{endpoint}?q={'a' * 201}"), 400, "q must be at most 200 characters, got 201")


@pytest.mark.parametrize("endpoint", ["/api/v1/applications/search", "/api/v1/search", "/api/v1/entities"])
def test_query_of_the_maximum_length_is_accepted(client, referential, endpoint):
    assert client.get(f"{endpoint}?q={'a' * 200}").status_code == 200


# (endpoint, a parameter it knows) to carry the bad text.
TEXT_PARAMETERS = [
    ("/api/v1/applications/search", "q"),
    ("/api/v1/applications", "trigram"),
    ("/api/v1/applications/BCA", "fields"),
    ("/api/v1/entities", "q"),
    ("/api/v1/people", "q"),
    ("/api/v1/interfaces", "protocol"),
    ("/api/v1/search", "q"),
]


@pytest.mark.parametrize(("endpoint", "name"), TEXT_PARAMETERS)
def test_invalid_utf8_is_refused(client, referential, endpoint, name):
    response = get_raw(client, endpoint, f"{name}=%ff%fe")
    assert_problem(response, 400, f"Parameter {name!r} is not valid UTF-8 text.")


@pytest.mark.parametrize(("endpoint", "name"), TEXT_PARAMETERS)
@pytest.mark.parametrize("character", ["%00", "%07", "%1b"])
def test_control_characters_are_refused(client, referential, endpoint, name, character):
    response = get_raw(client, endpoint, f"{name}=a{character}b")
    assert_problem(response, 400, f"Parameter {name!r} contains control characters")


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/applications/BCA?page=2",
        "/api/v1/entities/DSI?page_size=5",
        "/api/v1/people/jdupont?page=1",
        "/api/v1/search?q=bca&page_size=5",
    ],
)
def test_paging_is_refused_where_there_is_nothing_to_page(client, referential, url):
    assert_problem(client.get(url), 400, "Unknown parameter 'page")


@pytest.mark.parametrize("endpoint", STRICT_ENDPOINTS)
def test_unknown_parameter_is_refused_with_the_allowed_ones(client, referential, endpoint):
    separator = "&" if "?" in endpoint else "?"
    body = assert_problem(client.get(f"{endpoint}{separator}colour=blue"), 400, "Unknown parameter 'colour'")
    assert "Allowed parameters:" in body["detail"]
    assert "colour" not in body["allowed"]


@pytest.mark.parametrize(
    ("endpoint", "available"),
    [
        ("/api/v1/applications", "trigram, name, status"),
        ("/api/v1/applications/BCA", "trigram, name, description"),
        ("/api/v1/entities", "code, name, kind, parent"),
        ("/api/v1/people", "login, name, email, entity"),
        ("/api/v1/interfaces", "source, target, protocol"),
    ],
)
def test_unknown_field_is_refused_with_the_available_ones(client, referential, endpoint, available):
    assert_problem(client.get(f"{endpoint}?fields=colour"), 400, "Unknown field 'colour'", available)


def test_trigram_filter_longer_than_seven_characters_is_refused(client, referential):
    assert_problem(client.get("/api/v1/applications?trigram=ABCDEFGH"), 400, "trigram must be at most 7 characters")


def test_trigram_filter_of_seven_characters_is_accepted_when_uppercase_is_longer(client, referential):
    """Found by schemathesis: `trigram=Qöäß8ûĥ` (7 characters, as the document allows) was refused as 8, the
    length of its uppercase (`ß` becomes `SS`)."""
    response = client.get("/api/v1/applications?trigram=Q%C3%B6%C3%A4%C3%9F8%C3%BB%C4%A5")
    assert response.status_code == 200
    assert response.get_json()["results"] == []


def test_unknown_trigram_suggests_close_trigrams(client, referential):
    body = assert_problem(
        client.get("/api/v1/applications/BCB"), 404, "No application has the trigram 'BCB'.", "Did you mean BCA"
    )
    assert body["suggestions"][0] == "BCA"


def test_unknown_trigram_without_close_ones_suggests_nothing(client, referential):
    body = assert_problem(client.get("/api/v1/applications/QQQ"), 404, "No application has the trigram 'QQQ'.")
    assert body["suggestions"] == []


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("/api/v1/entities/NOPE", "No entity has the code 'NOPE'."),
        ("/api/v1/people/nobody", "No person has the login 'nobody'."),
    ],
)
def test_unknown_key_is_not_found(client, referential, url, detail):
    assert_problem(client.get(url), 404, detail)


@pytest.mark.parametrize("url", ["/api/v1/applications/A%00B", "/api/v1/entities/A%00B", "/api/v1/people/a%00b"])
def test_nul_character_in_a_path_key_is_a_client_error(client, referential, url):
    assert_problem(client.get(url), 400, "The URL path contains control characters")


@pytest.mark.parametrize(("limit", "expected"), [("", 10), ("1.0", 1)])
def test_global_search_limit_empty_is_the_default_and_whole_decimals_count(client, referential, limit, expected):
    """Found by schemathesis: `limit=` (empty, which the document allows for every parameter) was refused with
    400, where every other parameter reads an empty value as no value; `limit=1.0` is the integer 1."""
    response = client.get(f"/api/v1/search?q=a&limit={limit}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert all(len(group["results"]) <= expected for group in list(response.get_json().values())[1:])


def test_global_search_without_query_is_refused(client, referential):
    assert_problem(client.get("/api/v1/search?q=%20"), 400, "q is required")


@pytest.mark.parametrize(
    "limit",
    [
        "0",
        "51",
        "ten",
        "-1",
        "%C2%B2",
    ],
)
def test_global_search_limit_out_of_range_is_refused(client, referential, limit):
    assert_problem(client.get(f"/api/v1/search?q=bca&limit={limit}"), 400, "limit must be a whole number from 1 to 50")


def test_unknown_api_path_is_a_problem(client, referential):
    assert_problem(client.get("/api/v1/servers"), 404)


def test_other_method_than_get_is_a_problem(client, referential):
    response = client.post("/api/v1/applications")
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_the_api_docs_page_answers_errors_as_pages(client):
    response = client.post("/api/docs", headers={"X-CSRF-Token": "x"})
    assert response.status_code == 405
    assert response.mimetype == "text/html"
