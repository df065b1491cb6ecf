"""Small builders for test data: each creates one object with sensible defaults and flushes it."""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from portal.applications.models import Application
from portal.auth.models import ApiToken, LoginSession, User
from portal.auth.sessions import hash_key
from portal.auth.tokens import issue_token
from portal.core.access import Scope
from portal.core.models import utcnow
from portal.entities.models import Entity
from portal.environments.models import Component, Environment
from portal.interfaces.models import Interface
from portal.people.models import Person, Stakeholder
from portal.search.index import rebuild
from portal.sources.models import Source


def make_entity(
    session: Session, code: str, name: str | None = None, kind: str = "team", parent: Entity | None = None
) -> Entity:
    entity = Entity(code=code, name=name or code.title(), kind=kind, parent=parent)
    session.add(entity)
    session.flush()
    return entity


def make_application(session: Session, trigram: str, name: str | None = None, **overrides: Any) -> Application:
    values: dict[str, Any] = {"name": name or f"Application {trigram}", "status": "production"}
    values.update(overrides)
    application = Application(trigram=trigram, **values)
    session.add(application)
    session.flush()
    return application


def make_person(session: Session, login: str, name: str | None = None, **overrides: Any) -> Person:
    values: dict[str, Any] = {"display_name": name or login.title(), "email": f"{login}@bank.example"}
    values.update(overrides)
    person = Person(login=login, **values)
    session.add(person)
    session.flush()
    return person


def add_stakeholder(session: Session, application: Application, person: Person, role: str = "owner") -> Stakeholder:
    link = Stakeholder(application=application, person=person, role=role)
    session.add(link)
    session.flush()
    return link


def make_environment(
    session: Session,
    application: Application,
    kind: str = "prod",
    name: str | None = None,
    url: str | None = None,
    servers: tuple[str, ...] = (),
) -> Environment:
    environment = Environment(application=application, kind=kind, name=name or kind.upper(), url=url, status="active")
    environment.components = [Component(kind="server", name=server) for server in servers]
    session.add(environment)
    session.flush()
    return environment


def make_interface(
    session: Session, source: Application, target: Application, protocol: str = "REST", **overrides: Any
) -> Interface:
    interface = Interface(source=source, target=target, protocol=protocol, **overrides)
    session.add(interface)
    session.flush()
    return interface


def reindex(session: Session) -> None:
    rebuild(session)
    session.flush()


def make_documented_referential(session: Session) -> dict[str, Application]:
    """What the OpenAPI document's examples name (DSI-PAY, BCA, BCA2, XYZ, jdupont, mmartin...), with optional
    members both present and absent: the document's tests and the API fuzz read it. Returns the applications."""
    group = make_entity(session, "DSI", "Direction des Systèmes d'Information", kind="division")
    team = make_entity(session, "DSI-PAY", "Paiements", kind="department", parent=group)
    make_entity(session, "DSI-PAY-CARD", "Cartes", parent=team)
    bca = make_application(
        session,
        "BCA",
        "Banque de Compensation Automatisée",
        entity=team,
        description="Compensation interbancaire",
        criticality="critical",
        go_live_date=date(2015, 3, 2),
        tags="paiement, sepa",
        documentation_url="https://wiki.bank.example/bca",
    )
    bca2 = make_application(session, "BCA2", "Banque de Compensation v2", entity=team, status="build")
    xyz = make_application(session, "XYZ", "Gestion des habilitations", status="retired")
    owner = make_person(session, "jdupont", "Jean Dupont", entity=team)
    support = make_person(session, "mmartin", "Marie Martin")
    support.email = None  # make_person always sets an email
    add_stakeholder(session, bca, owner, "owner")
    add_stakeholder(session, bca, support, "support")
    production = make_environment(
        session, bca, "prod", url="https://bca.intranet.bank.example", servers=("par-lx-bca-p01",)
    )
    production.components[0].attributes = {"ip": "10.0.0.1"}
    make_environment(session, bca, "uat")
    make_interface(session, bca, bca2, protocol="SFTP", frequency="daily", middleware="CFT")
    make_interface(session, xyz, bca, protocol="REST")
    return {"BCA": bca, "BCA2": bca2, "XYZ": xyz}


def make_user(
    session: Session, login: str, role: str = "reader", password: str | None = None, **overrides: Any
) -> User:
    values: dict[str, Any] = {"display_name": login.title(), "auth_source": "local", "email": f"{login}@bank.example"}
    values.update(overrides)
    user = User(login=login, role=role, **values)
    if password:
        user.set_password(password)
    session.add(user)
    session.flush()
    return user


def make_login_session(session: Session, user: User, expires_in: timedelta = timedelta(hours=1)) -> str:
    """A server-side login session for `user`; returns the key a signed-in browser's cookie carries."""
    key = secrets.token_urlsafe(16)
    now = utcnow()
    session.add(LoginSession(key_hash=hash_key(key), user=user, last_seen_at=now, expires_at=now + expires_in))
    session.flush()
    return key


def make_token(session: Session, user: User, *scopes: Scope, **options: Any) -> tuple[ApiToken, str]:
    return issue_token(session, user, options.pop("name", "test token"), set(scopes or (Scope.READ,)), **options)


def make_source(session: Session, name: str, kind: str = "push", precedence: int = 50, **overrides: Any) -> Source:
    source = Source(name=name, kind=kind, precedence=precedence, **overrides)
    session.add(source)
    session.flush()
    return source


def manual_source(session: Session) -> Source:
    """The `manual` source every database has from its first migration (portal edits)."""
    return session.query(Source).filter_by(name="manual").one()
