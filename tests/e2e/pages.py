"""Page objects for the end-to-end tests: the portal's pages and the test identity provider's.

Locators are role-based only (`get_by_role`, `get_by_label`). A constructor that navigates (`open...`) and an action
that leaves the page return the page object of where the browser lands; the tests assert with `expect()`.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit

from playwright.sync_api import Download, Locator, Page, Response, expect

from tests.e2e.leaks import note_token_secret
from tests.portal_client import XLSX

CALLBACK_PATH = "/auth/callback"


def is_callback(url: str) -> bool:
    """Whether `url` is the portal's single sign-on callback (any host: the route or request being checked)."""
    return urlsplit(url).path == CALLBACK_PATH


def _is_callback_response(response: Response) -> bool:
    return is_callback(response.url)


class UserMenu:
    """The menu in the header of every page behind sign-in: display name and role, "My API tokens", "Sign out"."""

    def __init__(self, page: Page) -> None:
        self.page = page
        # The <details> element (role group); its summary shows "<display name> <role>".
        self.root = page.get_by_role("banner").get_by_role("group")
        self.tokens_link = self.root.get_by_role("link", name="My API tokens")
        self.sign_out_button = self.root.get_by_role("button", name="Sign out")

    def expand(self) -> UserMenu:
        expect(self.root).to_be_visible()
        if self.root.get_attribute("open") is None:
            # Closed, the <details> shows its summary only: a click on it toggles the menu open.
            self.root.click()
        expect(self.root).to_have_js_property("open", True)
        return self

    def open_tokens(self) -> TokensPage:
        self.expand().tokens_link.click()
        return TokensPage(self.page)

    def sign_out(self) -> SignedOutPage:
        """Sign out a local account: the portal answers with its signed-out page."""
        self.expand().sign_out_button.click()
        return SignedOutPage(self.page)

    def sign_out_of_sso(self) -> ProviderLogoutPage:
        """Sign out a single sign-on user: the portal sends the browser on to the provider's logout page."""
        self.expand().sign_out_button.click()
        return ProviderLogoutPage(self.page)


class SearchPage:
    """The home page: the search box, the facets, the results and their pagination."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.search_box = page.get_by_label("Find an application by trigram, name, person, hostname or URL")
        self.results = page.get_by_role("region", name="Results")
        self.result_items = self.results.get_by_role("list").first.get_by_role("listitem")
        self.status = page.get_by_role("status").filter(has_text="application")
        self.filters = page.get_by_role("complementary", name="Filters")
        self.pages = page.get_by_role("navigation", name="Pages")
        self.user_menu = UserMenu(page)

    @staticmethod
    def url(portal_url: str, query: str | None = None) -> str:
        return f"{portal_url}/" + (f"?{urlencode({'q': query})}" if query else "")

    @classmethod
    def open(cls, page: Page, portal_url: str, query: str | None = None) -> SearchPage:
        page.goto(cls.url(portal_url, query))
        return cls(page)

    @classmethod
    def open_when_signed_out(cls, page: Page, portal_url: str, query: str | None = None) -> LoginPage:
        """Open the home page without a session: the portal sends the browser to its sign-in page."""
        page.goto(cls.url(portal_url, query))
        return LoginPage(page)

    def trigram(self, trigram: str) -> Locator:
        """The link of an application in the results, named by its trigram."""
        return self.results.get_by_role("link", name=trigram, exact=True)

    def facet(self, name: str) -> Locator:
        """A facet's checkbox, by the label it shows ("Production", "Prod", "Owner"...)."""
        return self.filters.get_by_role("checkbox", name=name, exact=False)

    def first_result_link(self) -> Locator:
        return self.result_items.first.get_by_role("link").first


