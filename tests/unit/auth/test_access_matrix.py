"""Every route against every caller: who gets in, who is sent to sign in, who is refused.

The expected access of each endpoint is written here, by hand, rather than read from the code: a new
route fails `test_every_route_has_an_expected_access` until someone decides who may call it, and a
policy changed in the code fails the matrix until this table agrees.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from flask import Flask
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from portal.core.access import Policy, Role, Scope, policy_of
from tests.unit.builders import make_token, make_user
from tests.unit.conftest import CSRF_TOKEN, sign_in_as

PUBLIC = Policy(role=None)
READER = Policy(Role.READER, Scope.READ)
EDITOR = Policy(Role.EDITOR, Scope.READ)
STEWARD = Policy(Role.STEWARD, Scope.READ)
ADMIN = Policy(Role.ADMIN, Scope.READ)
# Pushes from NiFi and other sources: a steward's ingest token (or a steward's browser).
INGEST = Policy(Role.STEWARD, Scope.INGEST)

EXPECTED_ACCESS: dict[str, Policy] = {
    "static": PUBLIC,
    "health.healthz": PUBLIC,
    "health.readyz": PUBLIC,
    # Open to the sign-in check, then refused (403) outside the metrics networks without the metrics token:
    # the test client calls from 127.0.0.1, which the default networks let in.
    "health.metrics": PUBLIC,
    "auth.login": PUBLIC,
    "auth.login_local": PUBLIC,
    "auth.sso": PUBLIC,
    "auth.callback": PUBLIC,
    "auth.logout": PUBLIC,
    "auth.signed_out": PUBLIC,
    "auth.tokens": READER,
    "auth.create_token": READER,
    "auth.revoke_token": READER,
    "auth.users": ADMIN,
    "auth.update_user": ADMIN,
    "auth_api.me": READER,
    "applications.list_": READER,
    "applications.detail": READER,
    "applications.export": READER,
    "applications_api.search": READER,
    "applications_api.list_": READER,
    "applications_api.detail": READER,
    "entities.list_": READER,
    "entities.detail": READER,
    "entities_api.list_": READER,
    "entities_api.detail": READER,
    "people.detail": READER,
    "people_api.list_": READER,
    "people_api.detail": READER,
    "interfaces_api.list_": READER,
    "search_api.search": READER,
    "openapi.document": READER,
    "openapi.docs": READER,
    "applications.edit": EDITOR,
    "applications.save": EDITOR,
    "imports.list_": STEWARD,
    "imports.upload": STEWARD,
    "imports.template": STEWARD,
    "imports.detail": STEWARD,
    "imports.apply": STEWARD,
    "imports.cancel": STEWARD,
    "imports.error_workbook": STEWARD,
    "conflicts.list_": STEWARD,
    "conflicts.resolve_": STEWARD,
    "conflicts_api.list_": READER,
    "sources.list_": STEWARD,
    "sources.create": ADMIN,
    "sources.update": ADMIN,
    "sources_api.list_": READER,
    "sources_api.detail": READER,
    "changes.history": READER,
    "changes_api.list_": READER,
    "imports_api.runs": STEWARD,
    "imports_api.run": STEWARD,
    "imports_api.push": INGEST,
    "imports_api.begin_snapshot": INGEST,
    "imports_api.commit_snapshot": INGEST,
    "imports_api.abort_snapshot": INGEST,
}

# What each token scope lets a token do (the owner's role permitting).
TOKEN_GRANTS = {"read": {"read"}, "write": {"read", "write"}, "ingest": {"ingest"}}
SAMPLE_ARGUMENTS = {
    "trigram": "BCA",
    "code": "DSI",
    "login": "nobody",
    "token_id": "999999",
    "user_id": "999999",
    "filename": "portal.css",
    "run_id": "999999",
    "snapshot_id": "999999",
    "source_name": "nowhere",
    "conflict_id": "999999",
    "name": "nowhere",
}


@dataclass(frozen=True)
class Caller:
    name: str
    role: str | None = None  # a signed-in browser with this role
    token_scope: str | None = None  # a bearer token with this scope, owned by an admin


CALLERS = [
    Caller("anonymous"),
    *(Caller(role, role=role) for role in ("reader", "editor", "steward", "admin")),
    *(Caller(f"{scope}-token", token_scope=scope) for scope in ("read", "write", "ingest")),
]


def concrete_url(rule: Rule) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda match: SAMPLE_ARGUMENTS[match.group(1)], rule.rule)


def routes(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) of every route, HEAD and OPTIONS aside (Flask answers them itself)."""
    return sorted(
        (rule.endpoint, method, concrete_url(rule))
        for rule in app.url_map.iter_rules()
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    )


def expected_outcome(policy: Policy, caller: Caller, url: str) -> str:
    """ "allowed", "sign-in" (redirect or 401) or "forbidden" (403), from this file's table alone."""
    if policy.role is None:
        return "allowed"
    is_api = url.startswith("/api/v1/")
    if caller.token_scope is not None and is_api:
        return "allowed" if policy.scope and policy.scope.value in TOKEN_GRANTS[caller.token_scope] else "forbidden"
    if caller.role is None:  # anonymous, or a token on a page (tokens only open the API)
        return "sign-in"
    return "allowed" if Role.parse(caller.role) >= policy.role else "forbidden"


def actual_outcome(response, url: str) -> str:
    if response.status_code == 403:
        return "forbidden"
    if response.status_code == 401 and "WWW-Authenticate" in response.headers:
        return "sign-in"
    if response.status_code == 302 and response.headers["Location"].startswith("/auth/login?next="):
        return "sign-in"
    return "allowed"


def test_every_route_has_an_expected_access(app):
    assert {endpoint for endpoint, _, _ in routes(app)} == set(EXPECTED_ACCESS)


def test_every_view_declares_the_expected_policy(app):
    declared = {endpoint: policy_of(app, endpoint) for endpoint, _, _ in routes(app)}
    assert declared == EXPECTED_ACCESS


def test_a_view_without_a_policy_is_refused_to_everyone(app, login_as):
    app.view_functions["health.healthz"].__dict__.pop("access_policy")
    try:
        response = login_as("admin").get("/healthz")
    finally:
        app.view_functions["health.healthz"].access_policy = PUBLIC
    assert response.status_code == 403


def requester(caller: Caller, app: Flask, session) -> Callable[[str, str], TestResponse]:
    """Sends one request as `caller`, from a fresh browser each time (a sign-out must not affect the next)."""
    headers: dict[str, str] = {}
    user = None
    if caller.role is not None:
        user = make_user(session, f"matrix-{caller.role}", caller.role)
        headers["X-CSRF-Token"] = CSRF_TOKEN
    if caller.token_scope is not None:
        _, secret = make_token(session, make_user(session, "matrix-script", "admin"), Scope(caller.token_scope))
        headers["Authorization"] = f"Bearer {secret}"

    def send(method: str, url: str) -> TestResponse:
        client = app.test_client()
        if user is not None:
            sign_in_as(client, session, user)
        return client.open(url, method=method, headers=headers)

    return send


@pytest.mark.parametrize("caller", CALLERS, ids=lambda caller: caller.name)
def test_route_access_matches_the_table(app, session, caller):
    send = requester(caller, app, session)
    mismatches = []
    for endpoint, method, url in routes(app):
        response = send(method, url)
        expected = expected_outcome(EXPECTED_ACCESS[endpoint], caller, url)
        actual = actual_outcome(response, url)
        if actual != expected:
            mismatches.append(f"{method} {url} ({endpoint}): expected {expected}, got {response.status_code}")
    assert mismatches == []
