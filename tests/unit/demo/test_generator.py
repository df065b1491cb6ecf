"""The demo-data generator: deterministic for a seed, and its `flask demo-data` command (what it generates:
`test_generated_data.py`)."""

from __future__ import annotations

import re

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.applications.models import Application
from portal.demo.generator import LOAD_ORDER, generate
from portal.search.models import SearchDocument

APPLICATIONS = 300
HOSTNAME = re.compile(r"^(par|lyo|lil|mrs|nyc|sgp)-(lx|wn|ax)-(?P<trigram>[a-z0-9]{3,7})-[duqpr]\d{2}$")


def snapshot(session: Session) -> dict[str, list[tuple[object, ...]]]:
    """Every generated row, in id order, as plain tuples."""
    return {
        model.__tablename__: [tuple(row) for row in session.execute(select(model.__table__).order_by("id"))]
        for model in LOAD_ORDER
    }


def test_generate_gives_the_same_rows_for_the_same_seed(session):
    generate(session, "XS", 7, applications=APPLICATIONS)
    first = snapshot(session)
    generate(session, "XS", 7, applications=APPLICATIONS, replace=True)
    assert snapshot(session) == first
    hostnames = [row[3] for row in first["component"] if row[2] == "server"]
    assert hostnames and all(HOSTNAME.match(name) for name in hostnames)


def test_generate_gives_other_rows_for_another_seed(session):
    generate(session, "XS", 7, applications=APPLICATIONS)
    first = session.scalars(select(Application.name).order_by(Application.id)).all()
    generate(session, "XS", 8, applications=APPLICATIONS, replace=True)
    assert session.scalars(select(Application.name).order_by(Application.id)).all() != first


def test_generate_replaces_everything_when_asked(session):
    generate(session, "XS", 42, applications=30)
    replaced = generate(session, "XS", 42, applications=20, replace=True)
    assert replaced["application"] == session.scalar(select(func.count()).select_from(Application)) == 20
    assert session.scalar(select(func.count()).select_from(SearchDocument)) == 20


def test_demo_data_command_loads_and_prints_counts(app: Flask, session):
    result = app.test_cli_runner().invoke(args=["demo-data", "--applications", "40", "--seed", "3", "--no-vacuum"])
    assert result.exit_code == 0, result.output
    assert re.search(r"application\s+40\b", result.output)
    assert "Loaded size XS (seed 3)" in result.output
    assert session.scalar(select(func.count()).select_from(Application)) == 40


def test_demo_data_command_refuses_a_loaded_database_without_replace(app: Flask, session):
    generate(session, "XS", 42, applications=10)
    session.commit()  # to a savepoint: the test's transaction is still rolled back
    result = app.test_cli_runner().invoke(args=["demo-data", "--applications", "40"])
    assert result.exit_code == 1
    assert "--replace" in result.output
    assert session.scalar(select(func.count()).select_from(Application)) == 10


def test_demo_data_command_reloads_with_replace(app: Flask, session):
    generate(session, "XS", 42, applications=10)
    session.commit()  # to a savepoint: the test's transaction is still rolled back
    result = app.test_cli_runner().invoke(args=["demo-data", "--applications", "40", "--replace", "--no-vacuum"])
    assert result.exit_code == 0, result.output
    assert session.scalar(select(func.count()).select_from(Application)) == 40


def test_demo_data_command_keeps_existing_data_when_asked_if_empty(app: Flask, session):
    generate(session, "XS", 42, applications=10)
    session.commit()  # to a savepoint: the test's transaction is still rolled back
    result = app.test_cli_runner().invoke(args=["demo-data", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "not loaded" in result.output
    assert session.scalar(select(func.count()).select_from(Application)) == 10
