"""`flask users ...` and `flask tokens ...`: accounts and API tokens from the command line.

Passwords and token secrets are printed once and never stored in clear; a password can also come
from the environment (`PORTAL_ADMIN_PASSWORD` for the embedded admin) so that nothing is typed.
"""

from __future__ import annotations

import os
import secrets

import click
from flask import current_app
from sqlalchemy import select

from portal.auth.models import User, normalize_login
from portal.auth.queries import find_token_by_prefix, find_user_by_login, select_tokens, select_users
from portal.auth.sessions import end_all_sessions
from portal.auth.tokens import TokenError, issue_token, revoke
from portal.core.access import ROLE_NAMES, Role, Scope
from portal.extensions import db

MIN_PASSWORD_LENGTH = 12
ROLE_CHOICE = click.Choice(ROLE_NAMES, case_sensitive=False)


def _generated_password() -> str:
    return secrets.token_urlsafe(18)


def _checked_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.ClickException(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    return password


def _get_user(login: str) -> User:
    user = find_user_by_login(db.session, login)
    if user is None:
        raise click.ClickException(f"No account with the login {normalize_login(login)!r}.")
    return user


@click.group("users", help="Local accounts: create, set a role, reset a password, deactivate.")
def users_group() -> None:
    pass


@users_group.command("create")
@click.argument("login")
@click.option("--role", type=ROLE_CHOICE, default="reader", show_default=True)
@click.option("--name", help="Display name (default: the login).")
@click.option("--email")
@click.option(
    "--password-env",
    metavar="VARIABLE",
    help="Take the password from this environment variable instead of generating one.",
)
@click.option("--no-password", is_flag=True, help="An account for API tokens only (e.g. NiFi): it cannot sign in.")
def create_user(
    login: str, role: str, name: str | None, email: str | None, password_env: str | None, no_password: bool
) -> None:
    """Create a local account; prints its generated password once."""
    login = normalize_login(login)
    if not login or len(login) > 200:
        raise click.ClickException("A login has 1 to 200 characters.")
    if find_user_by_login(db.session, login) is not None:
        raise click.ClickException(f"An account with the login {login!r} already exists.")
    user = User(login=login, display_name=name or login, email=email, role=role.lower(), auth_source="local")
    password = None
    if not no_password:
        password = _checked_password(os.environ.get(password_env, "")) if password_env else _generated_password()
        user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"Created {login} ({user.role}).")
    if password and not password_env:
        click.echo(f"Password (shown once): {password}")


@users_group.command("ensure-admin")
@click.option("--login", default="admin", show_default=True)
def ensure_admin(login: str) -> None:
    """Create the local admin of the embedded default unless an active local admin exists.

    The password comes from PORTAL_ADMIN_PASSWORD, or is generated and printed once.
    """
    existing = db.session.scalars(
        select(User).where(User.auth_source == "local", User.role == "admin", User.active.is_(True))
    ).first()
    if existing is not None:
        click.echo(
            f"Local admin: {existing.login} (its password was printed when it was created; "
            f"`flask users reset-password {existing.login}` sets a new one)."
        )
        return
    if find_user_by_login(db.session, login) is not None:
        raise click.ClickException(f"An account named {login!r} exists but is not an active local admin.")
    from_environment = current_app.config.get("ADMIN_PASSWORD") or ""
    password = _checked_password(from_environment) if from_environment else _generated_password()
    user = User(login=normalize_login(login), display_name="Administrator", role="admin", auth_source="local")
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    if from_environment:
        click.echo(f"Created the local admin {user.login} with the password from PORTAL_ADMIN_PASSWORD.")
    else:
        click.echo(f"Created the local admin {user.login}; password (shown once): {password}")


@users_group.command("set-role")
@click.argument("login")
@click.argument("role", type=ROLE_CHOICE)
def set_role(login: str, role: str) -> None:
    """Give a user a role (single sign-on users get theirs back from their groups at their next sign-in)."""
    user = _get_user(login)
    user.role = Role.parse(role).label
    db.session.commit()
    click.echo(f"{user.login} is now {user.role}.")


@users_group.command("reset-password")
@click.argument("login")
@click.option("--password-env", metavar="VARIABLE", help="Take the new password from this environment variable.")
def reset_password(login: str, password_env: str | None) -> None:
    """Set a new password on a local account and end its sessions; prints it once when generated."""
    user = _get_user(login)
    if user.auth_source != "local":
        raise click.ClickException(f"{user.login} signs in through single sign-on and has no password here.")
    password = _checked_password(os.environ.get(password_env, "")) if password_env else _generated_password()
    user.set_password(password)
    end_all_sessions(db.session, user)
    db.session.commit()
    click.echo(f"New password for {user.login}" + ("." if password_env else f" (shown once): {password}"))


@users_group.command("deactivate")
@click.argument("login")
def deactivate(login: str) -> None:
    """Deactivate an account: its sessions end now and its API tokens stop working."""
    user = _get_user(login)
    user.active = False
    end_all_sessions(db.session, user)
    db.session.commit()
    click.echo(f"{user.login} is deactivated.")


@users_group.command("activate")
@click.argument("login")
def activate(login: str) -> None:
    user = _get_user(login)
    user.active = True
    db.session.commit()
    click.echo(f"{user.login} is active.")


@users_group.command("list")
def list_users() -> None:
    for user in db.session.scalars(select_users()):
        last = f"{user.last_login_at:%Y-%m-%d %H:%M}" if user.last_login_at else "never"
        state = "active" if user.active else "deactivated"
        click.echo(f"{user.login}\t{user.role}\t{user.auth_source}\t{state}\tlast sign-in {last}")


@click.group("tokens", help="API tokens for automation (NiFi, scheduled jobs, scripts).")
def tokens_group() -> None:
    pass


@tokens_group.command("create")
@click.option("--user", "login", required=True, help="The account the token acts as.")
@click.option("--name", required=True, help="What uses the token, e.g. nifi-push.")
@click.option("--scope", "scopes", type=click.Choice([scope.value for scope in Scope]), multiple=True, required=True)
@click.option("--expires-in-days", type=int, help="Default: never expires.")
def create_token(login: str, name: str, scopes: tuple[str, ...], expires_in_days: int | None) -> None:
    """Create a token and print only its secret (shown once), so that a script can capture it."""
    user = _get_user(login)
    try:
        token, secret = issue_token(db.session, user, name, {Scope(scope) for scope in scopes}, expires_in_days)
    except TokenError as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(f"Created {token.prefix} for {user.login} ({token.scopes}).", err=True)
    click.echo(secret)


@tokens_group.command("revoke")
@click.argument("prefix")
def revoke_token(prefix: str) -> None:
    """Revoke the token whose public prefix (ref_xxxxxxxx) is given."""
    token = find_token_by_prefix(db.session, prefix)
    if token is None:
        raise click.ClickException(f"No token with the prefix {prefix!r}.")
    revoke(token)
    db.session.commit()
    click.echo(f"{token.prefix} ({token.name}) is revoked.")


@tokens_group.command("list")
@click.option("--user", "login", help="Only this account's tokens.")
def list_tokens(login: str | None) -> None:
    user_id = _get_user(login).id if login else None
    for token in db.session.scalars(select_tokens(user_id=user_id)):
        state = "revoked" if token.revoked_at else "active"
        used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
        click.echo(f"{token.prefix}\t{token.user.login}\t{token.name}\t{token.scopes}\t{state}\tlast used {used}")
