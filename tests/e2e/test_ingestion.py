"""The data steward's and the editor's journeys in a real browser: a workbook uploaded, reviewed and applied, a
conflict opened by a push and resolved, a hostile file refused, a value edited by hand.

Each test works on an application of its own from the XS demo data, looked up through the API (never BCA,
which the other journeys read), so that the tests can run alone or in any order. What a test needs first is
loaded the way an admin or a machine would: sources and workbooks with the CLI, pushes with an API token.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from openpyxl import load_workbook
from playwright.sync_api import APIRequestContext, Page, Playwright, expect

from tests.e2e.pages import ApplicationDetailPage, ImportRunPage, MainNavigation
from tests.unit.imports.workbooks import workbook_bytes

if TYPE_CHECKING:
    from tests.e2e.conftest import Account, LivePortal, RoleAccounts

pytestmark = pytest.mark.e2e

TIMEOUT_S = 10
APPLICATION_HEADERS = ["Trigram", "Name", "Description", "Status", "Criticality", "Entity"]
# A push source below the workbook's precedence (50): the workbook's value stays shown, and a conflict opens.
PUSH_SOURCE = "e2e-nifi"
PUSH_PRECEDENCE = "40"
APPLICATIONS_NEEDED = 3  # one per test that changes an application


@dataclass(frozen=True)
class DemoApplication:
    trigram: str
    name: str
    description: str
    entity: str  # the owning entity's code


@pytest.fixture(scope="module")
def api(
    playwright: Playwright, live_portal: LivePortal, signed_in_state: dict[str, Any]
) -> Iterator[APIRequestContext]:
    """The JSON API as the signed-in local admin (its session cookie), for looking data up."""
    context = playwright.request.new_context(base_url=live_portal.url, storage_state=signed_in_state)
    yield context
    context.dispose()


@pytest.fixture(scope="module")
def demo_applications(api: APIRequestContext) -> list[DemoApplication]:
    """Demo applications with a description and an owning entity, BCA excepted; one per test."""
    listed = api.get("/api/v1/applications", params={"page_size": 20, "fields": "trigram"})
    assert listed.ok, listed.text()
    found = []
    for summary in listed.json()["results"]:
        if summary["trigram"] == "BCA":
            continue
        detail = api.get(f"/api/v1/applications/{summary['trigram']}").json()
        if detail["description"] and detail["entity"]:
            found.append(
                DemoApplication(detail["trigram"], detail["name"], detail["description"], detail["entity"]["code"])
            )
        if len(found) == APPLICATIONS_NEEDED:
            return found
    raise AssertionError("the demo data has too few applications with a description and an entity")


@pytest.fixture
def new_trigrams(api: APIRequestContext) -> Callable[[int], list[str]]:
    """`new_trigrams(n)`: n trigrams no application has yet (checked through the API)."""

    def make(count: int) -> list[str]:
        made: list[str] = []
        while len(made) < count:
            trigram = f"ZQ{secrets.choice('ABCDEFGHJKLMNPRSTUVWXY')}{secrets.randbelow(9000) + 1000}"
            if trigram not in made and api.get(f"/api/v1/applications/{trigram}").status == 404:
                made.append(trigram)
        return made

    return make


@pytest.fixture(scope="module")
def push_source(portal_cli: Callable[..., str]) -> str:
    """A push source (NiFi's, say) whose precedence is below the workbook's."""
    portal_cli("sources", "create", PUSH_SOURCE, "--kind", "push", "--precedence", PUSH_PRECEDENCE)
    return PUSH_SOURCE


def push(portal_url: str, token: str, source: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Push a batch of records as a machine does (`POST /api/v1/sources/<source>/records`); returns the answer."""
    answer = requests.post(
        f"{portal_url}/api/v1/sources/{source}/records",
        json=records,
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": secrets.token_hex(8)},
        timeout=TIMEOUT_S,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_steward_uploads_reviews_and_applies_a_workbook_then_sees_the_values_with_their_source(
    sign_in_as: Callable[[Account], Page],
    role_accounts: RoleAccounts,
    live_portal: LivePortal,
    demo_applications: list[DemoApplication],
    new_trigrams: Callable[[int], list[str]],
) -> None:
    updated = demo_applications[0]
    first, second = new_trigrams(2)
    description = f"Reviewed by the data stewards ({secrets.token_hex(3)})"
    workbook = workbook_bytes(
        {
            "Applications": [
                APPLICATION_HEADERS,
                [first, "Portail Fournisseurs", "Supplier portal", "build", "medium", updated.entity],
                [second, "Registre des Habilitations", "Access rights register", "plan", "low", updated.entity],
                [updated.trigram, updated.name, description, None, None, None],
            ]
        }
    )
    page = sign_in_as(role_accounts.steward)

    imports = MainNavigation(page).open_imports()
    template = imports.download_template()
    assert template.suggested_filename.endswith(".xlsx")
    assert "Applications" in load_workbook(BytesIO(Path(template.path()).read_bytes())).sheetnames

    run = imports.upload("applications.xlsx", workbook)
    expect(run.status(ImportRunPage.READY)).to_be_visible()
    expect(run.action_filter("Created", 2)).to_be_visible()
    expect(run.action_filter("Updated", 1)).to_be_visible()
    run_id = run.run_id

    run.action_filter("Updated", 1).click()
    expect(page).to_have_url(re.compile(rf"/imports/{run_id}\?action=update$"))
    change = run.diff_row(updated.trigram)
    expect(change.get_by_role("deletion")).to_have_text(updated.description)
    expect(change.get_by_role("insertion")).to_have_text(description)
    expect(run.diff_row(first)).to_have_count(0)

    run = run.apply()
    # No reload: the run's region asks for itself again (htmx) until the apply is done.
    expect(run.status(ImportRunPage.APPLIED)).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/imports/{run_id}(\?.*)?$"))

    application = ApplicationDetailPage.open(page, live_portal.url, updated.trigram)
    expect(application.text(description)).to_be_visible()
    expect(application.provenance_of("Description")).to_have_text(f"workbook run #{run_id}")
    application.show_history()
    change_made = application.history_changes.filter(has_text=f"(run #{run_id})")
    expect(change_made.get_by_role("insertion")).to_have_text(description)
    expect(change_made).to_contain_text(f"{role_accounts.steward.login} via workbook")
    # The changes came into the page (htmx), the address is still the application's.
    expect(page).to_have_url(f"{live_portal.url}/applications/{updated.trigram}#history")

    created = ApplicationDetailPage.open(page, live_portal.url, first)
    expect(created.heading).to_contain_text("Portail Fournisseurs")
    expect(created.provenance_of("Entity")).to_have_text(f"workbook run #{run_id}")


def test_a_push_that_disagrees_opens_a_conflict_which_the_steward_resolves(
    sign_in_as: Callable[[Account], Page],
    role_accounts: RoleAccounts,
    live_portal: LivePortal,
    demo_applications: list[DemoApplication],
    import_workbook: Callable[..., int],
    push_source: str,
    ingest_token: str,
) -> None:
    application = demo_applications[1]
    from_workbook = f"Description agreed by the stewards ({secrets.token_hex(3)})"
    from_push = f"Description sent by NiFi ({secrets.token_hex(3)})"
    import_workbook(
        workbook_bytes({"Applications": [["Trigram", "Description"], [application.trigram, from_workbook]]})
    )
    answer = push(
        live_portal.url,
        ingest_token,
        push_source,
        [{"type": "application", "trigram": application.trigram, "description": from_push}],
    )
    assert [result["action"] for result in answer["results"]] == ["conflict"]
    page = sign_in_as(role_accounts.steward)

    conflicts = MainNavigation(page).open_conflicts().filter_by_application(application.trigram)
    expect(page).to_have_url(re.compile(rf"/conflicts\?.*application={application.trigram}"))
    expect(conflicts.count).to_have_text("1 conflict")
    conflict = conflicts.conflict(application.trigram, "description")
    expect(conflict.shown_now()).to_have_accessible_name(re.compile(rf"^“{re.escape(from_workbook)}” from workbook "))
    expect(conflict.shown_now()).to_be_checked()
    expect(conflict.choice(from_push, push_source)).to_be_visible()

    conflicts = conflict.resolve_with(from_push, push_source)
    expect(conflicts.flash).to_have_text(f"Resolved: description of {application.trigram} is “{from_push}”.")
    expect(conflicts.count).to_have_text("0 conflicts")

    resolved = ApplicationDetailPage.open(page, live_portal.url, application.trigram)
    expect(resolved.text(from_push)).to_be_visible()
    expect(resolved.provenance_of("Description")).to_have_text(re.compile(r"^manual run #\d+$"))


def test_a_renamed_csv_is_refused_and_leaves_no_run(
    sign_in_as: Callable[[Account], Page], role_accounts: RoleAccounts
) -> None:
    filename = f"applications-{secrets.token_hex(3)}.xlsx"
    page = sign_in_as(role_accounts.steward)
    imports = MainNavigation(page).open_imports()

    imports = imports.upload_when_refused(filename, b"Trigram;Name;Status\nZQZ;Portail;production\n")

    expect(imports.alert).to_have_text(
        f"{filename}: This file is not an Excel workbook (.xlsx): it looks like a text (CSV) file."
    )
    expect(imports.heading).to_be_visible()
    expect(imports.run_row(filename)).to_have_count(0)


def test_an_editor_edits_a_value_in_place_and_it_becomes_a_manual_value(
    sign_in_as: Callable[[Account], Page],
    role_accounts: RoleAccounts,
    live_portal: LivePortal,
    demo_applications: list[DemoApplication],
) -> None:
    trigram = demo_applications[2].trigram
    description = f"Corrected by hand ({secrets.token_hex(3)})"
    page = sign_in_as(role_accounts.editor)
    application = ApplicationDetailPage.open(page, live_portal.url, trigram)

    form = application.edit()
    expect(form.heading).to_have_text(f"Edit {trigram}")
    expect(page).to_have_url(f"{live_portal.url}/applications/{trigram}")  # in place (htmx), not the edit page
    form.field("Description").fill(description)
    application = form.save()

    expect(application.flash).to_have_text("Saved: 1 value changed.")
    expect(application.text(description)).to_be_visible()
    expect(application.provenance_of("Description")).to_have_text(re.compile(r"^manual run #\d+$"))