class LoginPage:
    """The portal's sign-in page: a link to single sign-on and the local account form.

    `status` is the HTTP status of the answer to a refused sign-in (None when the page was not checked for it).
    """

    def __init__(self, page: Page, status: int | None = None) -> None:
        self.page = page
        self.status = status
        self.heading = page.get_by_role("heading", name="Sign in to Referentiel")
        self.alert = page.get_by_role("alert")
        self.login = page.get_by_label("Login", exact=True)
        self.password = page.get_by_label("Password", exact=True)
        self.sign_in_button = page.get_by_role("button", name="Sign in", exact=True)

    @staticmethod
    def url(portal_url: str, next_path: str = "/") -> str:
        return f"{portal_url}/auth/login?{urlencode({'next': next_path})}"

    @classmethod
    def open(cls, page: Page, portal_url: str, next_path: str = "/") -> LoginPage:
        page.goto(cls.url(portal_url, next_path))
        return cls(page)

    def sso_link(self, provider_name: str) -> Locator:
        return self.page.get_by_role("link", name=f"Sign in with {provider_name}")

    def sign_in_with_sso(self, provider_name: str = "Bank SSO") -> ProviderLoginPage:
        self.sso_link(provider_name).click()
        return ProviderLoginPage(self.page)

    def _submit(self, login: str, password: str) -> None:
        self.login.fill(login)
        self.password.fill(password)
        self.sign_in_button.click()

    def sign_in_locally(self, login: str, password: str) -> SearchPage:
        """Sign in with a local account; the portal goes on to the page asked for (`next`, a search page here)."""
        self._submit(login, password)
        return SearchPage(self.page)

    def sign_in_locally_when_refused(self, login: str, password: str) -> LoginPage:
        """Submit credentials the portal refuses: the sign-in page comes back with an alert."""
        with self.page.expect_response(lambda response: response.request.method == "POST") as answer:
            self._submit(login, password)
        return LoginPage(self.page, status=answer.value.status)


class ProviderLoginPage:
    """The test identity provider's sign-in page (oidc-provider, tests/e2e/oidc_server/server.mjs)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.heading = page.get_by_role("heading", name="Sign in", exact=True)
        self.username = page.get_by_label("Username", exact=True)
        self.password = page.get_by_label("Password", exact=True)
        self.sign_in_button = page.get_by_role("button", name="Sign in", exact=True)
        self.cancel_button = page.get_by_role("button", name="Cancel", exact=True)

    def _submit(self, username: str, password: str) -> None:
        expect(self.heading).to_be_visible()
        self.username.fill(username)
        self.password.fill(password)
        self.sign_in_button.click()

    def sign_in(self, username: str, password: str) -> SearchPage:
        """Sign in as a user with access: the portal goes on to the page first asked for."""
        with self.page.expect_response(_is_callback_response):
            self._submit(username, password)
        return SearchPage(self.page)

    def sign_in_refused_by_portal(self, username: str, password: str) -> CallbackErrorPage:
        """Sign in at the provider, and the portal's callback refuses the result (an error page)."""
        with self.page.expect_response(_is_callback_response) as callback:
            self._submit(username, password)
        return CallbackErrorPage(self.page, callback.value.status)

    def cancel(self) -> CallbackErrorPage:
        """Cancel at the provider: it sends the browser back to the callback with error=access_denied."""
        expect(self.heading).to_be_visible()
        with self.page.expect_response(_is_callback_response) as callback:
            self.cancel_button.click()
        return CallbackErrorPage(self.page, callback.value.status)


class ProviderLogoutPage:
    """The provider's RP-initiated logout confirmation."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.sign_out_button = page.get_by_role("button", name="Sign out", exact=True)

    def confirm(self) -> SignedOutPage:
        self.sign_out_button.click()
        return SignedOutPage(self.page)


class CallbackErrorPage:
    """What the portal's callback shows when single sign-on fails or gives no access; `status` is its HTTP status."""

    def __init__(self, page: Page, status: int) -> None:
        self.page = page
        self.status = status
        self.heading = page.get_by_role("main").get_by_role("heading", level=1)
        self.main = page.get_by_role("main")

    @classmethod
    def open(cls, page: Page, url: str) -> CallbackErrorPage:
        """Open a callback URL directly (a forged or replayed sign-in response)."""
        response = page.goto(url)
        assert response is not None
        return cls(page, response.status)


