"""/metrics: Prometheus text for the monitoring networks or the metrics token, refused to anyone else."""

from __future__ import annotations

import ipaddress
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from portal.auth.models import User
from portal.core import metrics
from portal.core.access import Scope
from portal.extensions import build_engine, db
from tests.unit.builders import make_application, make_token, make_user, reindex

TOKEN = "m" * 40
OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}


def scrape(client, **options) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of one scrape, keyed by name and sorted labels."""
    response = client.get("/metrics", **options)
    assert response.status_code == 200, response.get_data(as_text=True)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def value(client, name: str, **labels: str) -> float:
    return scrape(client).get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_answer_prometheus_text_to_loopback(anonymous_client):
    response = anonymous_client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert response.headers["Cache-Control"] == "no-store"
    assert "# TYPE portal_http_request_duration_seconds histogram" in response.get_data(as_text=True)


def test_openmetrics_is_answered_when_asked_for(anonymous_client):
    response = anonymous_client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert response.get_data(as_text=True).endswith("# EOF\n")


def test_requests_are_counted_by_endpoint_method_and_status(anonymous_client):
    labels = {"endpoint": "health.healthz", "method": "GET", "status": "200"}
    before = value(anonymous_client, "portal_http_requests_total", **labels)
    anonymous_client.get("/healthz")
    anonymous_client.get("/healthz")
    assert value(anonymous_client, "portal_http_requests_total", **labels) == before + 2
    assert value(anonymous_client, "portal_http_request_duration_seconds_count", **labels) >= before + 2


def test_labels_never_carry_raw_paths_nor_odd_methods(client):
    client.get("/applications/ZQX")
    client.get("/no/such/page-4711")
    client.open("/healthz", method="BREW")
    samples = scrape(client)
    labels = {dict(key)["endpoint"] for _, key in samples if dict(key).get("endpoint")}
    methods = {dict(key)["method"] for _, key in samples if dict(key).get("method")}
    assert "applications.detail" in labels and "none" in labels
    assert not any("ZQX" in label or "4711" in label for label in labels)
    assert "other" in methods and "BREW" not in methods


def test_search_time_is_observed_by_kind(client, session):
    make_application(session, "BCA", "Banque de Compensation")
    reindex(session)
    text_before = value(client, "portal_search_duration_seconds_count", kind="text")
    listing_before = value(client, "portal_search_duration_seconds_count", kind="filters")
    assert client.get("/api/v1/applications/search?q=bca").status_code == 200
    assert client.get("/api/v1/applications?status=production").status_code == 200
    assert value(client, "portal_search_duration_seconds_count", kind="text") == text_before + 1
    assert value(client, "portal_search_duration_seconds_count", kind="filters") >= listing_before


def test_pool_gauges_follow_connections_lent_and_returned(anonymous_client, database_url):
    engine = build_engine(database_url, pool_size=2)
    metrics.track_pool(engine)
    size = engine.pool.size()  # type: ignore[attr-defined]
    try:
        connections = [engine.connect() for _ in range(size + 1)]
        lent = scrape(anonymous_client)
        for connection in connections:
            connection.close()
        returned = scrape(anonymous_client)
    finally:
        engine.dispose()
    assert lent[("portal_db_pool_checked_out_connections", ())] == size + 1
    assert lent[("portal_db_pool_overflow_connections", ())] == 1
    assert lent[("portal_db_pool_size_connections", ())] == size
    # The connection beyond the pool size is closed when it comes back; the others stay open, idle.
    assert returned[("portal_db_pool_checked_out_connections", ())] == 0
    assert returned[("portal_db_pool_overflow_connections", ())] == 0


@pytest.fixture
def callback_gauges(monkeypatch):
    """Gauges registered by a test are forgotten after it."""
    monkeypatch.setattr(metrics, "_callback_gauges", {})


def test_a_registered_gauge_is_read_at_each_scrape(anonymous_client, session, callback_gauges):
    # The way import runs by status are exposed: a query run inside the scrape's request.
    metrics.register_gauge_collector(
        "portal_test_users",
        "Users by role.",
        ["role"],
        lambda: db.session.execute(select(User.role, func.count()).group_by(User.role)),
    )
    before = value(anonymous_client, "portal_test_users", role="steward")
    make_user(session, "gauge-steward", "steward")
    assert value(anonymous_client, "portal_test_users", role="steward") == before + 1


def _raise() -> list[tuple]:
    raise RuntimeError("the table is not there yet")


@pytest.mark.parametrize("read", [_raise, lambda: [("done", 3)]], ids=["raises", "label-missing"])
def test_a_failing_gauge_is_left_out_and_logged(anonymous_client, callback_gauges, caplog, read):
    metrics.register_gauge_collector("portal_test_broken", "Never readable.", ["kind", "status"], read)
    metrics.register_gauge_collector("portal_test_fine", "Always 7.", [], lambda: [(7,)])
    with caplog.at_level(logging.ERROR, logger="portal.core.metrics"):
        samples = scrape(anonymous_client)
    assert samples[("portal_test_fine", ())] == 7
    assert not any(name == "portal_test_broken" for name, _ in samples)
    assert "portal_test_broken" in caplog.text


def test_metrics_are_refused_outside_the_allowed_networks(anonymous_client):
    response = anonymous_client.get("/metrics", environ_base=OUTSIDE)
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert "PORTAL_METRICS_ALLOWED_NETWORKS" in response.get_json()["detail"]
    assert "portal_http" not in response.get_data(as_text=True)


def test_configured_networks_replace_loopback(app, anonymous_client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_ALLOWED_NETWORKS", [ipaddress.ip_network("10.244.0.0/16")])
    assert anonymous_client.get("/metrics", environ_base={"REMOTE_ADDR": "10.244.3.7"}).status_code == 200
    assert anonymous_client.get("/metrics", environ_base={"REMOTE_ADDR": "10.245.0.1"}).status_code == 403
    assert anonymous_client.get("/metrics").status_code == 403  # 127.0.0.1 is no longer listed


def test_loopback_reached_over_ipv6_is_loopback(anonymous_client):
    assert anonymous_client.get("/metrics", environ_base={"REMOTE_ADDR": "::ffff:127.0.0.1"}).status_code == 200


def test_the_metrics_token_opens_metrics_from_anywhere(app, anonymous_client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", TOKEN)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert anonymous_client.get("/metrics", environ_base=OUTSIDE, headers=headers).status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {TOKEN[:-1]}x", f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN}{TOKEN}"],
    ids=["wrong", "not-bearer", "empty", "longer"],
)
def test_a_wrong_metrics_token_is_refused(app, anonymous_client, monkeypatch, authorization):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", TOKEN)
    response = anonymous_client.get("/metrics", environ_base=OUTSIDE, headers={"Authorization": authorization})
    assert response.status_code == 403


def test_without_a_configured_token_no_bearer_opens_metrics(anonymous_client):
    response = anonymous_client.get("/metrics", environ_base=OUTSIDE, headers={"Authorization": "Bearer "})
    assert response.status_code == 403


def test_an_api_token_does_not_open_metrics(anonymous_client, session):
    _, secret = make_token(session, make_user(session, "metrics-admin", "admin"), Scope.READ)
    headers = {"Authorization": f"Bearer {secret}"}
    assert anonymous_client.get("/metrics", environ_base=OUTSIDE, headers=headers).status_code == 403


def test_gunicorn_hooks_empty_the_directory_and_drop_a_dead_workers_live_gauges(tmp_path, monkeypatch):
    directory = tmp_path / "prometheus"
    monkeypatch.setenv(metrics.MULTIPROCESS_DIRECTORY_VARIABLE, str(directory))
    metrics.on_starting(None)  # creates the directory
    (directory / "counter_1.db").write_bytes(b"from a previous run")
    metrics.on_starting(None)
    assert list(directory.iterdir()) == []

    for name in ("counter_42.db", "histogram_42.db", "gauge_livesum_42.db", "gauge_livesum_43.db"):
        (directory / name).write_bytes(b"")
    metrics.child_exit(None, type("Worker", (), {"pid": 42})())
    assert sorted(path.name for path in directory.iterdir()) == [
        "counter_42.db",
        "gauge_livesum_43.db",
        "histogram_42.db",
    ]


def test_gunicorn_hooks_do_nothing_without_multiprocess_mode(tmp_path, monkeypatch):
    monkeypatch.delenv(metrics.MULTIPROCESS_DIRECTORY_VARIABLE, raising=False)
    metrics.on_starting(None)
    metrics.child_exit(None, type("Worker", (), {"pid": 42})())
