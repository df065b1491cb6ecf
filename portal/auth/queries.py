"""Look-ups of users and API tokens for the pages and the CLI."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, joinedload

from portal.auth.models import ApiToken, User, normalize_login


def find_user_by_login(session: Session, login: str) -> User | None:
    return session.scalars(select(User).where(User.login == normalize_login(login))).first()


def find_user_by_id(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def find_token_by_id(session: Session, token_id: int) -> ApiToken | None:
    return session.get(ApiToken, token_id)


def find_token_by_prefix(session: Session, prefix: str) -> ApiToken | None:
    return session.scalars(select(ApiToken).where(ApiToken.prefix == prefix.strip())).first()


def select_users() -> Select[User]:
    return select(User).order_by(User.login)


def select_tokens(user_id: int | None = None, active_only: bool = False) -> Select[ApiToken]:
    """Tokens, newest first, with their owner loaded (the admin page lists everyone's)."""
    statement = select(ApiToken).options(joinedload(ApiToken.user)).order_by(ApiToken.created_at.desc(), ApiToken.id)
    if user_id is not None:
        statement = statement.where(ApiToken.user_id == user_id)
    if active_only:
        statement = statement.where(ApiToken.revoked_at.is_(None))
    return statement
