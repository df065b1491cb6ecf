"""The database itself keeps the referential consistent, whatever writes to it."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from portal.applications.models import Application
from portal.entities.models import Entity
from portal.environments.models import Component, Environment
from portal.people.models import Stakeholder
from tests.unit.builders import add_stakeholder, make_application, make_entity, make_environment, make_person


def refused(session, statement_or_object) -> None:
    with pytest.raises(IntegrityError), session.begin_nested():
        if hasattr(statement_or_object, "__table__"):
            session.add(statement_or_object)
            session.flush()
        else:
            session.execute(statement_or_object)


def test_trigram_is_unique(session):
    make_application(session, "BCA")
    refused(session, Application(trigram="BCA", name="Again", status="production"))


def test_lowercase_trigram_is_refused(session):
    refused(session, Application(trigram="bca", name="Lowercase", status="production"))


def test_unknown_status_is_refused(session):
    refused(session, Application(trigram="BCA", name="Odd", status="sunset"))


def test_unknown_role_is_refused(session):
    application = make_application(session, "BCA")
    person = make_person(session, "jdupont")
    refused(session, insert(Stakeholder).values(application_id=application.id, person_id=person.id, role="boss"))


def test_entity_with_applications_cannot_be_deleted(session):
    team = make_entity(session, "DSI-PAY")
    make_application(session, "BCA", entity=team)
    refused(session, delete(Entity).where(Entity.code == "DSI-PAY"))


def test_entity_with_children_cannot_be_deleted(session):
    division = make_entity(session, "DSI", kind="division")
    make_entity(session, "DSI-PAY", parent=division)
    refused(session, delete(Entity).where(Entity.code == "DSI"))


def test_deleting_an_application_deletes_what_only_exists_through_it(session):
    application = make_application(session, "BCA")
    add_stakeholder(session, application, make_person(session, "jdupont"))
    make_environment(session, application, "prod", servers=("par-lx-bca-p01",))
    session.execute(delete(Application).where(Application.trigram == "BCA"))
    session.expunge_all()
    assert session.scalars(select(Stakeholder)).all() == []
    assert session.scalars(select(Environment)).all() == []
    assert session.scalars(select(Component)).all() == []
