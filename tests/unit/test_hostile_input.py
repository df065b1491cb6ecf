"""Hostile input beyond files: what a browser or a script can put in a query string, a form, a JSON body, a path
or a header-bound value, page by page and endpoint by endpoint.

Each input gets a clear 4xx (a 400 page in the portal, problem+json on the API), or, where it is legitimately
plain text (a search for `' OR 1=1 --`), a normal answer in which it is text: escaped in HTML, never run as SQL,
never evaluated as a template. Whatever is refused writes nothing: every table is checksummed before and after.
"""

from __future__ import annotations

import io
import json
from urllib.parse import quote, urlsplit

import pytest
from markupsafe import escape
from sqlalchemy import select

from portal.applications.models import Application
from portal.applications.queries import ApplicationFilters
from portal.auth.models import ApiToken
from portal.changes.queries import ChangeFilters
from portal.conflicts.models import Conflict
from portal.conflicts.queries import ConflictFilters
from portal.core.access import Scope
from portal.core.api import LIST_PARAMETERS
from portal.entities.queries import EntityFilters
from portal.imports.models import ImportRun
from portal.imports.queries import RunFilters
from portal.interfaces.queries import InterfaceFilters
from portal.people.queries import PersonFilters
from tests.unit.builders import (
    add_stakeholder,
    make_application,
    make_entity,
    make_environment,
    make_interface,
    make_person,
    make_source,
    make_token,
    make_user,
    reindex,
)
from tests.unit.checksums import table_checksums
from tests.unit.conftest import CSRF_TOKEN, shared_session
from tests.unit.imports.runs import state
from tests.unit.imports.workbooks import workbook_bytes

# The tests share one referential, made once per module and engine: each runs in a savepoint, rolled back after it.
pytestmark = pytest.mark.usefixtures("module_connection")

PROBLEM = "application/problem+json"
SECRET_KEY = "test-secret-key"  # the unit tests' app's; `{{ config }}` evaluated would show it

# Text that is harmless as text and harmful if run: SQL, Jinja (evaluated, or breaking out of a raw block), HTML.
INJECTIONS = {
    "sql": "' OR 1=1 --",
    "template": "{{7*7}}",
    "template-config": "{% raw %}{{ config }}{% endraw %}",
    "script": "<script>alert(1)</script>",
}
HUGE = "x" * 100_000
PASSWORD = "correct horse battery"
# Written by a request now and then whatever it asks (a token's first use, a session's heartbeat): not compared.
BOOKKEEPING = ("api_token.last_used_at", "login_session.last_seen_at")


def checksums(session) -> dict[str, str]:
    return table_checksums(session, skip=BOOKKEEPING)


def assert_inert(page: str, value: str) -> None:
    """`value` is on the page as text at most: never as markup, never evaluated."""
    if "<" in value:
        assert value not in page
    assert SECRET_KEY not in page and "&lt;Config" not in page