class SignedOutPage:
    """Where every sign-out ends, after the provider's logout for single sign-on users."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.heading = page.get_by_role("heading", name="You are signed out")


class TokensPage:
    """The "My API tokens" page: the creation form, the secret shown once, a revoke button per active token."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.heading = page.get_by_role("heading", name="My API tokens", level=1)
        self.name = page.get_by_label("Name", exact=True)
        self.scopes = page.get_by_role("group", name="Scopes")
        self.expires_after = page.get_by_label("Expires after")
        self.create_button = page.get_by_role("button", name="Create token")
        self.secret = page.get_by_label("Token secret")

    @classmethod
    def open(cls, page: Page, portal_url: str) -> TokensPage:
        page.goto(f"{portal_url}/account/tokens")
        return cls(page)

    def scope(self, name: str) -> Locator:
        return self.scopes.get_by_role("checkbox", name=name, exact=True)

    def revoke_button(self, token_name: str) -> Locator:
        return self.page.get_by_role("button", name=f"Revoke {token_name}", exact=True)

    def create_token(self, name: str, scopes: tuple[str, ...] = ("read",), expires_after: str = "30 days") -> str:
        """Create a token and return its secret, read from the page that shows it once."""
        expect(self.heading).to_be_visible()
        self.name.fill(name)
        for scope in ("read", "write", "ingest"):
            self.scope(scope).set_checked(scope in scopes)
        self.expires_after.select_option(label=expires_after)
        self.create_button.click()
        expect(self.secret).to_be_visible()
        return note_token_secret(self.secret.input_value())

    def revoke(self, name: str) -> TokensPage:
        self.revoke_button(name).click()
        return TokensPage(self.page)


class ApplicationPage:
    """One application's page: its trigram and name in the main heading, then everything about it."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.heading = page.get_by_role("heading", level=1)

    @classmethod
    def open(cls, page: Page, portal_url: str, trigram: str) -> ApplicationPage:
        page.goto(f"{portal_url}/applications/{trigram}")
        return cls(page)


# --- Ingestion: imports, conflicts, and the application page as stewards and editors use it ---------------------


class MainNavigation:
    """The header's sections ("Search", "Entities", "Imports", "Conflicts", "Sources", "Admin"), as the role allows."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.root = page.get_by_role("banner").get_by_role("navigation", name="Main")

    def link(self, section: str) -> Locator:
        return self.root.get_by_role("link", name=section, exact=True)

    def _go(self, section: str, path: str) -> None:
        """Follow a section's link, until its page has loaded (htmx included, for pages whose forms use it)."""
        self.link(section).click()
        self.page.wait_for_url(re.compile(rf"{re.escape(path)}$"), wait_until="load")

    def open_imports(self) -> ImportsPage:
        self._go("Imports", "/imports")
        return ImportsPage(self.page)

    def open_conflicts(self) -> ConflictsPage:
        self._go("Conflicts", "/conflicts")
        return ConflictsPage(self.page)


