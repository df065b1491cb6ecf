"""The demo data as generated: realistic, and within every constraint of the referential.

One load of the XS size serves the whole module (`module_connection`); each test runs in a savepoint of it."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.applications.models import TRIGRAM_PATTERN, Application
from portal.demo.generator import LOAD_ORDER, MIN_PEOPLE, REFERENCE_DATE, DemoDataError, generate
from portal.entities.models import Entity
from portal.environments.models import Component, Environment
from portal.interfaces.models import Interface
from portal.people.models import Person, Stakeholder
from portal.search.models import SearchDocument
from tests.unit.builders import make_application
from tests.unit.conftest import shared_session
from tests.unit.demo.test_generator import APPLICATIONS, HOSTNAME

pytestmark = pytest.mark.usefixtures("module_connection")


@pytest.fixture(scope="module")
def counts(app: Flask, module_connection) -> dict[str, int]:
    with shared_session(app) as session:
        return generate(session, "XS", 42, applications=APPLICATIONS)


def test_generate_returns_the_row_count_of_each_table(session, counts):
    for model in (*LOAD_ORDER, SearchDocument):
        assert counts[model.__tablename__] == session.scalar(select(func.count()).select_from(model))
    assert counts["application"] == APPLICATIONS
    assert counts["person"] == MIN_PEOPLE
    assert 250 <= counts["entity"] <= 350


def test_generate_refuses_a_database_that_holds_applications(session, counts):
    with pytest.raises(DemoDataError, match="replace"):
        generate(session, "XS", 42, applications=10)
    assert session.scalar(select(func.count()).select_from(Application)) == APPLICATIONS


def test_every_application_has_exactly_one_owner(session, counts):
    owners = Counter(session.scalars(select(Stakeholder.application_id).where(Stakeholder.role == "owner")))
    assert len(owners) == APPLICATIONS
    assert set(owners.values()) == {1}


def test_every_application_has_two_to_five_stakeholders(session, counts):
    per_application = Counter(session.scalars(select(Stakeholder.application_id)))
    assert min(per_application.values()) >= 2 and max(per_application.values()) <= 5
    assert {"it_owner", "tech_lead", "support"} <= set(session.scalars(select(Stakeholder.role).distinct()))


def test_trigrams_have_the_business_key_shape(session, counts):
    trigrams = set(session.scalars(select(Application.trigram)))
    assert len(trigrams) == APPLICATIONS
    assert all(TRIGRAM_PATTERN.match(trigram) for trigram in trigrams)
    # BCA and BCA2: some longer codes extend a three-letter one, so prefix searches return several.
    assert any(len(trigram) > 3 and trigram[:3] in trigrams for trigram in trigrams)


def test_every_application_has_a_prod_environment_and_two_to_four_in_all(session, counts):
    kinds_per_application: dict[int, list[str]] = {}
    for application_id, kind in session.execute(select(Environment.application_id, Environment.kind)):
        kinds_per_application.setdefault(application_id, []).append(kind)
    assert len(kinds_per_application) == APPLICATIONS
    assert all("prod" in kinds and 2 <= len(kinds) <= 4 for kinds in kinds_per_application.values())
    components = Counter(session.scalars(select(Component.environment_id)))
    assert len(components) == counts["environment"]
    assert set(components.values()) <= {1, 2, 3}


def test_servers_are_named_after_their_application(session, counts):
    rows = session.execute(
        select(Component.name, Application.trigram)
        .join(Environment, Environment.id == Component.environment_id)
        .join(Application, Application.id == Environment.application_id)
        .where(Component.kind == "server")
    ).all()
    assert rows
    for hostname, trigram in rows:
        match = HOSTNAME.match(hostname)
        assert match and match["trigram"] == trigram.lower()


def test_names_carry_french_accents(session, counts):
    for column in (Application.name, Person.display_name, Entity.name):
        assert any(not value.isascii() for value in session.scalars(select(column)))
    assert session.scalar(select(Entity.name).where(Entity.code == "DSI-ETU")) == "Direction des Études"


def test_logins_are_lowercase_initials_and_surname(session, counts):
    logins = list(session.scalars(select(Person.login)))
    assert all(re.fullmatch(r"[a-z]+[0-9]*", login) for login in logins)
    assert len(set(logins)) == len(logins)


def test_entity_tree_has_four_levels(session, counts):
    rows = {
        entity_id: (kind, parent_id)
        for entity_id, kind, parent_id in session.execute(select(Entity.id, Entity.kind, Entity.parent_id))
    }
    expected = {"group": 1, "division": 2, "department": 3, "team": 4}
    for entity_id, (kind, _parent_id) in rows.items():
        depth, current = 0, entity_id
        while current is not None:
            depth, current = depth + 1, rows[current][1]
        assert depth == expected[kind]
    assert set(Counter(kind for kind, _ in rows.values())) == set(expected)


def test_applications_belong_mostly_to_teams(session, counts):
    kinds = Counter(session.scalars(select(Entity.kind).join(Application, Application.entity_id == Entity.id)))
    assert kinds["team"] > 0.7 * APPLICATIONS
    assert kinds["department"] > 0


def test_lifecycle_dates_agree_with_status(session, counts):
    for status, go_live, end_of_support, decommission in session.execute(
        select(
            Application.status, Application.go_live_date, Application.end_of_support_date, Application.decommission_date
        )
    ):
        assert go_live is not None
        if status in ("plan", "build"):
            assert go_live > REFERENCE_DATE and end_of_support is None and decommission is None
        elif status == "production":
            assert go_live <= REFERENCE_DATE and decommission is None
        else:
            assert decommission is not None and go_live < end_of_support <= decommission
            assert (decommission <= REFERENCE_DATE) == (status == "retired")


def test_interfaces_number_about_one_per_application(session, counts):
    assert 0.8 * APPLICATIONS <= counts["interface"] <= APPLICATIONS
    protocols = set(session.scalars(select(Interface.protocol).distinct()))
    assert {"REST", "SFTP", "MQ"} <= protocols


def test_search_index_has_one_document_per_application(session, counts):
    assert counts["search_document"] == APPLICATIONS
    hosts = session.scalar(select(SearchDocument.hosts).where(SearchDocument.application_id == 1))
    assert hosts and "intranet.bank.example" in hosts


def test_applications_can_be_added_after_a_load(session, counts):
    # On PostgreSQL the id sequences were moved past the generated ids.
    assert make_application(session, "NEWAPP").id > APPLICATIONS