def assert_error_page(response, status: int = 400) -> str:
    """An HTML error page (not a traceback, not JSON) of `status`."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def assert_problem(response, status: int = 400) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status
    return body


def get_raw(client, path: str, query_string: str, **options):
    """GET with the query string sent byte for byte (the test client would re-encode `%ff`)."""
    return client.get(path, environ_overrides={"QUERY_STRING": query_string}, **options)


def post_raw(client, path: str, body: bytes, **options):
    """POST an urlencoded form byte for byte."""
    return client.post(path, data=body, content_type="application/x-www-form-urlencoded", **options)


def urlencoded(fields: dict[str, str], raw: bytes = b"") -> bytes:
    """The form urlencoded, the CSRF token first, with `raw` (already encoded) appended."""
    encoded = "&".join(f"{quote(name)}={quote(value)}" for name, value in {"csrf_token": CSRF_TOKEN, **fields}.items())
    return encoded.encode() + (b"&" + raw if raw else b"")


@pytest.fixture(scope="module")
def shared_referential(app, module_connection) -> None:
    """DSI > DSI-PAY with the BCA (its owner, a server, an interface), a push source and an open conflict: made
    once per module and engine (see `module_connection`)."""
    with shared_session(app) as session:
        division = make_entity(session, "DSI", "Direction des Systèmes d'Information", kind="division")
        payments = make_entity(session, "DSI-PAY", "Paiements", parent=division)
        bca = make_application(session, "BCA", "Banque de Compensation", entity=payments)
        pay = make_application(session, "PAY", "Paie", entity=payments, status="build")
        add_stakeholder(session, bca, make_person(session, "jdupont", "Jean Dupont", entity=payments), "owner")
        make_environment(session, bca, "prod", servers=("par-lx-bca-p01",))
        make_interface(session, bca, pay, protocol="REST")
        make_source(session, "nifi", kind="push")
        make_application(session, "ZQA", "Zebra", entity=payments)
        state(session, make_source(session, "cmdb", precedence=60), "application", ("ZQA",), name="Zebra")
        state(session, make_source(session, "ldap", precedence=40), "application", ("ZQA",), name="Zebre")
        reindex(session)


@pytest.fixture
def referential(session, shared_referential) -> Conflict:
    """The referential's open conflict, in the test's session."""
    return session.scalars(select(Conflict)).one()


@pytest.fixture
def admin(login_as, referential):
    """A browser signed in as an admin, who may open every page and post every form."""
    return login_as("admin")


# --- Query strings of the portal's pages --------------------------------------------------------------------

# (page, a parameter it reads) for every page that reads its query string.
PAGE_PARAMETERS = [
    *(("/", name) for name in ApplicationFilters.PARAMETERS if name not in {"status", "environment", "role", "sort"}),
    ("/", "page"),
    ("/entities", "q"),
    ("/entities/DSI", "q"),
    *(("/conflicts", name) for name in ConflictFilters.PARAMETERS if name not in {"status", "object_type"}),
    ("/conflicts", "page"),
    ("/imports", "source"),
    ("/imports", "page"),
    ("/applications/BCA", "tab"),
    ("/applications/BCA/history", "before"),
    ("/people/jdupont", "q"),
    ("/export", "q"),
    ("/auth/login", "next"),
]


def by_path(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """The parameters of each page or endpoint: each test checks all of one page's (its data is built once)."""
    grouped: dict[str, list[str]] = {}
    for path, name in pairs:
        grouped.setdefault(path, []).append(name)
    return grouped


PAGES = by_path(PAGE_PARAMETERS)


@pytest.mark.parametrize("path", PAGES)
def test_invalid_utf8_or_nul_in_a_page_query_is_a_400_page(admin, session, path):
    before = checksums(session)
    for name in PAGES[path]:
        for raw in ("%ff%fe", "a%00b"):
            assert_error_page(get_raw(admin, path, f"{name}={raw}"))
    assert checksums(session) == before


@pytest.mark.parametrize("path", PAGES)
def test_invalid_utf8_in_a_page_query_is_an_inline_error_for_htmx(admin, path):
    for name in PAGES[path]:
        response = get_raw(admin, path, f"{name}=%ff%fe", headers={"HX-Request": "true"})
        assert response.status_code == 400, name
        assert "<html" not in response.get_data(as_text=True), name


@pytest.mark.parametrize("path", PAGES)
def test_injection_text_or_a_huge_value_in_a_page_query_is_inert(admin, session, path):
    before = checksums(session)
    for name in PAGES[path]:
        for value in [*INJECTIONS.values(), HUGE]:
            response = admin.get(path, query_string={name: value})
            assert response.status_code in (200, 302, 400), (name, value[:40])
            if value is not HUGE:
                assert_inert(response.get_data().decode(errors="replace"), value)  # the export is a workbook
    assert checksums(session) == before


@pytest.mark.parametrize("value", INJECTIONS.values(), ids=INJECTIONS.keys())
def test_search_shows_the_query_as_escaped_text(admin, value):
    page = admin.get("/", query_string={"q": value}).get_data(as_text=True)
    assert f'value="{escape(value)}"' in page


@pytest.mark.parametrize("path", ["/", "/entities/DSI"])
def test_sql_in_a_search_is_searched_for_and_finds_nothing(admin, path):
    page = admin.get(path, query_string={"q": INJECTIONS["sql"]}).get_data(as_text=True)
    assert 'href="/applications/BCA"' not in page and 'href="/applications/PAY"' not in page


