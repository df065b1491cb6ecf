"""Imports as the server and the command line run them: each step in its own transaction, its progress written
from another connection, on a database of their own (the other tests share one connection, rolled back).

On SQLite, a write from another connection while a run's transaction has read makes the run's own writes fail
("database is locked"): its progress waits for its commit there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from portal import create_app
from portal.applications.models import Application
from portal.extensions import build_engine, db
from portal.imports.models import ImportRun
from portal.imports.runs import Actor
from portal.imports.workbooks import run_step, start_upload
from portal.migrate import upgrade
from portal.sources.queries import find_source
from tests.unit.conftest import ENGINES, empty_database
from tests.unit.imports.workbooks import workbook_bytes


@pytest.fixture(params=ENGINES)
def own_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """The portal on an empty database of its own, migrated, with no test transaction around what it does."""
    with empty_database(request.param, tmp_path) as url:
        engine = build_engine(url)
        upgrade(engine)
        engine.dispose()
        app = create_app({"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "test-secret-key"})
        yield app
        with app.app_context():
            db.engine.dispose()


def workbook(prefix: str) -> bytes:
    """Three sheets, so that a sheet is planned (and its progress written) after another was written."""
    trigrams = [f"{prefix}{number:03d}" for number in range(30)]
    return workbook_bytes(
        {
            "Applications": [["Trigram", "Name", "Status"], *([t, f"Own {t}", "build"] for t in trigrams)],
            "Environments": [
                ["Trigram", "Environment", "URL"],
                *([t, "prod", f"https://{t}.example"] for t in trigrams),
            ],
            "Components": [["Trigram", "Environment", "Kind", "Name"], *([t, "prod", "server", t] for t in trigrams)],
        }
    )


def run_of(app: Flask, run_id: int) -> ImportRun:
    with app.app_context():
        run = db.session.get(ImportRun, run_id)
        db.session.expunge(run)
        return run


def created(app: Flask, prefix: str) -> int:
    with app.app_context():
        return len(db.session.scalars(select(Application.id).where(Application.trigram.like(f"{prefix}%"))).all())


def test_an_upload_is_dry_run_then_applied_each_step_in_a_transaction_of_its_own(own_app):
    with own_app.app_context():
        source = find_source(db.session, "workbook")
        run_id = start_upload(db.session, source, "own.xlsx", workbook("OWN"), Actor.system("test")).id
        db.session.commit()

    run_step(own_app, run_id, "dry_run")
    ready = run_of(own_app, run_id)
    with own_app.app_context():
        db.session.execute(ImportRun.__table__.update().where(ImportRun.id == run_id).values(status="queued"))
        db.session.commit()
    run_step(own_app, run_id, "apply")
    applied = run_of(own_app, run_id)

    assert (ready.status, ready.error, ready.counts["create"]) == ("ready", None, 90)
    assert (applied.status, applied.error, applied.changes_written) == ("succeeded", None, 90)
    assert created(own_app, "OWN") == 30


def test_the_command_line_applies_a_workbook_on_a_connection_of_its_own(own_app, tmp_path):
    path = tmp_path / "own.xlsx"
    path.write_bytes(workbook("CLI"))

    result = own_app.test_cli_runner().invoke(args=["import", str(path), "--apply"])

    assert result.exit_code == 0, result.output
    assert "Applied as import run" in result.output
    assert created(own_app, "CLI") == 30
