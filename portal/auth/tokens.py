"""API tokens: `ref_<id>_<secret>`, shown once, stored only as a SHA-256 hash.

The secret has 256 bits of randomness, so a plain hash is enough (a slow KDF protects guessable
passwords, not random keys) and lets a request find its token with one indexed look-up. The
recognisable `ref_` prefix lets secret scanners spot a leaked token.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from portal.auth.models import ApiToken, User
from portal.core.access import Scope
from portal.core.models import utcnow

TOKEN_PREFIX = "ref_"
TOKEN_PATTERN = re.compile(r"ref_[A-Za-z0-9]{8}_[A-Za-z0-9_-]{43}")
TOKEN_NAME_MAX_LENGTH = 100
# last_used_at is written at most this often per token, so that reads do not each cost a write.
LAST_USED_PRECISION = timedelta(minutes=5)


class TokenError(ValueError):
    """A token request that cannot be honoured; the message says why."""


def hash_secret(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session,
    user: User,
    name: str,
    scopes: set[Scope],
    expires_in_days: int | None = None,
    created_by: User | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for `user`; return it with its secret, which is never stored nor shown again.

    Raises `TokenError` for an empty or overlong name, no scope, or a non-positive lifetime.
    """
    name = name.strip()
    if not name:
        raise TokenError("Give the token a name that says what uses it (for example: nifi-push).")
    if len(name) > TOKEN_NAME_MAX_LENGTH:
        raise TokenError(f"A token name has at most {TOKEN_NAME_MAX_LENGTH} characters.")
    if not scopes:
        raise TokenError("Choose at least one scope: read, write or ingest.")
    if expires_in_days is not None and expires_in_days < 1:
        raise TokenError("A token expires after at least one day, or never.")
    public_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
    secret = f"{TOKEN_PREFIX}{public_id}_{secrets.token_urlsafe(32)}"
    now = utcnow()
    token = ApiToken(
        user=user,
        name=name,
        prefix=f"{TOKEN_PREFIX}{public_id}",
        secret_hash=hash_secret(secret),
        scopes=",".join(sorted(scope.value for scope in scopes)),
        created_at=now,
        created_by_id=created_by.id if created_by else user.id,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(token)
    session.flush()
    return token, secret


def find_token(session: Session, secret: str) -> ApiToken | None:
    """The token whose secret this is (usable or not), or None."""
    if not TOKEN_PATTERN.fullmatch(secret):
        return None
    statement = select(ApiToken).options(joinedload(ApiToken.user)).where(ApiToken.secret_hash == hash_secret(secret))
    return session.scalars(statement).first()


def why_unusable(token: ApiToken, now: datetime) -> str | None:
    """Why a found token cannot be used (revoked, expired, owner deactivated), or None if it can."""
    if token.revoked_at is not None:
        return f"The API token {token.prefix} was revoked."
    if token.expires_at is not None and token.expires_at <= now:
        return f"The API token {token.prefix} expired on {token.expires_at:%Y-%m-%d}."
    if not token.user.active:
        return f"The API token {token.prefix} belongs to a deactivated account."
    return None


def note_use(token: ApiToken, now: datetime) -> None:
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        token.last_used_at = now


def revoke(token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