def test_template_syntax_in_a_search_is_shown_not_evaluated(admin):
    page = admin.get("/", query_string={"q": "{{7*7}} {{ config.SECRET_KEY }}"}).get_data(as_text=True)
    assert "{{7*7}} {{ config.SECRET_KEY }}" in page
    assert SECRET_KEY not in page


@pytest.mark.parametrize("value", INJECTIONS.values(), ids=INJECTIONS.keys())
def test_injection_text_a_source_stored_is_escaped_where_a_search_highlights_it(admin, session, referential, value):
    bca = session.scalars(select(Application).where(Application.trigram == "BCA")).one()
    bca.description = f"Clearing {value} clearing"
    reindex(session)
    page = admin.get("/", query_string={"q": "clearing"}).get_data(as_text=True)
    assert "<mark>" in page  # the match is highlighted: markup around escaped text
    assert_inert(page, value)
    highlights = [
        match["highlight"]
        for result in admin.get("/api/v1/applications/search?q=clearing").get_json()["results"]
        for match in result.get("matches", [])
    ]
    assert highlights and all(value not in highlight or "<" not in value for highlight in highlights)


@pytest.mark.parametrize(
    "path",
    [
        "/applications/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/people/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/entities/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/applications/%7B%7B7*7%7D%7D",
        "/people/'%20OR%201=1%20--",
    ],
)
def test_injection_text_in_a_page_path_is_a_404_page_that_escapes_it(admin, session, path):
    before = checksums(session)
    page = assert_error_page(admin.get(path), 404)
    assert "<script>alert(1)" not in page.lower()
    assert checksums(session) == before


# --- Form bodies of the portal's pages ----------------------------------------------------------------------


@pytest.fixture
def forms(session, referential):
    """(path, role, a valid form, the field to poison) for every form of the portal, a user to administer."""
    user = make_user(session, "bob")
    return {
        "token": ("/account/tokens", "reader", {"name": "nightly", "scope": "read", "expires_in_days": "30"}, "name"),
        "source-create": ("/sources", "admin", {"name": "crm", "kind": "push", "precedence": "50"}, "description"),
        "source-update": ("/sources/nifi", "admin", {"precedence": "55", "description": "NiFi"}, "description"),
        "user": (f"/admin/users/{user.id}", "admin", {"role": "editor", "active": "1"}, "role"),
        "edit": ("/applications/BCA/edit", "editor", {"name": "Banque"}, "description"),
        "resolve": (f"/conflicts/{referential.id}/resolve", "steward", {"choice": "pin", "value": "Zebu"}, "note"),
        "login": ("/auth/login", "anonymous", {"login": "bob", "password": "secret"}, "login"),
    }


FORMS = ["token", "source-create", "source-update", "user", "edit", "resolve", "login"]


def anonymous_browser(app):
    """A browser that is not signed in but has been given a CSRF token, as the sign-in page gives one."""
    browser = app.test_client()
    with browser.session_transaction() as flask_session:
        flask_session["csrf_token"] = CSRF_TOKEN
    return browser


def browser_for(role: str, login_as, app, session):
    """A browser signed in with `role`, or an anonymous one."""
    return anonymous_browser(app) if role == "anonymous" else login_as(role)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("raw", [b"%ff%fe", b"\xff\xfe"], ids=["percent-encoded", "raw-bytes"])
def test_invalid_utf8_in_a_form_is_a_400_page(app, session, login_as, forms, form, raw):
    path, role, fields, poisoned = forms[form]
    browser = browser_for(role, login_as, app, session)
    before = checksums(session)
    response = post_raw(browser, path, urlencoded(fields, poisoned.encode() + b"=" + raw))
    assert_error_page(response)
    assert checksums(session) == before


@pytest.mark.parametrize("form", FORMS)
def test_nul_in_a_form_is_a_400_page(app, session, login_as, forms, form):
    path, role, fields, poisoned = forms[form]
    browser = browser_for(role, login_as, app, session)
    before = checksums(session)
    response = browser.post(path, data={"csrf_token": CSRF_TOKEN, **fields, poisoned: "a\x00b"})
    assert_error_page(response)
    assert checksums(session) == before


