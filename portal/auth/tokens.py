"""API tokens: `ref_<id>_<secret>`, shown once, stored only as a SHA-256 hash.

The secret has 256 bits of randomness, so a plain hash is enough (a slow KDF protects guessable
passwords, not random keys) and lets a request find its token with one indexed look-up. The
recognisable `ref_` prefix lets secret scanners spot a leaked token.

With Redis configured, what a verified token grants is cached for a few seconds, so that a cached
search does not pay a database round trip to check its token; any commit that changes an account or
a token (revocation, deactivation, a new role) drops those entries at once.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain
from typing import Any

from sqlalchemy import event, inspect, select, update
from sqlalchemy.orm import Session, joinedload

from portal.auth.models import ApiToken, User
from portal.core.access import Role, Scope
from portal.core.cache import TOKENS_CHANGED, token_cache
from portal.core.models import utcnow

TOKEN_PREFIX = "ref_"  # nosec B105  # the public marker every token starts with, not a secret
TOKEN_PATTERN = re.compile(r"ref_[A-Za-z0-9]{8}_[A-Za-z0-9_-]{43}")
TOKEN_NAME_MAX_LENGTH = 100
# last_used_at is written at most this often per token, so that reads do not each cost a write.
LAST_USED_PRECISION = timedelta(minutes=5)


class TokenError(ValueError):
    """A token request that cannot be honoured; the message says why."""


class TokenRefused(Exception):
    """A bearer token that opens nothing: `unknown` when no token has this secret (a guess), otherwise
    the token exists but is revoked, expired or belongs to a deactivated account."""

    def __init__(self, detail: str, unknown: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.unknown = unknown


@dataclass(frozen=True)
class TokenGrant:
    """What a usable token lets its bearer do, as checked at the start of a request."""

    token_id: int
    prefix: str
    name: str
    scopes: frozenset[Scope]
    expires_at: datetime | None
    last_used_at: datetime | None
    user_id: int
    role: Role

    @classmethod
    def of(cls, token: ApiToken) -> TokenGrant:
        return cls(
            token.id,
            token.prefix,
            token.name,
            token.scope_set,
            token.expires_at,
            token.last_used_at,
            token.user_id,
            token.user.level,
        )

    def to_json(self) -> bytes:
        values: dict[str, Any] = {**self.__dict__, "scopes": sorted(self.scopes), "role": self.role.label}
        for name in ("expires_at", "last_used_at"):
            values[name] = values[name].isoformat() if values[name] else None
        return json.dumps(values).encode()

    @classmethod
    def from_json(cls, body: bytes) -> TokenGrant:
        values = json.loads(body)
        values["scopes"] = frozenset(Scope(scope) for scope in values["scopes"])
        values["role"] = Role.parse(values["role"])
        for name in ("expires_at", "last_used_at"):
            values[name] = datetime.fromisoformat(values[name]) if values[name] else None
        return cls(**values)


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


def use_token(session: Session, secret: str, now: datetime) -> TokenGrant:
    """What the token whose secret this is grants, its use recorded; raises `TokenRefused`."""
    cache_key = token_cache.key("verified", [("secret", hash_secret(secret))])
    cached = token_cache.get(cache_key)
    grant = TokenGrant.from_json(cached) if cached else None
    if grant is None:
        token = find_token(session, secret)
        if token is None:
            raise TokenRefused("This API token is unknown.", unknown=True)
        problem = why_unusable(token, now)
        if problem:
            raise TokenRefused(problem, unknown=False)
        grant = TokenGrant.of(token)
    elif grant.expires_at is not None and grant.expires_at <= now:
        raise TokenRefused(f"The API token {grant.prefix} expired on {grant.expires_at:%Y-%m-%d}.", unknown=False)
    if grant.last_used_at is None or now - grant.last_used_at >= LAST_USED_PRECISION:
        # A plain UPDATE: recording a use must not drop every cached grant as an ORM change would.
        session.execute(update(ApiToken).where(ApiToken.id == grant.token_id).values(last_used_at=now))
        session.commit()
        grant = TokenGrant(**{**grant.__dict__, "last_used_at": now})
    elif cached:
        return grant
    token_cache.put(cache_key, grant.to_json())
    return grant


@event.listens_for(Session, "before_flush")
def _flag_account_changes(session: Session, _context: Any, _instances: Any) -> None:
    """Cached grants must not outlive a revocation, a deactivation or a change of role."""
    changed = chain(session.new, session.deleted, (item for item in session.dirty if _changes_grants(item)))
    if any(isinstance(item, (User, ApiToken)) for item in changed):
        session.info[TOKENS_CHANGED] = True


def _changes_grants(item: object) -> bool:
    """Whether this change can alter what a token grants (a sign-in's new last_login_at cannot)."""
    if isinstance(item, ApiToken):
        return True
    if isinstance(item, User):
        state = inspect(item)
        return any(state.attrs[name].history.has_changes() for name in ("role", "active"))
    return False


def revoke(token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