class ImportsPage:
    """The Imports page: the template to download, the upload form (with its refusal message) and the runs so far."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.heading = page.get_by_role("heading", name="Imports", level=1)
        self.upload_panel = page.get_by_role("region", name="Import a workbook")
        self.template_link = self.upload_panel.get_by_role("link", name="Referentiel template")
        self.source = self.upload_panel.get_by_label("Source", exact=True)
        self.workbook = self.upload_panel.get_by_label(re.compile(r"^Workbook \(\.xlsx"))
        self.upload_button = self.upload_panel.get_by_role("button", name="Upload and check")
        self.alert = self.upload_panel.get_by_role("alert")
        self.history = page.get_by_role("region", name="History")

    @classmethod
    def open(cls, page: Page, portal_url: str) -> ImportsPage:
        page.goto(f"{portal_url}/imports")
        return cls(page)

    def download_template(self) -> Download:
        with self.page.expect_download() as download:
            self.template_link.click()
        return download.value

    def _upload(self, filename: str, data: bytes, source: str) -> None:
        expect(self.heading).to_be_visible()
        self.source.select_option(source)
        self.workbook.set_input_files({"name": filename, "mimeType": XLSX, "buffer": data})
        self.upload_button.click()

    def upload(self, filename: str, data: bytes, source: str = "workbook") -> ImportRunPage:
        """Upload a workbook the portal accepts as `source`'s: its run's page follows, checking it in the
        background."""
        self._upload(filename, data, source)
        return ImportRunPage(self.page)

    def upload_when_refused(self, filename: str, data: bytes, source: str = "workbook") -> ImportsPage:
        """Upload a file the portal refuses at once: the Imports page comes back with an alert."""
        with self.page.expect_response(lambda response: response.request.method == "POST") as answer:
            self._upload(filename, data, source)
        assert answer.value.status in (400, 413), f"the upload was answered with {answer.value.status}"
        return ImportsPage(self.page)

    def run_row(self, text: str) -> Locator:
        """The rows of the runs table that mention `text` (a file name, a run number)."""
        return self.history.get_by_role("row").filter(has_text=text)


class ImportRunPage:
    """One import run: its state (polled by htmx while it works), the counts by action that filter its diff, the
    diff itself (before → after per field), and Apply / Cancel while its dry run waits for review."""

    # The run's status as the page words it.
    READY = "Ready to apply"
    APPLIED = "Applied"

    def __init__(self, page: Page) -> None:
        self.page = page
        self.heading = page.get_by_role("heading", name=re.compile(r"^Import #\d+"), level=1)
        self.state = page.get_by_role("region", name="State")
        self.action_filters = self.state.get_by_role("navigation", name="Filter rows by action")
        self.diff = self.state.get_by_role("table")
        self.apply_button = self.state.get_by_role("button", name="Apply", exact=True)
        self.cancel_button = self.state.get_by_role("button", name="Cancel", exact=True)

    @classmethod
    def open(cls, page: Page, portal_url: str, run_id: int) -> ImportRunPage:
        page.goto(f"{portal_url}/imports/{run_id}")
        return cls(page)

    @property
    def run_id(self) -> int:
        """The run's number, read from the page's address (/imports/<number>)."""
        found = re.search(r"/imports/(\d+)", urlsplit(self.page.url).path)
        assert found, f"{self.page.url} is not an import run's page"
        return int(found.group(1))

    def status(self, label: str) -> Locator:
        """The run's status badge when it reads `label` (a <dd> of the facts list: no role names it)."""
        return self.state.get_by_text(label, exact=True)

    def action_filter(self, label: str, count: int) -> Locator:
        """The link that shows only one action's rows, named by the action and its count ("Updated 1")."""
        return self.action_filters.get_by_role("link", name=f"{label} {count:,}", exact=True)

    def diff_row(self, key: str) -> Locator:
        """The diff's rows that mention `key` (the trigram of the application a row is about)."""
        return self.diff.get_by_role("row").filter(has_text=key)

    def apply(self) -> ImportRunPage:
        """Apply the reviewed dry run: the same page comes back, and polls itself until the run is done."""
        self.apply_button.click()
        return ImportRunPage(self.page)