@pytest.mark.parametrize("form", FORMS)
def test_invalid_utf8_in_a_multipart_form_is_a_400_page(app, session, login_as, forms, form):
    path, role, fields, poisoned = forms[form]
    browser = browser_for(role, login_as, app, session)
    boundary = "hostile"
    parts = [(name, value.encode()) for name, value in {"csrf_token": CSRF_TOKEN, **fields}.items()]
    parts.append((poisoned, b"\xff\xfe"))
    body = (
        b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
            for name, value in parts
        )
        + f"--{boundary}--\r\n".encode()
    )
    before = checksums(session)
    response = browser.post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}")
    assert_error_page(response)
    assert checksums(session) == before


def test_nul_in_an_inline_edit_is_an_inline_error(login_as, session, referential):
    editor = login_as("editor")
    before = checksums(session)
    response = editor.post(
        "/applications/BCA/edit",
        data={"csrf_token": CSRF_TOKEN, "name": "Banque\x00"},
        headers={"HX-Request": "true", "HX-Target": "application-identity"},
    )
    assert response.status_code == 400
    assert "<html" not in response.get_data(as_text=True)
    assert checksums(session) == before


@pytest.mark.parametrize(
    ("form", "status"),
    [("token", 400), ("source-create", 400), ("user", 400), ("edit", 422), ("login", 401)],
)
def test_huge_value_in_a_form_is_refused_and_writes_nothing(app, session, login_as, forms, form, status):
    path, role, fields, _ = forms[form]
    browser = browser_for(role, login_as, app, session)
    field = {"token": "name", "source-create": "name", "user": "role", "edit": "name", "login": "login"}[form]
    before = checksums(session)
    response = browser.post(path, data={"csrf_token": CSRF_TOKEN, **fields, field: HUGE})
    assert response.status_code == status
    assert checksums(session) == before


def test_form_past_the_form_size_limit_is_refused_with_413(app, session, login_as, forms):
    path, role, fields, poisoned = forms["source-update"]
    browser = browser_for(role, login_as, app, session)
    before = checksums(session)
    big = "x" * (app.config["MAX_FORM_MEMORY_SIZE"] + 1)
    assert_error_page(browser.post(path, data={"csrf_token": CSRF_TOKEN, **fields, poisoned: big}), 413)
    assert checksums(session) == before


