"""Single sign-on by OpenID Connect with authlib: the authorization code flow with PKCE.

authlib checks the state (kept in the session), sends the PKCE verifier, and verifies the ID token:
signature against the provider's JWKS, issuer, audience, expiry and nonce. This module adds what is
ours: merging userinfo into the ID token's claims, mapping the groups claim to a role, and creating
or updating the user. Everything comes from `PORTAL_OIDC_*` settings, so Keycloak, Entra ID, Okta or
the bank's own provider differ only by configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app
from joserfc.errors import JoseError
from requests import RequestException
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.auth.models import User, normalize_login
from portal.core.access import Role

CLIENT_NAME = "sso"


class SignInError(Exception):
    """Single sign-on failed; `status` and `message` are what the user is shown.

    `no_access` tells a sign-in that worked for someone the portal refuses (no mapped group, a
    deactivated account) from a sign-in that failed (cancelled, tampered, provider down).
    """

    def __init__(self, status: int, message: str, no_access: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.no_access = no_access


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in, from the ID token's claims merged with userinfo."""

    issuer: str
    subject: str
    login: str
    display_name: str
    email: str | None
    groups: tuple[str, ...]
    id_token: str


def init_oidc(app: Flask) -> None:
    """Register the provider's client on this app (one registry per app: the provider's metadata and
    keys it caches belong to this app's configuration)."""
    if not app.config["OIDC_METADATA_URL"]:
        return
    oauth = OAuth(app)
    app.extensions["oidc"] = oauth
    oauth.register(
        CLIENT_NAME,
        client_id=app.config["OIDC_CLIENT_ID"],
        client_secret=app.config["OIDC_CLIENT_SECRET"],
        server_metadata_url=app.config["OIDC_METADATA_URL"],
        client_kwargs={
            "scope": app.config["OIDC_SCOPES"],
            "code_challenge_method": "S256",
            # A provider that hangs must not hold a worker: the sign-in page says it is unreachable.
            "default_timeout": app.config["OIDC_TIMEOUT_SECONDS"],
        },
    )


def sso_enabled() -> bool:
    return bool(current_app.config["OIDC_METADATA_URL"])


def _client() -> Any:
    return current_app.extensions["oidc"].create_client(CLIENT_NAME)


def provider_name() -> str:
    return str(current_app.config["OIDC_PROVIDER_NAME"])


def redirect_to_provider(redirect_uri: str) -> Any:
    """The redirect to the provider's authorization endpoint (state, nonce and PKCE challenge included).

    Raises `SignInError` (503) when the provider's discovery document cannot be fetched.
    """
    client = _client()
    # The discovery document is fetched again at every sign-in (one small request), not kept from the first one
    # (authlib keeps it until `_loaded_at` goes): a provider that went down since is explained on the sign-in
    # page, instead of the browser being sent to an address that does not answer.
    client.server_metadata.pop("_loaded_at", None)
    try:
        return client.authorize_redirect(redirect_uri)
    except (RequestException, ValueError) as error:
        raise _unreachable(error) from None


def identity_from_callback() -> Identity:
    """Finish the flow on the callback request: exchange the code, verify the ID token, fetch userinfo.

    Raises `SignInError` for a refused consent, a state that does not match an attempt started in this
    browser (tampered or replayed), a code the provider refuses, an ID token that fails verification,
    missing claims, or a provider that cannot be reached.
    """
    client = _client()
    try:
        token = client.authorize_access_token()
        claims = dict(token.get("userinfo") or {})
        if not claims:
            raise SignInError(
                502, "The identity provider sent no ID token. Ask its administrators to check the client."
            )
        metadata = client.load_server_metadata()
        if metadata.get("userinfo_endpoint"):
            # Some providers leave the name, email or groups out of the ID token.
            userinfo = dict(client.userinfo(token=token))
            if userinfo.get("sub") != claims.get("sub"):
                raise SignInError(502, "The identity provider's userinfo is about another user than its ID token.")
            claims = {**userinfo, **claims}
    except MismatchingStateError:
        raise SignInError(
            400,
            "This sign-in response does not match a sign-in started in this browser (it may be old, replayed "
            "or tampered with). Start again.",
        ) from None
    except OAuthError as error:
        if error.error == "access_denied":
            raise SignInError(403, "Sign-in was cancelled or consent was refused at the identity provider.") from None
        raise SignInError(400, f"The identity provider refused the sign-in ({error.error}). Start again.") from None
    except JoseError as error:
        raise SignInError(400, f"The ID token could not be verified ({error.error}). Start again.") from None
    except RequestException as error:
        raise _unreachable(error) from None
    return _identity(str(metadata["issuer"]), claims, str(token["id_token"]))


