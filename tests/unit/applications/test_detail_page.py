"""The application page, `/applications/<trigram>`, as a signed-in reader sees it."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta

from flask import Flask

from portal.core.navigation import optional_url
from tests.unit.builders import (
    add_stakeholder,
    make_application,
    make_entity,
    make_environment,
    make_interface,
    make_person,
)
from tests.unit.statements import count_statements

# Enough for the sign-in check and the page's eager loads; what matters is that it does not grow.
STATEMENT_BOUND = 20


def page_of(client, trigram: str, status: int = 200) -> str:
    response = client.get(f"/applications/{trigram}")
    assert response.status_code == status
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def section(page: str, start: str, end: str) -> str:
    """The markup from `id="start"` up to `id="end"`."""
    return page[page.index(f'id="{start}"') : page.index(f'id="{end}"')]


def text_of(markup: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", markup))).strip()


def copied(markup: str) -> list[str]:
    """What the copy buttons in `markup` copy."""
    return [html.unescape(value) for value in re.findall(r'<button type="button"[^>]* data-copy="([^"]*)"', markup)]


def graph_links(page: str, layout: str = "wide") -> list[str]:
    svg = page[page.index(f'class="graph graph-{layout}"') :]
    svg = svg[: svg.index("</svg>")]
    return re.findall(r'<a class="graph-node[^"]*" href="([^"]+)"', svg)


def test_application_page_shows_identity_and_lifecycle(client, session):
    group = make_entity(session, "GRP", "Groupe Banque", kind="group")
    division = make_entity(session, "DSI", "Direction des SI", kind="division", parent=group)
    team = make_entity(session, "DSI-PAY", "Paiements", parent=division)
    today = date.today()
    make_application(
        session,
        "BCA",
        "Banque de Compensation",
        description="Clears interbank payments.",
        criticality="critical",
        entity=team,
        tags="payments, sepa",
        documentation_url="https://wiki.bank.example/bca",
        repository_url="https://git.bank.example/pay/bca",
        go_live_date=today - timedelta(days=900),
        end_of_support_date=today + timedelta(days=400),
    )
    page = page_of(client, "BCA")
    identity = text_of(section(page, "application-identity", "stakeholders"))
    assert '<span class="trigram">BCA</span>' in page and "Banque de Compensation" in identity
    assert "Production" in identity and "Critical criticality" in identity
    assert identity.index("Groupe Banque") < identity.index("Direction des SI") < identity.index("Paiements")
    assert "payments" in identity and "sepa" in identity and "Clears interbank payments." in identity
    assert 'href="https://wiki.bank.example/bca"' in page and 'href="https://git.bank.example/pay/bca"' in page
    # The timeline puts today between the go-live (past) and the end of support (future).
    assert identity.index("Go-live") < identity.index("Today") < identity.index("End of support")
    assert (today - timedelta(days=900)).isoformat() in identity and "Not set" in identity


def test_application_page_when_trigram_is_lowercase(client, session):
    make_application(session, "BCA", "Banque de Compensation")
    assert "Banque de Compensation" in page_of(client, "bca")


def test_entity_path_links_to_entity_pages_only_when_they_exist(client, session, app):
    parent = make_entity(session, "DSI", "Direction des SI", kind="division")
    make_application(session, "BCA", entity=make_entity(session, "DSI-PAY", "Paiements", parent=parent))
    page = page_of(client, "BCA")
    if "entities.detail" in app.view_functions:
        assert 'href="/entities/DSI"' in page and 'href="/entities/DSI-PAY"' in page
    else:
        assert 'href="/entities/' not in page and "Direction des SI" in page


def test_optional_url_gives_a_url_only_for_a_served_endpoint():
    app = Flask(__name__)
    app.add_url_rule("/entities/<code>", endpoint="entities.detail", view_func=lambda code: code)
    with app.test_request_context():
        assert optional_url("entities.detail", code="DSI") == "/entities/DSI"
        assert optional_url("people.detail", login="jdoe") is None


def test_stakeholders_are_grouped_by_role_in_order_with_mailto(client, session, app):
    application = make_application(session, "BCA")
    add_stakeholder(session, application, make_person(session, "zsupport", "Zoé Support"), "support")
    add_stakeholder(session, application, make_person(session, "bmartin", "Bruno Martin"), "it_owner")
    add_stakeholder(session, application, make_person(session, "adupont", "Alice Dupont"), "it_owner")
    add_stakeholder(session, application, make_person(session, "cowner", "Claire Owner"), "owner")
    stakeholders = section(page_of(client, "BCA"), "stakeholders", "environments")
    text = text_of(stakeholders)
    assert text.index("Owner") < text.index("Claire Owner") < text.index("IT owner")
    assert text.index("IT owner") < text.index("Alice Dupont") < text.index("Bruno Martin") < text.index("Support")
    assert text.index("Support") < text.index("Zoé Support")
    assert 'href="mailto:adupont@bank.example"' in stakeholders
    assert ('href="/people/adupont"' in stakeholders) == ("people.detail" in app.view_functions)


def test_environments_table_lists_components_with_copy_buttons(client, session):
    application = make_application(session, "BCA")
    make_environment(
        session, application, "prod", url="https://bca.intranet.example", servers=("par-bca-p01", "par-bca-p02")
    )
    make_environment(session, application, "dev", servers=("par-bca-d01",))
    environments = section(page_of(client, "BCA"), "environments", "interfaces")
    rows = re.findall(r"<tr[ >].*?</tr>", environments, re.S)
    # Environments from dev to prod, each heading its components.
    texts = [text_of(row) for row in rows[1:]]
    assert [text.split()[0] for text in texts] == ["DEV", "Server", "PROD", "Server", "Server"]
    assert "par-bca-d01" in texts[1] and "par-bca-p01" in texts[3] and "par-bca-p02" in texts[4]
    assert copied(environments) == ["par-bca-d01", "https://bca.intranet.example", "par-bca-p01", "par-bca-p02"]


def test_interfaces_are_listed_both_ways_with_a_graph_of_links(client, session):
    bca = make_application(session, "BCA", "Banque de Compensation")
    make_interface(session, make_application(session, "PHA", "Pilotage"), bca, "SFTP", frequency="daily")
    make_interface(session, bca, make_application(session, "CTS", "Consolidation"), "Kafka", middleware="Kafka")
    page = page_of(client, "BCA")
    table = page[page.index('class="detail-table interface-table"') :]
    rows = [text_of(row) for row in re.findall(r"<tr class=\"interface-(?:in|out)\">.*?</tr>", table, re.S)]
    assert rows[0].startswith("In ← PHA Pilotage SFTP daily")
    assert rows[1].startswith("Out → CTS Consolidation Kafka — Kafka")
    assert 'href="/applications/PHA"' in table and 'href="/applications/CTS"' in table
    # A group of links (role="img" would hide them from assistive technology: axe "nested-interactive").
    assert re.search(r'<svg class="graph graph-wide"[^>]*role="group"', page)
    assert '<title id="graph-wide-title">Neighbours of BCA' in page
    assert graph_links(page, "wide") == ["/applications/PHA", "/applications/CTS"]
    assert graph_links(page, "narrow") == ["/applications/PHA", "/applications/CTS"]


def test_graph_collapses_neighbours_beyond_ten_a_side(client, session):
    bca = make_application(session, "BCA")
    for number in range(15):
        make_interface(session, make_application(session, f"SRC{number:02d}"), bca)
    page = page_of(client, "BCA")
    links = graph_links(page)
    assert len(links) == 10 and links[-1] == "#interfaces" and "+6 more" in page
    assert page.count('<tr class="interface-in">') == 15  # the table still lists every interface


def test_page_without_interfaces_draws_no_graph(client, session):
    make_application(session, "BCA")
    page = page_of(client, "BCA")
    assert "<svg" not in page and "No interfaces recorded." in page


def test_api_box_gives_the_exact_url_and_curl_command(client, session):
    make_application(session, "BCA")
    api = section(page_of(client, "bca"), "api", "sources")
    url = "http://localhost/api/v1/applications/BCA"
    curl = f"curl -H \"Authorization: Bearer $REFERENTIEL_TOKEN\" '{url}'"
    assert copied(api) == [url, curl]
    assert curl in text_of(api)
    assert 'href="/account/tokens">My API tokens</a>' in api


def test_api_url_on_the_page_answers_the_same_application(client, session):
    make_application(session, "BCA", "Banque de Compensation")
    response = client.get("http://localhost/api/v1/applications/BCA")
    assert response.status_code == 200 and response.get_json()["name"] == "Banque de Compensation"


def test_an_application_no_source_describes_says_its_values_were_entered_directly(client, session):
    make_application(session, "BCA")
    page = page_of(client, "BCA")
    assert "No source describes this application yet: its values were entered directly." in text_of(page)
    # The history is loaded by htmx when its panel scrolls into view, with a link when htmx is off.
    assert 'hx-get="/applications/BCA/history" hx-trigger="revealed"' in page
    assert '<a href="/applications/BCA/history">Show the changes</a>' in page


def test_unknown_trigram_gets_a_404_page_suggesting_close_trigrams(client, session):
    make_application(session, "BCA")
    make_application(session, "XYZ")
    page = page_of(client, "bcb", status=404)
    assert "No application “BCB”" in page
    assert '<a class="trigram" href="/applications/BCA">BCA</a>' in page
    assert 'href="/applications/XYZ"' not in page


def test_malformed_trigram_gets_the_same_404_page(client, session):
    make_application(session, "BCA")
    page = page_of(client, "BC-A%5C", status=404)
    assert "No application “BC-A\\”" in html.unescape(page)
    assert 'href="/applications/BCA"' in page


def test_page_has_no_inline_style_nor_script(client, session):
    bca = make_application(session, "BCA", entity=make_entity(session, "DSI"))
    add_stakeholder(session, bca, make_person(session, "adupont"))
    make_environment(session, bca, "prod", url="https://bca.example", servers=("par-bca-p01",))
    make_interface(session, bca, make_application(session, "CTS"))
    for page in (page_of(client, "BCA"), page_of(client, "BCB", status=404)):
        assert " style=" not in page and "<style" not in page
        assert not re.search(r"<script(?![^>]*\bsrc=)", page), "inline script"
        assert re.search(r"/static/application\.[0-9a-f]{16}\.css", page)  # named after its content


def build_application(session, trigram: str, count: int, entity) -> None:
    """An application with `count` stakeholders, environments (of `count` servers each) and interfaces
    each way."""
    application = make_application(session, trigram, entity=entity)
    roles = ("owner", "it_owner", "business_owner", "tech_lead", "support", "security")
    for number in range(count):
        person = make_person(session, f"{trigram.lower()}-person-{number}")
        add_stakeholder(session, application, person, roles[number % len(roles)])
        servers = tuple(f"{trigram.lower()}-{number}-{server}" for server in range(count))
        make_environment(
            session, application, "prod", name=f"ENV{number}", url=f"https://{number}.example", servers=servers
        )
        make_interface(session, make_application(session, f"{trigram}I{number}"), application)
        make_interface(session, application, make_application(session, f"{trigram}O{number}"))


def statements_for_page(client, connection, trigram: str) -> int:
    return count_statements(connection, lambda: page_of(client, trigram))


def test_page_runs_a_fixed_number_of_statements(client, session, connection):
    division = make_entity(session, "DSI", kind="division", parent=make_entity(session, "GRP", kind="group"))
    team = make_entity(session, "DSI-PAY", parent=division)
    build_application(session, "ONE", 1, team)
    build_application(session, "TEN", 10, team)
    page_of(client, "ONE")  # the first request of a browser may do one-off work (session, caches)
    one = statements_for_page(client, connection, "ONE")
    ten = statements_for_page(client, connection, "TEN")
    assert one == ten, f"{one} statements for 1 of each, {ten} for 10 of each"
    assert ten <= STATEMENT_BOUND