@pytest.mark.parametrize("value", INJECTIONS.values(), ids=INJECTIONS.keys())
def test_injection_text_as_a_token_name_is_kept_as_text_and_escaped(client, session, value):
    response = client.post("/account/tokens", data={"csrf_token": CSRF_TOKEN, "name": value, "scope": "read"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert str(escape(value)) in page
    assert_inert(page, value)
    assert session.scalars(select(ApiToken.name)).all() == [value]


@pytest.mark.parametrize("value", INJECTIONS.values(), ids=INJECTIONS.keys())
def test_injection_text_in_an_edit_is_saved_as_text_and_shown_escaped(login_as, session, referential, value):
    editor = login_as("editor")
    response = editor.post(
        "/applications/BCA/edit", data={"csrf_token": CSRF_TOKEN, "name": "Banque", "description": value}
    )
    assert response.status_code == 303
    session.expire_all()
    assert session.scalar(select(Application.description).where(Application.trigram == "BCA")) == value
    page = editor.get("/applications/BCA").get_data(as_text=True)
    assert str(escape(value)) in page
    assert_inert(page, value)


@pytest.mark.parametrize("value", INJECTIONS.values(), ids=INJECTIONS.keys())
def test_injection_text_as_a_source_name_is_refused(admin, session, value):
    before = checksums(session)
    response = admin.post("/sources", data={"csrf_token": CSRF_TOKEN, "name": value, "kind": "push", "precedence": "1"})
    assert response.status_code == 400
    assert_inert(response.get_data(as_text=True), value)
    assert checksums(session) == before


@pytest.mark.parametrize("value", INJECTIONS.values(), ids=INJECTIONS.keys())
def test_injection_text_as_a_sign_in_login_is_refused(app, session, value):
    make_user(session, "alice", password=PASSWORD)
    before = checksums(session)
    response = anonymous_browser(app).post(
        "/auth/login", data={"csrf_token": CSRF_TOKEN, "login": value, "password": "x"}
    )
    assert response.status_code == 401
    assert_inert(response.get_data(as_text=True), value)
    assert checksums(session) == before


# --- Redirects and headers that carry what the client sent ---------------------------------------------------

OFF_SITE = [
    "//evil.example",
    "https://evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "/\r\nSet-Cookie: stolen=1",
    "/\t/evil.example",
    "///evil.example",
    " //evil.example",
    "https:evil.example",
]


@pytest.mark.parametrize("next_url", OFF_SITE)
def test_sign_in_redirect_stays_on_site(app, session, next_url):
    make_user(session, "alice", password=PASSWORD)
    form = {"csrf_token": CSRF_TOKEN, "login": "alice", "password": PASSWORD, "next": next_url}
    response = anonymous_browser(app).post("/auth/login", data=form)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("next_url", OFF_SITE)
def test_signed_in_visit_of_the_sign_in_page_never_redirects_off_site(client, next_url):
    """Redirected home, or refused outright (400) when `next` holds control characters."""
    response = client.get("/auth/login", query_string={"next": next_url})
    assert response.status_code in (302, 400)
    assert response.headers.get("Location", "/") == "/"


@pytest.mark.parametrize("back", [*OFF_SITE, "/conflicts\r\nSet-Cookie: stolen=1", "/conflicts/../..//evil.example"])
def test_conflict_resolution_goes_back_on_site(login_as, referential, back):
    steward = login_as("steward")
    response = steward.post(
        f"/conflicts/{referential.id}/resolve", data={"csrf_token": CSRF_TOKEN, "choice": "keep", "back": back}
    )
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("/conflicts") and "\r" not in location and "\n" not in location


@pytest.mark.parametrize("fmt", ["csv\r\nSet-Cookie: stolen=1", "csv%0d%0aX: y", "../../portal/config.py", "csv\x00"])
def test_export_format_that_is_not_one_is_refused(client, session, referential, fmt):
    before = checksums(session)
    response = client.get("/export", query_string={"format": fmt})
    assert_error_page(response)
    assert "Set-Cookie" not in response.headers and "X" not in response.headers
    assert checksums(session) == before


@pytest.mark.parametrize("q", ['"; filename="evil.sh', "../../etc/passwd", "a\\b"])
def test_export_file_name_never_carries_the_query(client, referential, q):
    # Closed, so that the streamed export's session ends within the test's savepoint (`module_connection`).
    with client.get("/export", query_string={"q": q, "format": "csv"}) as response:
        disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="referentiel-applications-')
    assert disposition.endswith('.csv"') and "evil" not in disposition and "/" not in disposition


# --- Names that reach the file system or a header: static paths and uploaded file names ----------------------

STATIC_ESCAPES = [
    "/static/../portal/config.py",
    "/static/%2e%2e/portal/config.py",
    "/static/%2E%2E/portal/config.py",
    "/static/..%2fportal%2fconfig.py",
    "/static/%2e%2e%2fportal%2fconfig.py",
    "/static/..%5cportal%5cconfig.py",
    "/static/..\\portal\\config.py",
    "/static/....//portal/config.py",
    "/static/%252e%252e/portal/config.py",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/vendor/../../portal/config.py",
    "/static/%c0%ae%c0%ae/portal/config.py",
    "/static/portal.css%00.py",
]


@pytest.mark.parametrize("path", STATIC_ESCAPES)
def test_static_path_outside_the_folder_is_refused(anonymous_client, path):
    response = anonymous_client.get(path, follow_redirects=True)  # `//` is redirected to `/`, inside the folder
    assert response.status_code in (400, 404)
    assert all(urlsplit(seen.request.url).netloc == "localhost" for seen in response.history)
    body = response.get_data()
    assert b"DEFAULTS" not in body and b"root:" not in body


@pytest.mark.parametrize("path", STATIC_ESCAPES)
def test_static_path_outside_the_folder_is_refused_byte_for_byte(app, anonymous_client, path):
    """As a proxy passes it on, without the test client's own normalisation."""
    response = anonymous_client.get(
        "/", environ_overrides={"PATH_INFO": path.encode().decode("latin-1")}, follow_redirects=True
    )
    assert response.status_code in (400, 404)
    assert b"DEFAULTS" not in response.get_data()


def upload(client, filename: str, data: bytes | None = None):
    workbook = data or workbook_bytes({"Applications": [["Trigram", "Name"], ["ZQB", "Zebu"]]})
    form = {"source": "workbook", "csrf_token": CSRF_TOKEN, "file": (io.BytesIO(workbook), filename)}
    return client.post("/imports", data=form, content_type="multipart/form-data")


@pytest.mark.parametrize(
    ("filename", "kept"),
    [
        ("../../../etc/passwd.xlsx", "passwd.xlsx"),
        ("/tmp/stewards.xlsx", "stewards.xlsx"),
        ("..\\..\\windows\\win.xlsx", "win.xlsx"),
        ("C:\\Users\\jdupont\\Desktop\\stewards.xlsx", "stewards.xlsx"),
    ],
)
def test_upload_keeps_no_folder_in_the_name_of_its_file(admin, session, filename, kept):
    response = upload(admin, filename)
    assert response.status_code == 303
    session.expire_all()
    [stored] = session.scalars(select(ImportRun.filename).where(ImportRun.filename.is_not(None))).all()
    # Werkzeug reads a backslash in the multipart header as an escape and drops it: `C:Users...stewards.xlsx`.
    assert stored.endswith(kept) and "/" not in stored and "\\" not in stored


@pytest.mark.parametrize(
    "filename", ["stewards\r\nSet-Cookie: stolen=1.xlsx", "stewards\x00.xlsx", "a\x1b[31m.xlsx", "..", "/"]
)
def test_upload_whose_file_name_is_not_a_name_is_refused(admin, session, filename):
    before = checksums(session)
    response = upload(admin, filename)
    assert_error_page(response)
    assert checksums(session) == before


@pytest.mark.parametrize("value", INJECTIONS.values(), ids=INJECTIONS.keys())
def test_upload_file_name_is_shown_as_text(admin, session, value):
    response = upload(admin, f"{value}.xlsx", data=b"not a workbook")
    page = assert_error_page(response)
    assert str(escape(f"{value}.xlsx".rsplit("/", 1)[-1])) in page  # `</script>` holds a folder separator
    assert_inert(page, value)


def test_error_workbook_of_a_run_with_a_hostile_file_name_gets_a_safe_download_name(admin, session):
    bad = workbook_bytes({"Applications": [["Trigram", "Name", "Status"], ["ZQB", "Zebu", "dancing"]]})
    response = upload(admin, "stewards.xlsx", data=bad)
    run = session.get(ImportRun, int(response.headers["Location"].rsplit("/", 1)[1]))
    run.filename = "../evil\r\nSet-Cookie: stolen=1\x1b.xlsx"  # as an older release, or `flask import`, stored it
    session.flush()
    download = admin.get(f"/imports/{run.id}/errors.xlsx")
    assert download.status_code == 200
    disposition = download.headers["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition and "/" not in disposition
    assert "Set-Cookie" not in download.headers


# --- Numbers too large for the database (SQLite binds 64 bits at most) --------------------------------------

HUGE_NUMBER = "9" * 30


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", f"/imports/{HUGE_NUMBER}"),
        ("get", f"/imports/{HUGE_NUMBER}/errors.xlsx"),
        ("post", f"/imports/{HUGE_NUMBER}/apply"),
        ("post", f"/imports/{HUGE_NUMBER}/cancel"),
        ("post", f"/conflicts/{HUGE_NUMBER}/resolve"),
        ("post", f"/admin/users/{HUGE_NUMBER}"),
        ("post", f"/account/tokens/{HUGE_NUMBER}/revoke"),
        ("get", f"/api/v1/imports/{HUGE_NUMBER}"),
    ],
)
def test_huge_id_in_a_path_is_not_found(admin, session, method, path):
    before = checksums(session)
    response = getattr(admin, method)(path, data={"csrf_token": CSRF_TOKEN} if method == "post" else None)
    assert response.status_code == 404
    assert checksums(session) == before


@pytest.mark.parametrize(
    "url",
    [
        f"/api/v1/changes?run={HUGE_NUMBER}",
        f"/applications/BCA/history?before={HUGE_NUMBER}",
        f"/conflicts?page={HUGE_NUMBER}",
        f"/imports?page={HUGE_NUMBER}",
        f"/?page={HUGE_NUMBER}",
        f"/api/v1/applications?page={HUGE_NUMBER}",
        f"/api/v1/search?q=bca&limit={HUGE_NUMBER}",
        f"/api/v1/changes?run={'9' * 5000}",  # int() refuses more than 4,300 digits
        f"/api/v1/entities?page={'0' * 5000}1",
        f"/applications/BCA/history?before={'9' * 5000}",
    ],
    ids=lambda url: url[:60],
)
def test_huge_number_in_a_query_is_refused_or_shows_nothing_more(admin, session, url):
    before = checksums(session)
    assert admin.get(url).status_code in (200, 400)
    assert checksums(session) == before


# --- The API's query strings ---------------------------------------------------------------------------------

LIST_ENDPOINTS = [
    "/api/v1/applications",
    "/api/v1/applications/search",
    "/api/v1/entities",
    "/api/v1/people",
    "/api/v1/interfaces",
    "/api/v1/changes",
    "/api/v1/conflicts",
    "/api/v1/imports",
]
# (endpoint, a filter it takes) for every list endpoint.
API_FILTERS = [
    *(("/api/v1/applications", name) for name in ApplicationFilters.PARAMETERS),
    *(("/api/v1/applications/search", name) for name in ApplicationFilters.PARAMETERS),
    *(("/api/v1/entities", name) for name in EntityFilters.PARAMETERS),
    *(("/api/v1/people", name) for name in PersonFilters.PARAMETERS),
    *(("/api/v1/interfaces", name) for name in InterfaceFilters.PARAMETERS),
    *(("/api/v1/changes", name) for name in ChangeFilters.PARAMETERS),
    *(("/api/v1/conflicts", name) for name in ConflictFilters.PARAMETERS),
    *(("/api/v1/imports", name) for name in RunFilters.PARAMETERS),
    *((endpoint, name) for endpoint in LIST_ENDPOINTS for name in LIST_PARAMETERS),
    ("/api/v1/search", "q"),
    ("/api/v1/sources", "fields"),
]


ENDPOINTS = by_path(API_FILTERS)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_invalid_utf8_or_nul_in_an_api_filter_is_a_problem(admin, session, endpoint):
    before = checksums(session)
    for name in ENDPOINTS[endpoint]:
        for raw in ("%ff%fe", "a%00b"):
            assert_problem(get_raw(admin, endpoint, f"{name}={raw}"))
    assert checksums(session) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_hostile_text_in_an_api_filter_finds_nothing_or_is_a_problem(admin, session, endpoint):
    before = checksums(session)
    for name in ENDPOINTS[endpoint]:
        for value in [*INJECTIONS.values(), HUGE]:
            response = admin.get(endpoint, query_string={name: value})
            if response.status_code == 200:
                body = response.get_json()
                assert body.get("count", len(body.get("results", []))) == 0, (name, value[:40])
            else:
                assert_problem(response)
            assert SECRET_KEY not in response.get_data(as_text=True)
    assert checksums(session) == before


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/applications/'%20OR%201=1%20--",
        "/api/v1/applications/%7B%7B7*7%7D%7D",
        "/api/v1/entities/%3Cscript%3E",
        "/api/v1/people/'%20OR%20'1'='1",
        "/api/v1/sources/..%2f..%2fetc%2fpasswd",
        "/api/v1/imports/1%20OR%201=1",
    ],
)
def test_injection_text_in_an_api_path_is_not_found(admin, session, path):
    before = checksums(session)
    assert_problem(admin.get(path), 404)
    assert checksums(session) == before


