"""The export of the current search to xlsx, csv and json, as a signed-in reader downloads it."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import tracemalloc
import zipfile
from datetime import date, datetime

import pytest
from flask import has_app_context
from openpyxl import load_workbook
from sqlalchemy import insert, select, text

from portal import create_app
from portal.applications.export import CHUNK_SIZE, application_cells, neutralise
from portal.applications.models import Application
from portal.applications.queries import (
    FilterShape,
    select_application_rows,
    select_environment_rows,
    select_stakeholder_rows,
)
from portal.environments.models import Environment
from portal.extensions import build_engine, db
from portal.migrate import upgrade
from portal.people.models import Stakeholder
from tests.unit.builders import (
    add_stakeholder,
    make_application,
    make_entity,
    make_environment,
    make_login_session,
    make_person,
    make_user,
    reindex,
)
from tests.unit.conftest import empty_database

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
APPLICATION_HEADERS = [
    "Trigram",
    "Name",
    "Description",
    "Status",
    "Criticality",
    "Entity",
    "Go-live",
    "End of support",
    "Decommission",
    "Tags",
    "Documentation URL",
]


@pytest.fixture
def referential(session):
    """BCA (under DSI > DSI-PAY) and BCA2 (under DSI) with people and environments; XYZ (retired) and MKA
    under another division, MKT."""
    division = make_entity(session, "DSI", "Direction des Systèmes d'Information", kind="division")
    payments = make_entity(session, "DSI-PAY", "Équipe Paiements", parent=division)
    markets = make_entity(session, "MKT", "Marchés", kind="division")
    bca = make_application(
        session,
        "BCA",
        "Banque de Compensation Automatisée",
        entity=payments,
        description="Clearing of payments",
        criticality="critical",
        go_live_date=date(2012, 3, 1),
        end_of_support_date=date(2030, 12, 31),
        tags="payments, clearing",
        documentation_url="https://wiki.bank.example/bca",
    )
    bca2 = make_application(session, "BCA2", "Banque de Compensation v2", entity=division, status="build")
    make_application(session, "XYZ", "Gestion des habilitations", status="retired", entity=markets)
    make_application(session, "MKA", "Market Analytics", entity=markets)
    owner = make_person(session, "jdupont", "Jean Dupont")
    support = make_person(session, "mmartin", "Marie Martin")
    add_stakeholder(session, bca, support, "support")
    add_stakeholder(session, bca, owner, "owner")
    add_stakeholder(session, bca2, owner, "tech_lead")
    make_environment(session, bca, "uat", url="https://bca-uat.intranet.bank.example")
    make_environment(session, bca, "prod", url="https://bca.intranet.bank.example")
    make_environment(session, bca2, "dev")
    reindex(session)
    return bca


def workbook_of(response):
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == XLSX
    return load_workbook(io.BytesIO(response.get_data()))


def values(worksheet):
    return [list(row) for row in worksheet.iter_rows(values_only=True)]


def trigrams_of(worksheet):
    return [row[0] for row in values(worksheet)[1:]]


def csv_rows(response):
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_export_xlsx_has_the_workbook_sheets_and_headers(client, referential):
    workbook = workbook_of(client.get("/export?format=xlsx"))
    assert workbook.sheetnames == ["Applications", "Stakeholders", "Environments"]
    assert values(workbook["Applications"])[0] == APPLICATION_HEADERS
    assert values(workbook["Stakeholders"])[0] == ["Trigram", "Login", "Role", "Name", "Email"]
    assert values(workbook["Environments"])[0] == ["Trigram", "Environment", "Name", "URL", "Status"]


def test_export_xlsx_writes_every_column_of_an_application(client, referential):
    rows = values(workbook_of(client.get("/export?trigram=bca&format=xlsx"))["Applications"])
    assert rows[1] == [
        "BCA",
        "Banque de Compensation Automatisée",
        "Clearing of payments",
        "production",
        "critical",
        "DSI-PAY",
        datetime(2012, 3, 1),
        datetime(2030, 12, 31),
        None,
        "payments, clearing",
        "https://wiki.bank.example/bca",
    ]


def test_export_xlsx_dates_are_real_excel_dates(client, referential):
    response = client.get("/export?trigram=bca&format=xlsx")
    go_live = workbook_of(response)["Applications"]["G2"]
    assert go_live.is_date and go_live.number_format == "yyyy-mm-dd"
    # Stored as Excel stores a date: a serial number of days (2012-03-01 is 40969), not text.
    with zipfile.ZipFile(io.BytesIO(response.get_data())) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    assert re.search(r'<c r="G2" [^>]*t="n"[^>]*><v>40969</v></c>', sheet)


def test_export_xlsx_header_is_bold_frozen_and_filtered(client, referential):
    workbook = workbook_of(client.get("/export?format=xlsx"))
    expected_filters = {"Applications": "A1:K5", "Stakeholders": "A1:E4", "Environments": "A1:E4"}
    for name, reference in expected_filters.items():
        sheet = workbook[name]
        assert sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref == reference
        assert all(cell.font.b for cell in sheet[1])
        assert sheet.column_dimensions["B"].width >= 12


def test_export_without_query_exports_every_page_in_trigram_order(client, referential):
    response = client.get("/export?page=2&page_size=1&format=xlsx")
    assert trigrams_of(workbook_of(response)["Applications"]) == ["BCA", "BCA2", "MKA", "XYZ"]


def test_export_follows_the_sort(client, referential):
    response = client.get("/export?sort=-name&format=xlsx")
    assert trigrams_of(workbook_of(response)["Applications"]) == ["MKA", "XYZ", "BCA2", "BCA"]


def test_export_with_query_keeps_the_search_order(client, referential):
    searched = client.get("/api/v1/applications/search?q=compensation&page_size=500").get_json()["results"]
    exported = trigrams_of(workbook_of(client.get("/export?q=compensation&format=xlsx"))["Applications"])
    assert exported == [item["trigram"] for item in searched]
    assert set(exported) == {"BCA", "BCA2"}


def test_export_with_query_ranks_exact_trigram_first(client, referential):
    exported = trigrams_of(workbook_of(client.get("/export?Q=bca2&format=xlsx"))["Applications"])
    assert exported[0] == "BCA2"


def test_export_applies_status_filter(client, referential):
    exported = trigrams_of(workbook_of(client.get("/export?status=production,build&format=xlsx"))["Applications"])
    assert exported == ["BCA", "BCA2", "MKA"]


def test_export_applies_entity_filter_to_the_whole_subtree(client, referential):
    exported = trigrams_of(workbook_of(client.get("/export?Entity=dsi&format=xlsx"))["Applications"])
    assert exported == ["BCA", "BCA2"]


def test_export_lists_stakeholders_and_environments_of_exported_applications_only(client, referential):
    workbook = workbook_of(client.get("/export?sort=-trigram&entity=DSI&format=xlsx"))
    assert values(workbook["Stakeholders"])[1:] == [
        ["BCA2", "jdupont", "tech_lead", "Jean Dupont", "jdupont@bank.example"],
        ["BCA", "jdupont", "owner", "Jean Dupont", "jdupont@bank.example"],
        ["BCA", "mmartin", "support", "Marie Martin", "mmartin@bank.example"],
    ]
    assert values(workbook["Environments"])[1:] == [
        ["BCA2", "dev", "DEV", None, "active"],
        ["BCA", "uat", "UAT", "https://bca-uat.intranet.bank.example", "active"],
        ["BCA", "prod", "PROD", "https://bca.intranet.bank.example", "active"],
    ]


def test_export_of_nothing_is_a_workbook_with_headers_only(client, referential):
    workbook = workbook_of(client.get("/export?q=nothingmatchesthis&format=xlsx"))
    assert values(workbook["Applications"]) == [APPLICATION_HEADERS]
    assert workbook["Applications"].auto_filter.ref == "A1:K1"


@pytest.fixture
def formulas(session):
    application = make_application(
        session,
        "EVL",
        '=HYPERLINK("https://evil.example","Click")',
        description="-1+2",
        tags="@SUM(A1), \tsafe",
        documentation_url="+33 1 23",
        go_live_date=date(2020, 1, 2),
    )
    make_environment(session, application, "prod", name="=cmd|' /C calc'!A0", url="\rhttps://evil.example")
    add_stakeholder(session, application, make_person(session, "evil", "=1+1"))
    reindex(session)
    return application


def test_export_xlsx_neutralises_formula_text(client, formulas):
    workbook = workbook_of(client.get("/export?format=xlsx"))
    application = values(workbook["Applications"])[1]
    assert application[1] == '\'=HYPERLINK("https://evil.example","Click")'
    assert application[2] == "'-1+2"
    assert application[9] == "'@SUM(A1), safe"
    assert application[10] == "'+33 1 23"
    assert application[6] == datetime(2020, 1, 2)  # dates stay typed
    assert values(workbook["Stakeholders"])[1][3] == "'=1+1"
    name, url = values(workbook["Environments"])[1][2:4]
    assert name == "'=cmd|' /C calc'!A0"
    assert url.startswith("'") and url.endswith("https://evil.example")  # XML reads the \r back as \n
    for sheet in workbook:
        assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_export_csv_neutralises_formula_text(client, formulas):
    row = csv_rows(client.get("/export?format=csv"))[1]
    assert row[1] == '\'=HYPERLINK("https://evil.example","Click")'
    assert row[2] == "'-1+2"
    assert row[6] == "2020-01-02"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("a=1", "a=1"),
        ("", ""),
        (None, None),
        (date(2020, 1, 2), date(2020, 1, 2)),
        (-1, -1),
    ],
)
def test_neutralise_prefixes_only_text_that_starts_like_a_formula(value, expected):
    assert neutralise(value) == expected


def test_export_csv_is_the_applications_sheet_in_utf8_with_bom(client, referential):
    response = client.get("/export?entity=DSI&format=csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    rows = csv_rows(response)
    assert rows[0] == APPLICATION_HEADERS
    assert rows[1] == [
        "BCA",
        "Banque de Compensation Automatisée",
        "Clearing of payments",
        "production",
        "critical",
        "DSI-PAY",
        "2012-03-01",
        "2030-12-31",
        "",
        "payments, clearing",
        "https://wiki.bank.example/bca",
    ]
    assert [row[0] for row in rows[1:]] == ["BCA", "BCA2"]


def test_export_json_is_an_array_of_applications_with_snake_case_keys(client, referential):
    response = client.get("/export?entity=DSI&format=json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    items = json.loads(response.get_data())
    assert items[0] == {
        "trigram": "BCA",
        "name": "Banque de Compensation Automatisée",
        "description": "Clearing of payments",
        "status": "production",
        "criticality": "critical",
        "entity": "DSI-PAY",
        "go_live": "2012-03-01",
        "end_of_support": "2030-12-31",
        "decommission": None,
        "tags": ["payments", "clearing"],
        "documentation_url": "https://wiki.bank.example/bca",
    }
    assert [item["trigram"] for item in items] == ["BCA", "BCA2"]


def test_export_json_and_csv_hold_the_same_applications_as_the_workbook(client, referential):
    query = "/export?q=banque&status=production,build"
    workbook = trigrams_of(workbook_of(client.get(f"{query}&format=xlsx"))["Applications"])
    from_csv = [row[0] for row in csv_rows(client.get(f"{query}&format=csv"))[1:]]
    from_json = [item["trigram"] for item in json.loads(client.get(f"{query}&format=json").get_data())]
    assert workbook == from_csv == from_json and workbook


def test_export_of_nothing_is_an_empty_json_array(client, referential):
    assert json.loads(client.get("/export?status=plan&format=json").get_data()) == []


@pytest.mark.parametrize(
    ("format_", "content_type"),
    [("xlsx", XLSX), ("csv", "text/csv; charset=utf-8"), ("json", "application/json")],
)
def test_export_is_a_dated_download_never_cached(client, referential, format_, content_type):
    response = client.get(f"/export?q=bca&format={format_}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert re.fullmatch(
        rf'attachment; filename="referentiel-applications-\d{{8}}-\d{{4}}\.{format_}"',
        response.headers["Content-Disposition"],
    )
    assert response.headers["Cache-Control"] == "no-store"
    assert response.is_streamed


def test_export_filename_ignores_what_the_query_says(client, referential):
    response = client.get("/export?q=%22%0D%0AX-Evil:%201&format=csv")
    # Control characters are refused outright; a quote in the query never reaches the header.
    assert response.status_code == 400
    response = client.get('/export?q=a"b;filename=x.exe&format=csv')
    assert re.fullmatch(
        r'attachment; filename="referentiel-applications-\d{8}-\d{4}\.csv"', response.headers["Content-Disposition"]
    )


def test_export_is_xlsx_when_no_format_is_given(client, referential):
    response = client.get("/export?trigram=BCA")
    assert response.mimetype == XLSX
    assert response.headers["Content-Disposition"].endswith('.xlsx"')


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("format=pdf", "Unknown format 'pdf'. Allowed values: xlsx, csv, json."),
        ("format=csv&format=json", "format must be given once."),
        ("q=bca&colour=red", "Unknown parameter 'colour'."),
        ("status=sleeping", "Unknown status 'sleeping'."),
        ("sort=size", "Unknown sort 'size'."),
    ],
)
def test_export_refuses_bad_input_with_a_clear_message(client, referential, query, message):
    response = client.get(f"/export?{query}")
    assert response.status_code == 400
    assert "Content-Disposition" not in response.headers
    assert response.mimetype == "text/html"
    assert message in html.unescape(response.get_data(as_text=True))


def test_export_answers_problem_json_to_a_client_that_prefers_json(client, referential):
    response = client.get("/export?format=pdf", headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["allowed"] == ["xlsx", "csv", "json"]


def test_export_requires_sign_in(anonymous_client, referential):
    response = anonymous_client.get("/export?format=csv")
    assert response.status_code in {302, 303, 401}
    assert "Content-Disposition" not in response.headers


def bulk_applications(session, count, entity=None):
    session.execute(
        insert(Application),
        [
            {
                "trigram": f"B{index:05d}",
                "name": f"Bulk application number {index}",
                "description": f"Application {index}: " + "clears, settles and reports payments. " * 4,
                "status": "production",
                "criticality": "medium",
                "entity_id": entity.id if entity else None,
                "go_live_date": date(2015, 1, 1),
                "tags": "bulk, payments",
                "documentation_url": f"https://wiki.bank.example/b{index:05d}",
            }
            for index in range(count)
        ],
    )


@pytest.fixture
def app_of_its_own(database_url, engine, tmp_path):
    """An application on a database of its own, whose data tests commit: no test transaction wraps its
    requests and no test holds an application context, so Flask tears every request down (closing its
    database session) as soon as the view returns, before a streamed body is read, as in production."""
    kind = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    with empty_database(kind, tmp_path) as url:
        upgrade_engine = build_engine(url)
        upgrade(upgrade_engine)
        upgrade_engine.dispose()
        app = create_app({"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "test-secret-key"})
        try:
            yield app
        finally:
            if db.engine is not None:
                db.engine.dispose()
            db.use(engine)


@pytest.mark.parametrize("format_", ["csv", "json"])
def test_export_keeps_streaming_after_flask_tears_the_request_down(app_of_its_own, format_):
    count = CHUNK_SIZE * 2 + 10
    with app_of_its_own.app_context():
        bulk_applications(db.session, count)
        key = make_login_session(db.session, make_user(db.session, "reader"))
        db.session.commit()
    browser = app_of_its_own.test_client()
    with browser.session_transaction() as flask_session:
        flask_session["_user_id"] = key
    assert not has_app_context()
    response = browser.get(f"/export?format={format_}")
    try:
        body = b"".join(response.response)
    finally:
        response.close()
    if format_ == "csv":
        exported = [row[0] for row in csv.reader(io.StringIO(body.decode("utf-8-sig")))][1:]
    else:
        exported = [item["trigram"] for item in json.loads(body)]
    assert exported == [f"B{index:05d}" for index in range(count)]


# Memory: the export streams, so its peak does not grow with the number of applications.

MANY = 5_000


@pytest.fixture
def many_applications(session):
    """MANY applications with a description, a stakeholder and an environment each, bulk inserted."""
    entity = make_entity(session, "DSI-BULK", "Bulk")
    bulk_applications(session, MANY, entity)
    if session.get_bind().dialect.name == "postgresql":
        # Fresh statistics, or the foreign-key checks of the inserts below may scan the whole table.
        session.execute(text("ANALYZE application"))
    owner = make_person(session, "bulk-owner")
    ids = list(session.scalars(select(Application.id).where(Application.entity_id == entity.id)))
    session.execute(
        insert(Stakeholder), [{"application_id": id_, "person_id": owner.id, "role": "owner"} for id_ in ids]
    )
    session.execute(
        insert(Environment),
        [{"application_id": id_, "kind": "prod", "name": "PROD", "url": f"https://{id_}.bank.example"} for id_ in ids],
    )
    return ids


def materialised_peak(session):
    """Peak memory of holding every exported row at once: the flat rows (no ORM objects, the cheapest
    way to materialise them) and the values of one line each, as a writer that does not stream would."""
    tracemalloc.start()
    try:
        rows = list(session.execute(select_application_rows(FilterShape())))
        ids = [row.id for row in rows]
        stakeholders = list(session.execute(select_stakeholder_rows(), {"application_ids": ids}))
        environments = list(session.execute(select_environment_rows(), {"application_ids": ids}))
        cells = [application_cells(row) for row in rows]
        assert (len(cells), len(stakeholders), len(environments)) == (MANY, MANY, MANY)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def streamed_peak(client, format_, target):
    """Peak memory while downloading the whole export piece by piece into the file `target`."""
    tracemalloc.start()
    try:
        with target.open("wb") as file:
            response = client.get(f"/export?format={format_}")
            assert response.status_code == 200 and response.is_streamed
            for piece in response.response:
                file.write(piece)
            response.close()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def exported_trigrams(format_, path):
    if format_ == "xlsx":
        workbook = load_workbook(path, read_only=True)
        try:
            return [row[0] for row in workbook["Applications"].iter_rows(min_row=2, values_only=True)]
        finally:
            workbook.close()
    if format_ == "csv":
        return [row[0] for row in csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig")))][1:]
    return [item["trigram"] for item in json.loads(path.read_bytes())]


@pytest.mark.parametrize("format_", ["xlsx", "csv", "json"])
def test_export_of_many_applications_streams_in_flat_memory(client, session, many_applications, format_, tmp_path):
    client.get(f"/export?trigram=B00001&format={format_}").close()  # warm up: imports, compiled statements
    materialised = materialised_peak(session)
    peak = streamed_peak(client, format_, tmp_path / f"export.{format_}")
    print(f"{format_}: materialised peak {materialised / 1e6:.1f} MB, streamed peak {peak / 1e6:.1f} MB")
    assert exported_trigrams(format_, tmp_path / f"export.{format_}") == [f"B{index:05d}" for index in range(MANY)]
    # The export holds one chunk of rows at a time (CHUNK_SIZE, a tenth of them here) plus fixed costs
    # (openpyxl's writer, a spooled workbook of at most 1 MB, the test client), where holding every row
    # grows with their number: streaming must stay well under half of it (it measures about a fifth).
    assert CHUNK_SIZE * 10 == MANY
    assert peak < materialised / 2
