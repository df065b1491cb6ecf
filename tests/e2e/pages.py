"""Page objects for the end-to-end tests: the portal's pages and the test identity provider's.

Locators are role-based only (`get_by_role`, `get_by_label`). A constructor that navigates (`open...`) and an action
that leaves the page return the page object of where the browser lands; the tests assert with `expect()`.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from playwright.sync_api import Locator, Page, Response, expect

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
        return self.secret.input_value()

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
