"""Accounts, their server-side sign-in sessions, and their API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from portal.core.access import ROLE_NAMES, Role, Scope
from portal.core.models import Base, TimestampMixin, UTCDateTime, enum_check, utcnow

AUTH_SOURCES = ("local", "oidc")


def normalize_login(value: str) -> str:
    """Logins are stored lowercase and matched case-insensitively."""
    return value.strip().lower()


class User(TimestampMixin, Base):
    """Someone who signs in: a local account (password) or one created by single sign-on (issuer, subject).

    Single sign-on recomputes `role` from the identity provider's claims at every sign-in; local
    accounts keep the role an admin gives them.
    """

    __tablename__ = "user_account"
    __table_args__ = (
        CheckConstraint("login = lower(login)", name="login_lowercase"),
        CheckConstraint(enum_check("role", ROLE_NAMES), name="role"),
        CheckConstraint(enum_check("auth_source", AUTH_SOURCES), name="auth_source"),
        UniqueConstraint("oidc_issuer", "oidc_subject"),
    )
    # Not a column: which login session the current request belongs to (see `get_id`).
    __allow_unmapped__ = True
    session_key: str | None = None

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(200), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(default=True)
    auth_source: Mapped[str] = mapped_column(String(10))
    password_hash: Mapped[str | None] = mapped_column(String(300))
    oidc_issuer: Mapped[str | None] = mapped_column(String(500))
    oidc_subject: Mapped[str | None] = mapped_column(String(255))
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", foreign_keys="ApiToken.user_id", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<User {self.login} {self.role}>"

    @property
    def level(self) -> Role:
        return Role.parse(self.role)

    def can(self, role: Role) -> bool:
        """Whether this user holds `role` or a higher one (templates show links with it)."""
        return self.active and self.level >= role

    def set_password(self, password: str) -> None:
        # Werkzeug's default is scrypt, a memory-hard KDF with a random salt per hash.
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash or "", password)

    # flask-login's protocol. The cookie holds the key of a server-side login session rather than the
    # user id, so that signing out or deactivating an account ends every copy of that cookie.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str | None:
        return self.session_key


class LoginSession(Base):
    """One browser's sign-in: the cookie carries its key, the database only the key's hash."""

    __tablename__ = "login_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Kept for RP-initiated logout (the provider's end-session endpoint wants it as a hint).
    id_token: Mapped[str | None] = mapped_column(Text)

    user: Mapped[User] = relationship()


class ApiToken(Base):
    """A bearer token for scripts: only the SHA-256 of its secret is stored; `prefix` identifies it."""

    __tablename__ = "api_token"
    __table_args__ = (Index("ix_api_token_user_id_revoked_at", "user_id", "revoked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(20))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(50))  # comma-separated Scope values
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="tokens", foreign_keys=[user_id])

    @property
    def scope_set(self) -> frozenset[Scope]:
        return frozenset(Scope(name) for name in self.scopes.split(",") if name)
