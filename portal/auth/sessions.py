"""Browser sessions: flask-login over server-side login sessions, and the cookie's security flags.

Flask's session is a signed cookie; on its own, a copy of it would stay valid after sign-out. The
cookie therefore carries the key of a `LoginSession` row, and each request checks that the row still
exists: signing out deletes it, deactivating an account deletes all of the account's rows.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import Flask, current_app, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, login_user, logout_user
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, joinedload

from portal.auth.models import LoginSession, User
from portal.core.models import utcnow
from portal.extensions import db

login_manager = LoginManager()
# Written at most this often, so that browsing does not turn every page view into a write.
LAST_SEEN_PRECISION = timedelta(minutes=5)


class PortalSessionInterface(SecureCookieSessionInterface):
    """Secure cookies whenever the request arrived over https (directly or through a trusted proxy)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def init_sessions(app: Flask) -> None:
    app.session_interface = PortalSessionInterface()
    app.config.update(
        SESSION_COOKIE_NAME="referentiel_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=app.config["SESSION_LIFETIME_MINUTES"]),
    )
    login_manager.init_app(app)
    # The access guard decides what an anonymous caller gets (a redirect or a 401); flask-login only
    # loads the user.
    login_manager.session_protection = None
    login_manager.user_loader(load_user)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def load_user(key: str) -> User | None:
    """The user of the login session whose key the cookie carries, if that session is still valid."""
    now = utcnow()
    statement = (
        select(LoginSession).options(joinedload(LoginSession.user)).where(LoginSession.key_hash == hash_key(key))
    )
    login_session = db.session.scalars(statement).first()
    if login_session is None or login_session.expires_at <= now or not login_session.user.active:
        return None
    if now - login_session.last_seen_at >= LAST_SEEN_PRECISION:
        login_session.last_seen_at = now
        db.session.commit()
    user = login_session.user
    user.session_key = key
    return user


def sign_in(user: User, id_token: str | None = None) -> None:
    """Start a new login session for `user` and commit it.

    The Flask session is cleared first, so nothing set before sign-in (a planted CSRF token or a
    session fixed by an attacker) survives it. A login session this browser already had (signing in
    again, as someone else, without signing out) is ended too: a copy of the old cookie opens nothing.
    """
    previous_key = session.get("_user_id")  # flask-login's: the key of this browser's login session
    if previous_key:
        db.session.execute(delete(LoginSession).where(LoginSession.key_hash == hash_key(str(previous_key))))
    session.clear()
    key = secrets.token_urlsafe(32)
    now = utcnow()
    lifetime = timedelta(minutes=current_app.config["SESSION_LIFETIME_MINUTES"])
    db.session.add(
        LoginSession(
            key_hash=hash_key(key),
            user=user,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
            id_token=id_token,
        )
    )
    user.last_login_at = now
    # Expired sessions are useless: each sign-in clears the user's own, so the table stays small.
    db.session.execute(delete(LoginSession).where(LoginSession.user_id == user.id, LoginSession.expires_at < now))
    db.session.commit()
    user.session_key = key
    session.permanent = True
    login_user(user)


def sign_out(user: User | None) -> str | None:
    """End the current login session; return its ID token (for the provider's end-session endpoint)."""
    id_token = None
    if user is not None and user.session_key:
        login_session = db.session.scalars(
            select(LoginSession).where(LoginSession.key_hash == hash_key(user.session_key))
        ).first()
        if login_session is not None:
            id_token = login_session.id_token
            db.session.delete(login_session)
            db.session.commit()
    logout_user()
    session.clear()
    return id_token


def end_all_sessions(session_: Session, user: User) -> None:
    """Delete every login session of `user` (deactivation); the caller commits."""
    session_.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
