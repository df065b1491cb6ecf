"""`flask users` and `flask tokens`, as an operator or a deployment script runs them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.auth.models import ApiToken, LoginSession, User
from portal.auth.queries import find_user_by_login
from portal.auth.tokens import TOKEN_PATTERN
from tests.unit.builders import make_login_session, make_user


def test_create_user_prints_a_generated_password_once(flask, session):
    result = flask("users", "create", "Alice", "--role", "steward", "--name", "Alice Martin")
    assert result.exit_code == 0, result.output
    password = result.output.split("Password (shown once): ")[1].strip()
    user = find_user_by_login(session, "alice")
    assert (user.role, user.display_name, user.auth_source) == ("steward", "Alice Martin", "local")
    assert user.check_password(password)
    assert password not in user.password_hash


def test_create_user_takes_the_password_from_the_environment(flask, session):
    result = flask("users", "create", "bob", "--password-env", "BOB_PASSWORD", env={"BOB_PASSWORD": "long enough pass"})
    assert result.exit_code == 0, result.output
    assert "long enough pass" not in result.output
    assert find_user_by_login(session, "bob").check_password("long enough pass")


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("users", "create", "bob", "--password-env", "PW"), {"PW": "short"}, "at least 12 characters"),
        (("users", "create", "bob", "--role", "god"), None, "Invalid value for '--role'"),
        (("users", "set-role", "nobody", "admin"), None, "No account with the login 'nobody'"),
    ],
)
def test_bad_commands_explain_and_change_nothing(flask, session, args, env, message):
    result = flask(*args, env=env)
    assert result.exit_code != 0
    assert message in result.output
    assert find_user_by_login(session, "bob") is None


def test_create_user_refuses_a_taken_login(flask, session):
    make_user(session, "alice")
    result = flask("users", "create", "ALICE")
    assert result.exit_code != 0
    assert "already exists" in result.output


def test_ensure_admin_creates_the_embedded_admin_once(flask, session):
    first = flask("users", "ensure-admin", env={"PORTAL_ADMIN_PASSWORD": ""})
    second = flask("users", "ensure-admin")
    assert "password (shown once)" in first.output
    assert "Local admin: admin" in second.output
    assert session.scalars(select(User).where(User.role == "admin")).all()[0].login == "admin"


def test_ensure_admin_uses_the_configured_password(flask, session, app):
    app.config["ADMIN_PASSWORD"] = "from the secret store"
    try:
        result = flask("users", "ensure-admin")
    finally:
        app.config["ADMIN_PASSWORD"] = ""
    assert "from the secret store" not in result.output
    assert find_user_by_login(session, "admin").check_password("from the secret store")


def test_set_role_reset_password_deactivate_and_activate(flask, session):
    user = make_user(session, "alice", password="old password 123")
    make_login_session(session, user)
    assert flask("users", "set-role", "alice", "editor").exit_code == 0
    reset = flask("users", "reset-password", "alice")
    new_password = reset.output.split("(shown once): ")[1].strip()
    session.refresh(user)
    assert user.role == "editor"
    assert user.check_password(new_password) and not user.check_password("old password 123")
    assert session.scalars(select(LoginSession).where(LoginSession.user_id == user.id)).all() == []
    make_login_session(session, user)
    flask("users", "deactivate", "alice")
    session.refresh(user)
    assert not user.active
    assert session.scalars(select(LoginSession).where(LoginSession.user_id == user.id)).all() == []
    flask("users", "activate", "alice")
    session.refresh(user)
    assert user.active
    assert "alice\teditor\tlocal\tactive" in flask("users", "list").output


def test_tokens_create_prints_only_the_secret_on_stdout(flask, session):
    make_user(session, "nifi", "steward")
    result = flask("tokens", "create", "--user", "nifi", "--name", "nifi-push", "--scope", "ingest")
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert TOKEN_PATTERN.fullmatch(secret)
    token = session.scalars(select(ApiToken).where(ApiToken.name == "nifi-push")).one()
    assert token.scopes == "ingest"
    assert token.prefix in result.stderr


def test_tokens_revoke_by_prefix(flask, session):
    make_user(session, "nifi", "steward")
    flask("tokens", "create", "--user", "nifi", "--name", "nifi-push", "--scope", "ingest")
    token = session.scalars(select(ApiToken)).one()
    assert "ingest\tactive" in flask("tokens", "list", "--user", "nifi").output
    result = flask("tokens", "revoke", token.prefix)
    assert result.exit_code == 0, result.output
    session.refresh(token)
    assert token.revoked_at is not None
    assert flask("tokens", "revoke", "ref_nothere").exit_code != 0
