"""Probes: /healthz says the process lives; /readyz says the database can serve."""

from __future__ import annotations

from portal import create_app
from portal.extensions import build_engine, db
from portal.migrate import upgrade


def test_healthz_answers_without_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_ready_when_migrated_to_head(client):
    body = client.get("/readyz").get_json()
    assert body["status"] == "ok" and body["database"] == "reachable"


def probe_with(database_url: str, engine) -> tuple[int, dict]:
    """/readyz of an application on another database; `db` goes back to the tests' engine after."""
    other = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test"})
    try:
        response = other.test_client().get("/readyz")
        return response.status_code, response.get_json()
    finally:
        db.use(engine)


def test_readyz_is_unavailable_when_migrations_are_behind(engine, tmp_path):
    status, body = probe_with(f"sqlite:///{tmp_path / 'never-migrated.db'}", engine)
    assert status == 503
    assert body["database"] == "reachable" and body["migration"] is None and body["expected"]


def test_readyz_is_unavailable_when_the_database_is_unreachable(engine):
    status, body = probe_with("postgresql://nobody@127.0.0.1:1/nothing", engine)
    assert status == 503
    assert body["database"] == "unreachable"


def test_readyz_is_ready_when_a_newer_release_migrated_ahead(engine, tmp_path):
    """During a rollout (and after a rollback) the running release serves a schema migrated further."""
    url = f"sqlite:///{tmp_path / 'ahead.db'}"
    ahead = build_engine(url)
    upgrade(ahead)
    with ahead.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = 'f00dfeedbeef'")
    ahead.dispose()

    status, body = probe_with(url, engine)

    assert status == 200
    assert body["migration"] == "f00dfeedbeef" and body["ahead_of_this_release"] is True


def test_readyz_is_unavailable_on_an_older_known_revision(engine, tmp_path):
    url = f"sqlite:///{tmp_path / 'behind.db'}"
    behind = build_engine(url)
    upgrade(behind, "8c1f4e2a9b37")
    behind.dispose()

    status, body = probe_with(url, engine)

    assert status == 503 and body["migration"] == "8c1f4e2a9b37"
