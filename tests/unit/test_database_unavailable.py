"""The database out of reach (stopped, restarting): every request is answered 503 at once and says so, in the form
the client reads; never a 500. tests/faults does the same against a real PostgreSQL stopped under load."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from portal import create_app
from portal.extensions import Database, db
from tests.databases import drop_connection, throwaway_postgresql_engine

# Nothing listens on port 1: every connection is refused at once, as while PostgreSQL restarts.
UNREACHABLE = "postgresql://nobody@127.0.0.1:1/nothing"
DATABASE_DOWN = "The database is not reachable right now"
TOKEN = "ref_abcdefgh_" + "x" * 43
PAGE = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
def unreachable(engine: Engine) -> Iterator[Flask]:
    """An application whose database refuses connections; `db` goes back to the tests' engine after."""
    try:
        yield create_app({"TESTING": True, "DATABASE_URL": UNREACHABLE, "SECRET_KEY": "test-secret-key"})
    finally:
        db.use(engine)


def signed_in_browser(app: Flask) -> FlaskClient:
    """A browser whose cookie names a login session: finding its user needs the database."""
    browser = app.test_client()
    with browser.session_transaction() as flask_session:
        flask_session["_user_id"] = "the-key-of-a-login-session"
    return browser


def test_an_api_call_when_the_database_refuses_connections_is_a_503_problem(unreachable):
    response = unreachable.test_client().get("/api/v1/applications", headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 503 and response.mimetype == "application/problem+json"
    assert DATABASE_DOWN in response.get_json()["detail"]


def test_a_page_when_the_database_refuses_connections_is_a_503_page(unreachable):
    response = signed_in_browser(unreachable).get("/?q=bca", headers=PAGE)

    assert response.status_code == 503 and response.mimetype == "text/html"
    assert DATABASE_DOWN in response.get_data(as_text=True)


def test_an_htmx_request_when_the_database_refuses_connections_is_a_503_fragment(unreachable):
    response = signed_in_browser(unreachable).get("/?q=bca", headers={**PAGE, "HX-Request": "true"})

    assert response.status_code == 503
    fragment = response.get_data(as_text=True)
    assert fragment.startswith('<p class="inline-error"') and DATABASE_DOWN in fragment


def test_a_connection_the_database_dropped_after_the_work_is_discarded_when_the_request_ends():
    """The request's queries are done, then the database restarts: ending the request must not fail it.
    On a PostgreSQL database of its own, whichever engine the suite runs on: only a server drops connections."""
    with throwaway_postgresql_engine() as engine:
        database = Database()
        database.use(engine)
        with Flask(__name__).app_context():
            session = database.session
            drop_connection(session)

            database.remove_session()

            assert database.session is not session
            assert database.session.execute(text("SELECT 1")).scalar() == 1
            database.remove_session()