# --- The push API's bodies -----------------------------------------------------------------------------------

PUSH = "/api/v1/sources/nifi/records"


@pytest.fixture
def pusher(session, referential):
    _, secret = make_token(session, make_user(session, "svc-nifi", "steward"), Scope.INGEST)
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'[{"type": "application", "trigram": "ZQC", "name": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b"}]",
        b'[{"type": "application", "trigram": "ZQC", "name": "\xff\xfe"}]',
        b'[{"type": "application", "trigram": "ZQC", "name": "Zebu"}]\x00',
        b"\xef\xbb\xbf\xff",
        b'[{"type": "application", "trigram": "ZQC", "name": "\\ud800"}]',
    ],
    ids=["deep-arrays", "deep-objects", "invalid-utf8", "trailing-nul", "bom-then-garbage", "lone-surrogate"],
)
def test_unreadable_push_body_is_a_problem_and_writes_nothing(anonymous_client, session, pusher, body):
    before = checksums(session)
    response = anonymous_client.post(PUSH, data=body, headers={**pusher, "Content-Type": "application/json"})
    assert_problem(response, 400)
    assert checksums(session) == before


@pytest.mark.parametrize(
    "record",
    [
        {"type": "application", "trigram": "ZQC", "name": "a\x00b"},
        {"type": "application", "trigram": "Z\x00C", "name": "Zebu"},
        {"type": "application\x00", "trigram": "ZQC", "name": "Zebu"},
        {"type": "application", "trigram": "ZQC", "name\x00": "Zebu"},
        {"type": "application", "trigram": "ZQC", "name": HUGE},
        {"type": "application", "trigram": INJECTIONS["sql"], "name": "Zebu"},
        {"type": "application", "trigram": "ZQC", "name": "Zebu", "status": INJECTIONS["sql"]},
    ],
    ids=["nul-value", "nul-key", "nul-type", "nul-field-name", "huge-value", "sql-key", "sql-status"],
)
def test_hostile_push_record_is_refused_and_applies_nothing(anonymous_client, session, pusher, record):
    before = checksums_but_runs(session)
    response = anonymous_client.post(PUSH, json=[record], headers=pusher)
    assert response.status_code in (400, 422), response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    assert session.scalar(select(Application.id).where(Application.trigram == "ZQC")) is None
    assert checksums_but_runs(session) == before


