"""Configuration comes from PORTAL_* variables and stops the start-up with a clear message when wrong."""

from __future__ import annotations

import pytest

from portal import create_app
from portal.config import ConfigurationError, parse_boolean
from portal.core.access import Role
from portal.extensions import db

GOOD = {"SECRET_KEY": "s3cret", "DATABASE_URL": "sqlite://"}


@pytest.fixture(autouse=True)
def restore_database(engine):
    yield
    db.use(engine)


def test_missing_secret_key_stops_start_up_with_a_hint(monkeypatch):
    monkeypatch.delenv("PORTAL_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="PORTAL_SECRET_KEY is not set"):
        create_app({"DATABASE_URL": "sqlite://"})


def test_variables_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("PORTAL_SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("PORTAL_API_MAX_PAGE_SIZE", "200")
    app = create_app({"DATABASE_URL": "sqlite://"})
    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert app.config["API_MAX_PAGE_SIZE"] == 200


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("API_MAX_PAGE_SIZE", "lots", "PORTAL_API_MAX_PAGE_SIZE must be a whole number, got 'lots'"),
        ("SEARCH_EXACT_COUNT_LIMIT", "0", "PORTAL_SEARCH_EXACT_COUNT_LIMIT must be at least 1, got 0"),
        ("DATABASE_URL", "mysql://db/referentiel", "PORTAL_DATABASE_URL must be an sqlite:/// or postgresql:// URL"),
        ("REDIS_URL", "http://cache", "PORTAL_REDIS_URL must be a redis://, rediss:// or unix:// URL"),
        ("SEARCH_CACHE_SECONDS", "-1", "PORTAL_SEARCH_CACHE_SECONDS must be at least 0, got -1"),
        ("LOCAL_LOGIN", "perhaps", "PORTAL_LOCAL_LOGIN must be true or false"),
        ("SESSION_LIFETIME_MINUTES", "0", "PORTAL_SESSION_LIFETIME_MINUTES must be at least 1"),
        ("OIDC_ROLE_MAP", "admins=admin", "PORTAL_OIDC_ROLE_MAP must be a JSON object"),
        ("OIDC_ROLE_MAP", '["admin"]', "PORTAL_OIDC_ROLE_MAP must be a JSON object"),
        ("OIDC_ROLE_MAP", '{"admins": "god"}', "PORTAL_OIDC_ROLE_MAP: unknown role 'god'; use one of reader, editor"),
        ("OIDC_DEFAULT_ROLE", "guest", "PORTAL_OIDC_DEFAULT_ROLE: unknown role 'guest'"),
        ("LOG_FORMAT", "xml", "PORTAL_LOG_FORMAT must be json or text, got 'xml'"),
        ("LOG_LEVEL", "chatty", "PORTAL_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got 'chatty'"),
        ("METRICS_TOKEN", "short", "PORTAL_METRICS_TOKEN must be at least 32 characters"),
        ("METRICS_ALLOWED_NETWORKS", "10.244.0.0/33", "PORTAL_METRICS_ALLOWED_NETWORKS must list CIDR blocks"),
        ("METRICS_ALLOWED_NETWORKS", "pods", "PORTAL_METRICS_ALLOWED_NETWORKS must list CIDR blocks"),
    ],
)
def test_malformed_value_names_the_variable(monkeypatch, name, value, message):
    monkeypatch.setenv(f"PORTAL_{name}", value)
    with pytest.raises(ConfigurationError, match=message):
        create_app(GOOD | {name: value} if name == "DATABASE_URL" else dict(GOOD))


def test_metrics_networks_are_read_as_cidr_blocks(monkeypatch):
    monkeypatch.setenv("PORTAL_METRICS_ALLOWED_NETWORKS", "10.244.0.0/16, fd00::/8 192.0.2.7")
    app = create_app(GOOD)
    assert [str(network) for network in app.config["METRICS_ALLOWED_NETWORKS"]] == [
        "10.244.0.0/16",
        "fd00::/8",
        "192.0.2.7/32",
    ]


def test_default_page_size_above_the_maximum_is_refused():
    with pytest.raises(ConfigurationError, match="must not exceed"):
        create_app(GOOD | {"API_DEFAULT_PAGE_SIZE": 600})


def test_postgresql_url_is_given_the_installed_driver():
    app = create_app(GOOD | {"DATABASE_URL": "postgresql://user@db:5432/referentiel"})
    assert app.config["DATABASE_URL"] == "postgresql+psycopg2://user@db:5432/referentiel"


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("ON", True), ("1", True), ("no", False), ("0", False)]
)
def test_booleans_are_read_in_the_usual_spellings(value, expected):
    assert parse_boolean("LOCAL_LOGIN", value) is expected


def test_unreadable_boolean_names_the_variable():
    with pytest.raises(ConfigurationError, match="PORTAL_LOCAL_LOGIN must be true or false, got 'maybe'"):
        parse_boolean("LOCAL_LOGIN", "maybe")


SSO = GOOD | {
    "OIDC_METADATA_URL": "https://sso.bank.example/realms/bank/.well-known/openid-configuration",
    "OIDC_CLIENT_ID": "referentiel",
    "OIDC_CLIENT_SECRET": "from-a-kubernetes-secret",
}


def test_single_sign_on_is_configured_from_the_environment(monkeypatch):
    for name, value in SSO.items():
        monkeypatch.setenv(f"PORTAL_{name}", value)
    monkeypatch.setenv("PORTAL_OIDC_ROLE_MAP", '{"referentiel-admins": "ADMIN", "it-staff": "reader"}')
    monkeypatch.setenv("PORTAL_OIDC_DEFAULT_ROLE", "reader")
    monkeypatch.setenv("PORTAL_LOCAL_LOGIN", "false")
    app = create_app()
    assert app.config["OIDC_ROLE_MAP"] == {"referentiel-admins": Role.ADMIN, "it-staff": Role.READER}
    assert app.config["OIDC_DEFAULT_ROLE"] == Role.READER
    assert app.config["LOCAL_LOGIN"] is False


@pytest.mark.parametrize("missing", ["OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"])
def test_single_sign_on_needs_its_client_credentials(missing):
    with pytest.raises(ConfigurationError, match=f"PORTAL_{missing} is required"):
        create_app({**SSO, missing: ""})


def test_single_sign_on_needs_the_openid_scope():
    with pytest.raises(ConfigurationError, match="must include openid"):
        create_app(SSO | {"OIDC_SCOPES": "profile email"})


def test_turning_off_local_login_without_single_sign_on_is_refused():
    with pytest.raises(ConfigurationError, match="nobody could sign in"):
        create_app(GOOD | {"LOCAL_LOGIN": "false"})