def _identity(issuer: str, claims: dict[str, Any], id_token: str) -> Identity:
    config = current_app.config
    subject = str(claims["sub"])
    login = claims.get(config["OIDC_USERNAME_CLAIM"]) or claims.get("email") or subject
    groups = claims.get(config["OIDC_GROUPS_CLAIM"], [])
    if isinstance(groups, str):
        groups = groups.replace(",", " ").split()
    return Identity(
        issuer=issuer,
        subject=subject,
        login=normalize_login(str(login))[:200],
        display_name=str(claims.get("name") or login)[:200],
        email=str(claims["email"])[:254] if claims.get("email") else None,
        groups=tuple(str(group) for group in groups),
        id_token=id_token,
    )


def role_for(identity: Identity) -> Role:
    """The highest role any of the user's groups maps to, else the default role.

    Raises `SignInError` (403) when neither gives one: the page says whom to ask.
    """
    config = current_app.config
    mapped = [config["OIDC_ROLE_MAP"][group] for group in identity.groups if group in config["OIDC_ROLE_MAP"]]
    if mapped:
        return max(mapped)
    if config["OIDC_DEFAULT_ROLE"] is not None:
        return Role(config["OIDC_DEFAULT_ROLE"])
    claim = config["OIDC_GROUPS_CLAIM"]
    why = (
        f"the identity provider sent no “{claim}” claim"
        if not identity.groups
        else f"none of your groups ({', '.join(identity.groups)}) gives access"
    )
    raise SignInError(
        403,
        f"You signed in as {identity.login}, but {why}. Ask {config['ACCESS_CONTACT']} to add you to one of "
        f"these groups: {', '.join(sorted(config['OIDC_ROLE_MAP'])) or '(none configured)'}.",
        no_access=True,
    )


def upsert_user(session: Session, identity: Identity, role: Role) -> User:
    """Create the user at their first sign-in, else refresh their name, email and role from the claims.

    Raises `SignInError` (409) when another account already uses this login: a provider's user is never
    merged silently into an existing (for example local) account.
    """
    user = session.scalars(
        select(User).where(User.oidc_issuer == identity.issuer, User.oidc_subject == identity.subject)
    ).first()
    if user is None:
        if session.scalars(select(User.id).where(User.login == identity.login)).first() is not None:
            raise SignInError(
                409,
                f"Another account already uses the login {identity.login}. Ask {current_app.config['ACCESS_CONTACT']} "
                "to rename or remove it.",
            )
        user = User(
            login=identity.login,
            auth_source="oidc",
            oidc_issuer=identity.issuer,
            oidc_subject=identity.subject,
            active=True,
        )
        session.add(user)
    if not user.active:
        raise SignInError(
            403, f"The account {user.login} is deactivated. Ask {current_app.config['ACCESS_CONTACT']}.", no_access=True
        )
    user.display_name = identity.display_name
    user.email = identity.email
    user.role = role.label
    return user


def logout_url(id_token: str | None, post_logout_redirect_uri: str) -> str | None:
    """The provider's end-session URL (RP-initiated logout), or None when it has none or is unreachable."""
    client = _client()
    try:
        metadata = client.load_server_metadata()
    except (RequestException, ValueError):
        return None
    if not metadata.get("end_session_endpoint"):
        return None
    result = client.create_logout_url(
        post_logout_redirect_uri=post_logout_redirect_uri, id_token_hint=id_token, client_id=client.client_id
    )
    return str(result["url"])


def _unreachable(error: Exception) -> SignInError:
    current_app.logger.warning("identity provider unreachable: %s", error)
    return SignInError(
        503,
        f"The identity provider ({provider_name()}) cannot be reached right now, so nobody can sign in with it. "
        "Try again in a few minutes; if it lasts, tell the IT support.",
    )
