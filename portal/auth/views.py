"""Sign-in and sign-out pages, the single sign-on callback, "My API tokens" and the admin's users page."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as BaseResponse

from portal.auth import oidc
from portal.auth.guard import caller, signed_in_caller
from portal.auth.limits import LOGIN_PER_ACCOUNT, LOGIN_PER_ADDRESS
from portal.auth.models import User, normalize_login
from portal.auth.queries import find_token_by_id, find_user_by_id, find_user_by_login, select_tokens, select_users
from portal.auth.sessions import end_all_sessions, sign_in, sign_out
from portal.auth.tokens import TokenError, issue_token, revoke
from portal.core.access import ROLE_NAMES, Role, Scope, public, requires
from portal.core.ratelimit import rate_limiter
from portal.extensions import db

bp = Blueprint("auth", __name__)

# What a view returns: a page, a page with its status, or a redirect.
Page = BaseResponse | str | tuple[str, int]


def safe_next(target: str | None) -> str:
    """`target` if it is a path on this portal, else the home page: sign-in never redirects elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(char) < 32 for char in target):
        return "/"
    return target


def _login_page(status: int = 200, error: str | None = None, login: str = "") -> tuple[str, int]:
    return (
        render_template(
            "auth/login.html",
            next_url=safe_next(request.values.get("next")),
            sso_enabled=oidc.sso_enabled(),
            provider_name=oidc.provider_name(),
            local_login=current_app.config["LOCAL_LOGIN"],
            error=error,
            login=login,
        ),
        status,
    )


@bp.get("/auth/login")
@public
def login() -> Page:
    next_url = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url)
    if oidc.sso_enabled() and not current_app.config["LOCAL_LOGIN"]:
        # Single sign-on is the only way in: go straight to the provider.
        return redirect(url_for("auth.sso", next=next_url))
    return _login_page()


@bp.post("/auth/login")
@public
def login_local() -> Page:
    """Sign in with a local account's password (the embedded default and the break-glass admin)."""
    if not current_app.config["LOCAL_LOGIN"]:
        return _login_page(403, "Sign-in with a local account is turned off here.")
    login = normalize_login(request.form.get("login", ""))[:200]
    password = request.form.get("password", "")
    address = request.remote_addr or "unknown"
    wait = max(rate_limiter.retry_after(LOGIN_PER_ACCOUNT, login), rate_limiter.retry_after(LOGIN_PER_ADDRESS, address))
    if wait:
        minutes = max(1, round(wait / 60))
        page, status = _login_page(429, f"Too many failed sign-ins. Try again in {minutes} minutes.", login)
        return Response(page, status, headers={"Retry-After": str(wait)})
    user = find_user_by_login(db.session, login) if login else None
    if user is None or user.auth_source != "local" or not user.check_password(password):
        rate_limiter.record_failure(LOGIN_PER_ACCOUNT, login)
        rate_limiter.record_failure(LOGIN_PER_ADDRESS, address)
        return _login_page(401, "Wrong login or password.", login)
    if not user.active:
        return _login_page(403, f"The account {login} is deactivated. Ask {current_app.config['ACCESS_CONTACT']}.")
    rate_limiter.reset(LOGIN_PER_ACCOUNT, login)
    sign_in(user)
    return redirect(safe_next(request.form.get("next")), code=303)


@bp.get("/auth/sso")
@public
def sso() -> Page:
    """Send the browser to the identity provider; it comes back to `callback`."""
    if not oidc.sso_enabled():
        abort(404)
    session["next_after_login"] = safe_next(request.args.get("next"))
    try:
        return oidc.redirect_to_provider(url_for("auth.callback", _external=True))
    except oidc.SignInError as error:
        return _login_page(error.status, error.message)


@bp.get("/auth/callback")
@public
def callback() -> Page:
    if not oidc.sso_enabled():
        abort(404)
    try:
        identity = oidc.identity_from_callback()
        role = oidc.role_for(identity)
        user = oidc.upsert_user(db.session, identity, role)
    except oidc.SignInError as error:  # raised before the user is created or changed
        template = "auth/no_access.html" if error.no_access else "auth/sign_in_failed.html"
        return render_template(template, message=error.message, provider_name=oidc.provider_name()), error.status
    next_url = safe_next(session.get("next_after_login"))
    sign_in(user, id_token=identity.id_token)
    return redirect(next_url)