class ConflictsPage:
    """The Conflicts page: its filters (each change updates the results and the address), and one article per
    conflict with a form to settle it."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.heading = page.get_by_role("heading", name="Conflicts", level=1)
        self.application_filter = page.get_by_label("Application", exact=True)
        self.status_filter = page.get_by_label("Status", exact=True)
        # The count heads the results, as a live status (so not a heading for assistive technologies).
        self.count = page.get_by_role("status").filter(has_text=re.compile(r"^\d+ conflicts?$"))
        self.flash = page.get_by_role("main").get_by_role("status").filter(has_text="Resolved:")

    @classmethod
    def open(cls, page: Page, portal_url: str) -> ConflictsPage:
        page.goto(f"{portal_url}/conflicts")
        return cls(page)

    def filter_by_application(self, trigram: str) -> ConflictsPage:
        self.application_filter.fill(trigram)
        return self

    def conflict(self, trigram: str, field: str) -> ConflictCard:
        heading = re.compile(rf"^{re.escape(trigram)}: {re.escape(field)}$")
        return ConflictCard(self.page, self.page.get_by_role("article", name=heading))


class ConflictCard:
    """One conflict: a choice per source's value (the first one is shown now), another value to pin, Resolve."""

    def __init__(self, page: Page, root: Locator) -> None:
        self.page = page
        self.root = root
        self.choices = root.get_by_role("group", name=re.compile(r"^Value for "))
        self.resolve_button = root.get_by_role("button", name="Resolve", exact=True)

    def choice(self, value: str, source: str) -> Locator:
        """The radio button of `source`'s value ("“<value>” from <source> (precedence 50) · shown now")."""
        name = re.compile(rf"^“{re.escape(value)}” from {re.escape(source)} \(precedence \d+\)")
        return self.choices.get_by_role("radio", name=name)

    def shown_now(self) -> Locator:
        """The choice of the value the portal shows now (the winner by precedence)."""
        return self.choices.get_by_role("radio", name=re.compile(r"· shown now$"))

    def resolve_with(self, value: str, source: str) -> ConflictsPage:
        """Choose `source`'s value and resolve: the Conflicts page comes back, with a message."""
        self.choice(value, source).check()
        self.resolve_button.click()
        return ConflictsPage(self.page)


class ApplicationDetailPage(ApplicationPage):
    """The application page with what stewards and editors use: the description, the Edit button (the form then
    takes the identity panel's place), the table of where each value comes from, and the History panel."""

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.application = page.get_by_role("article", name=re.compile(r"\S"))
        self.edit_link = self.application.get_by_role("link", name="Edit", exact=True)
        self.provenance = page.get_by_role("table", name="Where each value comes from")
        self.sections = page.get_by_role("navigation", name="On this page")
        self.history = page.get_by_role("region", name="History")
        self.history_changes = self.history.get_by_role("listitem")
        self.flash = page.get_by_role("main").get_by_role("status").filter(has_text="Saved:")

    @classmethod
    def open(cls, page: Page, portal_url: str, trigram: str) -> ApplicationDetailPage:
        page.goto(f"{portal_url}/applications/{trigram}")
        return cls(page)

    def text(self, value: str) -> Locator:
        """A value shown on the page, such as the description (a paragraph: no role names it)."""
        return self.application.get_by_text(value, exact=True)

    def provenance_of(self, field: str) -> Locator:
        """The "Source" cell of `field`'s row ("workbook run #12", "manual run #15")."""
        row = self.provenance.get_by_role("row").filter(has=self.page.get_by_role("rowheader", name=field, exact=True))
        return row.get_by_role("cell").first

    def show_history(self) -> ApplicationDetailPage:
        """Go to the History panel by its link: htmx loads the changes once the panel scrolls into view."""
        self.sections.get_by_role("link", name="History", exact=True).click()
        return self

    def edit(self) -> EditApplicationForm:
        """Open the edit form in place of the identity panel (htmx; the address stays the application's)."""
        self.edit_link.click()
        return EditApplicationForm(self.page)


class EditApplicationForm:
    """The editor's form, in place of the identity panel: one field per value, Save and Cancel."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.root = page.get_by_role("region", name=re.compile(r"^Edit "))
        self.heading = self.root.get_by_role("heading", name=re.compile(r"^Edit "), level=1)
        self.save_button = self.root.get_by_role("button", name="Save", exact=True)

    def field(self, label: str) -> Locator:
        return self.root.get_by_label(label, exact=True)

    def save(self) -> ApplicationDetailPage:
        """Save: the application page comes back with the values as now shown."""
        self.save_button.click()
        return ApplicationDetailPage(self.page)
