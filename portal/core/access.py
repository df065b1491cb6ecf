"""Who may call what: the roles, the token scopes, and the policy every endpoint declares.

Roles are ordered (reader < editor < steward < admin): a role may do everything the roles below it may.
A view declares its policy with `@requires(Role.X)` or `@public`; `portal/auth` enforces it before the
view runs. A view without a declared policy is refused to everyone (and the route matrix test fails),
so a new route can never be open by accident.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, TypeVar

from flask import Flask

View = TypeVar("View", bound=Callable[..., Any])


class Role(IntEnum):
    """What a user may do; each role includes the ones below it."""

    READER = 1  # integrators: read everything, export, call the read API
    EDITOR = 2  # correct fields by hand
    STEWARD = 3  # import workbooks, resolve conflicts
    ADMIN = 4  # users, roles, tokens, sources

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Role:
        """The role named `value` (any case); raises `ValueError` listing the valid names."""
        try:
            return cls[value.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown role {value!r}; use one of {', '.join(ROLE_NAMES)}") from None


ROLE_NAMES = tuple(role.label for role in Role)


class Scope(StrEnum):
    """What an API token may be used for, whatever its owner's role allows."""

    READ = "read"
    WRITE = "write"  # edits through the API; includes read
    INGEST = "ingest"  # pushes from NiFi and other sources, nothing else


# The scopes each token scope satisfies.
SCOPE_GRANTS: dict[Scope, frozenset[Scope]] = {
    Scope.READ: frozenset({Scope.READ}),
    Scope.WRITE: frozenset({Scope.READ, Scope.WRITE}),
    Scope.INGEST: frozenset({Scope.INGEST}),
}


def granted_scopes(token_scopes: set[Scope] | frozenset[Scope]) -> frozenset[Scope]:
    return frozenset().union(*(SCOPE_GRANTS[scope] for scope in token_scopes))


@dataclass(frozen=True)
class Policy:
    """The least role a caller needs (None: anyone, signed in or not), and the scope a token needs."""

    role: Role | None
    scope: Scope = Scope.READ

    @property
    def is_public(self) -> bool:
        return self.role is None


PUBLIC = Policy(role=None)

# Endpoints Flask creates itself, which no decorator can reach.
BUILT_IN_POLICIES = {"static": PUBLIC}


def public(view: View) -> View:
    """Anyone may call this view: health probes, sign-in and sign-out pages."""
    view.access_policy = PUBLIC  # type: ignore[attr-defined]
    return view


def requires(role: Role, scope: Scope = Scope.READ) -> Callable[[View], View]:
    """Callers need at least `role`; an API token also needs `scope` (read by default)."""

    def declare(view: View) -> View:
        view.access_policy = Policy(role, scope)  # type: ignore[attr-defined]
        return view

    return declare


def policy_of(app: Flask, endpoint: str | None) -> Policy | None:
    """The policy declared for `endpoint`, or None when it declares none (which means: refuse)."""
    if endpoint is None:
        return None
    if endpoint in BUILT_IN_POLICIES:
        return BUILT_IN_POLICIES[endpoint]
    return getattr(app.view_functions.get(endpoint), "access_policy", None)
