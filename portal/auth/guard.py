"""The access check in front of every view: who is calling, and whether the view's policy lets them.

Browsers are identified by their login session (cookie); scripts on `/api/` by a bearer token. Pages
send an anonymous browser to the sign-in page; the API answers 401 with `WWW-Authenticate`, and 403
when the role or the token's scopes fall short. State-changing browser requests must carry the CSRF
token; bearer-token calls carry no ambient credential and are exempt.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from flask import Flask, Response, abort, current_app, flash, g, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as BaseResponse

from portal.auth.limits import TOKEN_PER_ADDRESS, TOKEN_PER_PREFIX
from portal.auth.models import User
from portal.auth.tokens import TokenGrant, TokenRefused, use_token
from portal.core.access import Role, Scope, granted_scopes, policy_of
from portal.core.csrf import csrf_failure
from portal.core.errors import error_response, is_api_request, problem_response
from portal.core.htmx import is_htmx
from portal.core.models import utcnow
from portal.core.ratelimit import rate_limiter
from portal.extensions import db

log = logging.getLogger(__name__)

REALM = 'Bearer realm="Referentiel"'
# What the guard answers instead of the view: a problem, a page with its status, or a redirect.
Reply = BaseResponse | tuple[str, int]


def register_access_guard(app: Flask) -> None:
    app.before_request(check_access)
    app.after_request(keep_private_pages_out_of_caches)


def check_access() -> Reply | None:
    """Refuse the request unless the endpoint's policy allows this caller (None lets the view run)."""
    # Identify the caller afresh: requests that share an application context (the unit tests' do) share
    # `g`, where flask-login caches the user.
    g.pop("token_grant", None)
    g.pop("_login_user", None)
    if request.endpoint is None:
        return None  # no such route: Flask answers 404 or 405 and no view runs
    policy = policy_of(current_app, request.endpoint)
    if policy is None:
        log.error("endpoint %s declares no access policy; refusing it", request.endpoint)
        return error_response(403, "This address declares no access policy, so it is refused to everyone.")
    role = policy.role
    if role is None:  # a public view
        return _refuse_forged_request()
    if is_api_request() and "Authorization" in request.headers:
        return _check_token(role, policy.scope)
    return _check_session(role)


def _check_session(role: Role) -> Reply | None:
    user = current_user
    if not user.is_authenticated:
        return _ask_to_sign_in()
    if user.level < role:
        return _forbidden(f"This needs the {role.label} role; you are {user.role}.")
    return _refuse_forged_request()


def _check_token(role: Role, scope: Scope) -> Reply | None:
    address = request.remote_addr or "unknown"
    wait = rate_limiter.retry_after(TOKEN_PER_ADDRESS, address)
    if wait:
        return _too_many_bad_tokens(wait)
    kind, _, secret = request.headers.get("Authorization", "").partition(" ")
    secret = secret.strip()
    if kind.lower() != "bearer" or not secret:
        return _unauthorized("Send the token as `Authorization: Bearer ref_...`.", error="invalid_request")
    prefix = secret[:12]
    wait = rate_limiter.retry_after(TOKEN_PER_PREFIX, prefix)
    if wait:
        return _too_many_bad_tokens(wait)
    try:
        grant = use_token(db.session, secret, utcnow())
    except TokenRefused as refused:
        if refused.unknown:
            rate_limiter.record_failure(TOKEN_PER_ADDRESS, address)
            rate_limiter.record_failure(TOKEN_PER_PREFIX, prefix)
        return _unauthorized(refused.detail + " Create one on the “My API tokens” page.")
    g.token_grant = grant
    if grant.role < role:
        return _forbidden(f"This needs the {role.label} role; the token's owner is {grant.role.label}.")
    if scope not in granted_scopes(grant.scopes):
        scopes = ", ".join(sorted(grant.scopes))
        return _forbidden(f"This needs a token with the {scope} scope; this one has {scopes}.")
    return None


def caller() -> User | None:
    """The user behind this request: the token's owner for API token calls, else the signed-in user."""
    grant: TokenGrant | None = g.get("token_grant")
    if grant is not None:
        return db.session.get(User, grant.user_id)
    return current_user if current_user.is_authenticated else None


def signed_in_caller() -> User:
    """The caller of a view that `requires` a role, whom the guard has let in. 401 if they are gone since:
    the token's owner deleted between the guard's check and the view."""
    user = caller()
    if user is None:
        abort(401)
    return user


def _refuse_forged_request() -> Reply | None:
    reason = csrf_failure()
    if reason is None:
        return None
    if is_api_request() or is_htmx():
        return error_response(400, reason + " Reload the page and try again.", title="Request refused")
    # A form posted from a stale page: say so and send the browser back to where it was.
    flash(reason + " Please try again.", "error")
    back = request.referrer if _is_same_origin(request.referrer) else request.path
    return redirect(back or "/", code=303)


def _is_same_origin(url: str | None) -> bool:
    return bool(url) and str(url).startswith(request.host_url)


def _ask_to_sign_in() -> Reply:
    if is_api_request():
        return _unauthorized("Sign in, or send an API token as `Authorization: Bearer ref_...`.")
    target = request.full_path if request.query_string else request.path
    login_url = url_for("auth.login") + "?" + urlencode({"next": target})
    if is_htmx():
        # A fragment request after the session ended: have htmx load the sign-in page as a whole page.
        response = error_response(401, "Your session has ended. Sign in again.")
        if isinstance(response, tuple):
            response = current_app.make_response(response)
        response.headers["HX-Redirect"] = login_url
        return response
    return redirect(login_url)


def _unauthorized(detail: str, error: str = "invalid_token") -> Response:
    response = problem_response(401, detail)
    challenge = REALM if "Authorization" not in request.headers else f'{REALM}, error="{error}"'
    response.headers["WWW-Authenticate"] = challenge
    return response


def _forbidden(detail: str) -> Reply:
    return error_response(403, detail, title="Not allowed")


def _too_many_bad_tokens(wait: int) -> Response:
    response = problem_response(429, f"Too many invalid API tokens from here. Try again in {wait} seconds.")
    response.headers["Retry-After"] = str(wait)
    return response


def keep_private_pages_out_of_caches(response: Response) -> Response:
    """Nothing behind sign-in is kept by shared caches; pages are not even kept by the browser, so the
    back button after signing out shows no data."""
    policy = policy_of(current_app, request.endpoint)
    if policy is None or policy.is_public or "Cache-Control" in response.headers:
        return response
    response.headers["Cache-Control"] = "private, no-cache" if is_api_request() else "no-store"
    return response


def can(role: Role) -> bool:
    """Whether the signed-in user holds `role` (templates use it to show links)."""
    user = caller()
    return user is not None and user.can(role)