def checksums_but_runs(session) -> dict[str, str]:
    """A refused batch is recorded as a failed run (so that a replay of its key answers the same), and its source
    as having run: everything else must be as it was."""
    return table_checksums(session, skip=(*BOOKKEEPING, "import_run", "source.last_run_at", "source.updated_at"))


@pytest.mark.parametrize("value", INJECTIONS.values(), ids=INJECTIONS.keys())
def test_injection_text_pushed_as_a_value_is_stored_as_text(anonymous_client, session, pusher, value):
    response = anonymous_client.post(
        PUSH, json=[{"type": "application", "trigram": "ZQC", "name": "Zebu", "description": value}], headers=pusher
    )
    assert response.status_code == 200, response.get_json()
    assert session.scalar(select(Application.description).where(Application.trigram == "ZQC")) == value


def test_push_sent_with_curls_default_form_type_is_read_as_json(anonymous_client, session, pusher):
    """`curl -d @batch.json` sends `application/x-www-form-urlencoded`: the portal's form checks leave API bodies
    alone, so the batch is read as JSON as before."""
    body = json.dumps([{"type": "application", "trigram": "ZQC", "name": "Zebu"}]).encode()
    response = post_raw(anonymous_client, PUSH, body, headers=pusher)
    assert response.status_code == 200, response.get_json()
    assert session.scalar(select(Application.name).where(Application.trigram == "ZQC")) == "Zebu"


