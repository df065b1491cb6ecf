"""`flask search rebuild` and `flask db upgrade`, as an operator runs them."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.search.models import SearchDocument
from tests.unit.builders import make_application


def test_search_rebuild_indexes_every_application(app, session):
    make_application(session, "BCA", "Banque de Compensation")
    make_application(session, "PAY", "Passerelle de paiement")
    session.commit()
    result = app.test_cli_runner().invoke(args=["search", "rebuild", "--no-vacuum"])
    assert result.exit_code == 0, result.output
    assert "Indexed 2 applications" in result.output
    assert session.scalar(select(func.count()).select_from(SearchDocument)) == 2


def test_search_rebuild_makes_new_data_findable(app, session, client):
    make_application(session, "BCA", "Banque de Compensation")
    session.commit()
    assert client.get("/api/v1/applications/search?q=compensation").get_json()["count"] == 0
    app.test_cli_runner().invoke(args=["search", "rebuild", "--no-vacuum"])
    assert client.get("/api/v1/applications/search?q=compensation").get_json()["count"] == 1


def test_db_upgrade_on_a_database_at_head_changes_nothing(app, session):
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "Database at head." in result.output