@bp.post("/auth/logout")
@public
def logout() -> BaseResponse:
    """End the session here, then at the identity provider when it offers RP-initiated logout."""
    user = current_user if current_user.is_authenticated else None
    was_sso = user is not None and user.auth_source == "oidc"
    id_token = sign_out(user)
    signed_out = url_for("auth.signed_out", _external=True)
    provider_logout = oidc.logout_url(id_token, signed_out) if was_sso and oidc.sso_enabled() else None
    return redirect(provider_logout or signed_out, code=303)


@bp.get("/auth/signed-out")
@public
def signed_out() -> str:
    return render_template("auth/signed_out.html")


@bp.get("/account/tokens")
@requires(Role.READER)
def tokens() -> Page:
    user = signed_in_caller()
    return _tokens_page(user)


def _tokens_page(user: User, new_secret: str | None = None, error: str | None = None, status: int = 200) -> Page:
    listed = db.session.scalars(select_tokens(user_id=user.id)).all()
    page = render_template(
        "auth/tokens.html", tokens=listed, scopes=list(Scope), new_secret=new_secret, error=error, form=request.form
    )
    return page if status == 200 else (page, status)


@bp.post("/account/tokens")
@requires(Role.READER)
def create_token() -> Page:
    user = signed_in_caller()
    try:
        scopes = {Scope(value) for value in request.form.getlist("scope")}
        days = request.form.get("expires_in_days", "").strip()
        token, secret = issue_token(db.session, user, request.form.get("name", ""), scopes, int(days) if days else None)
    except (TokenError, ValueError) as error:  # raised before anything is added to the session
        message = str(error) if isinstance(error, TokenError) else "Choose the scopes offered and a number of days."
        return _tokens_page(user, error=message, status=400)
    db.session.commit()
    current_app.logger.info("API token %s created by %s", token.prefix, user.login)
    # Shown in this response only; it is not kept anywhere, not even in the (signed, not encrypted) session.
    return _tokens_page(user, new_secret=secret)


@bp.post("/account/tokens/<int:token_id>/revoke")
@requires(Role.READER)
def revoke_token(token_id: int) -> BaseResponse:
    """Revoke one of your own tokens; an admin may revoke anyone's."""
    user = signed_in_caller()
    token = find_token_by_id(db.session, token_id)
    if token is None or (token.user_id != user.id and not user.can(Role.ADMIN)):
        abort(404)
    revoke(token)
    db.session.commit()
    current_app.logger.info("API token %s revoked by %s", token.prefix, user.login)
    flash(f"The token {token.name} ({token.prefix}) is revoked.", "success")
    back = url_for("auth.users") if token.user_id != user.id else url_for("auth.tokens")
    return redirect(back, code=303)


@bp.get("/admin/users")
@requires(Role.ADMIN)
def users() -> str:
    listed = db.session.scalars(select_users()).all()
    active_tokens = db.session.scalars(select_tokens(active_only=True)).all()
    return render_template("auth/users.html", users=listed, roles=ROLE_NAMES, tokens=active_tokens)


@bp.post("/admin/users/<int:user_id>")
@requires(Role.ADMIN)
def update_user(user_id: int) -> BaseResponse:
    """Change a user's role or deactivate / reactivate them (deactivation ends their sessions)."""
    admin = caller()
    user = find_user_by_id(db.session, user_id)
    if user is None or admin is None:
        abort(404)
    role, active = request.form.get("role", user.role), request.form.get("active", "1" if user.active else "0")
    if role not in ROLE_NAMES or active not in {"0", "1"}:
        abort(400, "Choose one of the roles offered.")
    if user.id == admin.id and (role != "admin" or active == "0"):
        flash("You cannot demote or deactivate yourself; ask another admin.", "error")
        return redirect(url_for("auth.users"), code=303)
    user.role, user.active = role, active == "1"
    if not user.active:
        end_all_sessions(db.session, user)
    db.session.commit()
    flash(f"{user.login}: {user.role}, {'active' if user.active else 'deactivated'}.", "success")
    return redirect(url_for("auth.users"), code=303)