@pytest.mark.parametrize(
    "query",
    [
        "mode=%ff",
        "partial=a%00",
        "snapshot=1%20OR%201=1",
        "snapshot=%ff",
        f"snapshot={HUGE_NUMBER}",
        "snapshot=" + "9" * 5000,
    ],
    ids=["mode-utf8", "partial-nul", "snapshot-sql", "snapshot-utf8", "snapshot-huge", "snapshot-5000-digits"],
)
def test_hostile_push_parameter_is_a_problem(anonymous_client, session, pusher, query):
    before = checksums(session)
    response = anonymous_client.post(
        PUSH,
        data=json.dumps([{"type": "application", "trigram": "ZQC", "name": "Zebu"}]),
        headers={**pusher, "Content-Type": "application/json"},
        environ_overrides={"QUERY_STRING": query},
    )
    assert response.status_code in (400, 404)
    assert response.mimetype == PROBLEM
    assert checksums(session) == before


# (A line break cannot be sent in a header: the test client refuses it, as any HTTP server would.)
@pytest.mark.parametrize("key", ["a\x00b", "a\tb", "a b", "x" * 201])
def test_hostile_idempotency_key_is_a_problem(anonymous_client, session, pusher, key):
    before = checksums(session)
    headers = {**pusher, "Idempotency-Key": key}
    response = anonymous_client.post(
        PUSH, json=[{"type": "application", "trigram": "ZQC", "name": "Z"}], headers=headers
    )
    assert_problem(response, 400)
    assert checksums(session) == before
