"""The push API: batches of typed records from NiFi and other pushers, as JSON arrays or NDJSON."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from portal.applications.models import Application
from portal.changes.models import Change
from portal.core.access import Scope
from portal.core.models import utcnow
from portal.imports.models import ImportRun
from portal.imports.runs import SOURCE_LOCK_SPACE, fail_stale_runs
from portal.sources.models import SourceRecord
from tests.unit.builders import make_source, make_token, make_user

URL = "/api/v1/sources/nifi/records"


@pytest.fixture
def nifi(session):
    return make_source(session, "nifi", kind="push")


@pytest.fixture
def ingest_headers(session, nifi):
    _, secret = make_token(session, make_user(session, "svc-nifi", "steward"), Scope.INGEST)
    return {"Authorization": f"Bearer {secret}"}


def count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


def application(trigram: str, **values) -> dict:
    return {"type": "application", "trigram": trigram, **values}


def test_a_batch_creates_what_it_describes_and_answers_per_record(anonymous_client, session, ingest_headers):
    batch = [application("zqa", name="Zebra", status="build"), application("ZQB", name="Zebu")]

    response = anonymous_client.post(URL, json=batch, headers=ingest_headers)

    assert response.status_code == 200, response.json
    body = response.json
    assert body["counts"]["create"] == 2 and body["changes_written"] == 2
    assert [(r["index"], r["key"], r["action"]) for r in body["results"]] == [
        (0, "ZQA", "create"),
        (1, "ZQB", "create"),
    ]
    assert session.scalar(select(Application.status).where(Application.trigram == "ZQA")) == "build"
    run = session.get(ImportRun, body["run"])
    assert (run.kind, run.status, run.actor.startswith("token ref_")) == ("push", "succeeded", True)


def test_ndjson_is_accepted(anonymous_client, session, ingest_headers):
    body = "\n".join(
        json.dumps(record) for record in [application("ZQA", name="Zebra"), application("ZQB", name="Zebu")]
    )

    response = anonymous_client.post(
        URL, data=body + "\n", headers={**ingest_headers, "Content-Type": "application/x-ndjson"}
    )

    assert response.status_code == 200
    assert response.json["counts"]["create"] == 2


def test_replaying_an_idempotency_key_changes_nothing_and_answers_the_same(anonymous_client, session, ingest_headers):
    headers = {**ingest_headers, "Idempotency-Key": "batch-2026-11-26-001"}
    first = anonymous_client.post(URL, json=[application("ZQA", name="Zebra")], headers=headers)
    changes = count(session, Change)

    replay = anonymous_client.post(URL, json=[application("ZQA", name="Zebra")], headers=headers)

    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json == first.json
    assert count(session, Change) == changes
    assert count(session, ImportRun, ImportRun.idempotency_key == "batch-2026-11-26-001") == 1


def test_an_idempotency_key_reused_for_another_batch_is_refused(anonymous_client, ingest_headers):
    headers = {**ingest_headers, "Idempotency-Key": "k1"}
    anonymous_client.post(URL, json=[application("ZQA", name="Zebra")], headers=headers)

    response = anonymous_client.post(URL, json=[application("ZQA", name="Other")], headers=headers)

    assert response.status_code == 422
    assert "different batch" in response.json["detail"]


def test_invalid_records_are_reported_by_index_and_nothing_is_applied(anonymous_client, session, ingest_headers):
    batch = [
        application("ZQA", name="Zebra"),
        application("ZQB", name="Zebu", status="dancing"),
        {"type": "spaceship", "name": "x"},
        application("ZQC", name={"nested": "object"}),
    ]

    response = anonymous_client.post(URL, json=batch, headers=ingest_headers)

    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    errors = {result["index"]: result["errors"][0] for result in response.json["results"]}
    assert errors[1] == {
        "field": "status",
        "value": "dancing",
        "reason": "is not one of plan, build, production, decommissioning, retired",
    }
    assert errors[2]["field"] == "type" and "must be one of" in errors[2]["reason"]
    assert errors[3]["field"] == "name" and errors[3]["reason"] == "expected text, got dict"
    assert count(session, Application, Application.trigram.in_(["ZQA", "ZQB", "ZQC"])) == 0
    assert count(session, SourceRecord) == 0
    assert session.scalars(select(ImportRun.status).where(ImportRun.kind == "push")).all() == ["failed"]


def test_partial_applies_the_valid_records_only(anonymous_client, session, ingest_headers):
    batch = [application("ZQA", name="Zebra"), application("ZQB", name="Zebu", status="dancing")]

    response = anonymous_client.post(URL + "?partial=true", json=batch, headers=ingest_headers)

    assert response.status_code == 200
    assert [result["action"] for result in response.json["results"]] == ["create", "error"]
    assert count(session, Application, Application.trigram == "ZQA") == 1
    assert count(session, Application, Application.trigram == "ZQB") == 0


def test_a_body_past_the_limit_is_refused_with_413(anonymous_client, app, ingest_headers, monkeypatch):
    monkeypatch.setitem(app.config, "PUSH_MAX_BYTES", 200)

    response = anonymous_client.post(
        URL, json=[application(f"ZQ{c}", name="x" * 50) for c in "ABCDE"], headers=ingest_headers
    )

    assert response.status_code == 413
    assert "larger than the limit" in response.json["detail"]


def test_more_records_than_the_limit_is_refused_with_413(anonymous_client, app, session, ingest_headers, monkeypatch):
    monkeypatch.setitem(app.config, "PUSH_MAX_RECORDS", 2)

    response = anonymous_client.post(URL, json=[application(f"ZQ{c}", name="x") for c in "ABC"], headers=ingest_headers)

    assert response.status_code == 413
    assert count(session, SourceRecord) == 0


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"trigram,name\nZQA,Zebra", "text/csv", "not valid JSON"),
        (b'{"type": "application"}', "application/json", "must be a JSON array"),
        (b"[]", "application/json", "holds no record"),
        (b"[" * 5000 + b"]" * 5000, "application/json", "nested deeper"),
        (b'[{"type": "application", "trigram": "ZQA", "name": "\xff"}]', "application/json", "not valid UTF-8"),
        (b'{"type": "application"}\nnot json', "application/x-ndjson", "Line 2 is not valid JSON"),
    ],
)
def test_an_unreadable_body_is_refused_with_400(anonymous_client, session, ingest_headers, body, content_type, message):
    response = anonymous_client.post(URL, data=body, headers={**ingest_headers, "Content-Type": content_type})

    assert response.status_code == 400
    assert message in response.json["detail"]
    assert count(session, ImportRun) == 0


def test_an_unknown_source_is_404_and_a_workbook_source_409(anonymous_client, ingest_headers):
    assert anonymous_client.post("/api/v1/sources/nowhere/records", json=[], headers=ingest_headers).status_code == 404
    response = anonymous_client.post("/api/v1/sources/workbook/records", json=[], headers=ingest_headers)
    assert response.status_code == 409


def test_a_read_token_cannot_push(anonymous_client, session, nifi):
    _, secret = make_token(session, make_user(session, "script", "admin"), Scope.READ)

    response = anonymous_client.post(
        URL, json=[application("ZQA", name="Zebra")], headers={"Authorization": f"Bearer {secret}"}
    )

    assert response.status_code == 403


def test_an_ingest_token_of_a_reader_cannot_push(anonymous_client, session, nifi):
    _, secret = make_token(session, make_user(session, "intern", "reader"), Scope.INGEST)

    response = anonymous_client.post(
        URL, json=[application("ZQA", name="Zebra")], headers={"Authorization": f"Bearer {secret}"}
    )

    assert response.status_code == 403


def test_bad_parameters_are_refused(anonymous_client, ingest_headers):
    assert anonymous_client.post(URL + "?mode=sometimes", json=[], headers=ingest_headers).status_code == 400
    assert anonymous_client.post(URL + "?partial=maybe", json=[], headers=ingest_headers).status_code == 400
    assert anonymous_client.post(URL + "?colour=red", json=[], headers=ingest_headers).status_code == 400


def test_a_single_batch_snapshot_marks_the_rest_missing(anonymous_client, session, ingest_headers):
    anonymous_client.post(
        URL, json=[application("ZQA", name="Zebra"), application("ZQB", name="Zebu")], headers=ingest_headers
    )

    response = anonymous_client.post(
        URL + "?mode=snapshot", json=[application("ZQA", name="Zebra")], headers=ingest_headers
    )

    assert response.json["counts"]["missing"] == 1
    assert session.scalar(select(SourceRecord.missing_since).where(SourceRecord.natural_key == "ZQB")) is not None


def test_a_snapshot_may_span_several_batches(anonymous_client, session, ingest_headers):
    batch = [application(trigram, name=trigram) for trigram in ("ZQA", "ZQB", "ZQC")]
    anonymous_client.post(URL, json=batch, headers=ingest_headers)
    begun = anonymous_client.post("/api/v1/sources/nifi/snapshots", headers=ingest_headers)
    snapshot = begun.json["id"]

    first = anonymous_client.post(
        f"{URL}?snapshot={snapshot}", json=[application("ZQA", name="ZQA")], headers=ingest_headers
    )
    second = anonymous_client.post(
        f"{URL}?snapshot={snapshot}", json=[application("ZQC", name="ZQC")], headers=ingest_headers
    )
    committed = anonymous_client.post(f"/api/v1/sources/nifi/snapshots/{snapshot}/commit", headers=ingest_headers)

    assert (begun.status_code, first.status_code, second.status_code, committed.status_code) == (201, 200, 200, 200)
    assert committed.json["status"] == "succeeded" and committed.json["counts"]["missing"] == 1
    missing = session.scalars(select(SourceRecord.natural_key).where(SourceRecord.missing_since.is_not(None))).all()
    assert missing == ["ZQB"]
    assert (
        session.scalar(select(Change.operation).where(Change.natural_key == "ZQB").order_by(Change.id.desc()))
        == "missing"
    )
    again = anonymous_client.post(f"/api/v1/sources/nifi/snapshots/{snapshot}/commit", headers=ingest_headers)
    assert again.status_code == 409


def test_an_aborted_snapshot_marks_nothing(anonymous_client, session, ingest_headers):
    anonymous_client.post(URL, json=[application("ZQA", name="Zebra")], headers=ingest_headers)
    snapshot = anonymous_client.post("/api/v1/sources/nifi/snapshots", headers=ingest_headers).json["id"]

    response = anonymous_client.post(f"/api/v1/sources/nifi/snapshots/{snapshot}/abort", headers=ingest_headers)

    assert response.json["status"] == "cancelled"
    assert count(session, SourceRecord, SourceRecord.missing_since.is_not(None)) == 0


def test_runs_are_listed_for_stewards(login_as, anonymous_client, ingest_headers):
    anonymous_client.post(URL, json=[application("ZQA", name="Zebra")], headers=ingest_headers)

    response = login_as("steward").get("/api/v1/imports?source=nifi")

    assert response.status_code == 200
    assert [(run["source"], run["kind"], run["status"]) for run in response.json["results"]] == [
        ("nifi", "push", "succeeded")
    ]


def test_metrics_count_the_runs_by_status(anonymous_client, ingest_headers):
    anonymous_client.post(URL, json=[application("ZQA", name="Zebra")], headers=ingest_headers)
    anonymous_client.post(URL, json=[application("ZQB", status="dancing")], headers=ingest_headers)

    metrics = anonymous_client.get("/metrics").get_data(as_text=True)

    assert 'portal_import_runs{status="succeeded"} 1.0' in metrics
    assert 'portal_import_runs{status="failed"} 1.0' in metrics
    assert 'portal_import_runs{status="applying"} 0.0' in metrics


def test_an_idempotency_key_sent_again_with_other_options_is_refused(anonymous_client, ingest_headers):
    headers = {**ingest_headers, "Idempotency-Key": "batch-7"}
    batch = [application("ZQA", name="Zebra"), application("ZQB", status="dancing")]
    assert anonymous_client.post(URL, json=batch, headers=headers).status_code == 422

    retried = anonymous_client.post(URL + "?partial=true", json=batch, headers=headers)

    assert retried.status_code == 422 and "different batch" in retried.json["detail"]


def test_a_batch_of_a_multi_batch_snapshot_cannot_be_a_snapshot_itself(anonymous_client, ingest_headers):
    snapshot = anonymous_client.post("/api/v1/sources/nifi/snapshots", headers=ingest_headers).json["id"]

    response = anonymous_client.post(
        f"{URL}?mode=snapshot&snapshot={snapshot}", json=[application("ZQA", name="Zebra")], headers=ingest_headers
    )

    assert response.status_code == 400 and "mode=delta" in response.json["detail"]


@pytest.mark.parametrize("key", ["", "   "])
def test_an_empty_idempotency_key_is_refused(anonymous_client, session, ingest_headers, key):
    """Found by schemathesis: an empty key was read as no key, so a retry of the batch applied it again."""
    headers = {**ingest_headers, "Idempotency-Key": key}

    response = anonymous_client.post(URL, json=[application("ZQA", name="Zebra")], headers=headers)

    assert response.status_code == 400 and "Idempotency-Key must be 1 to 200" in response.json["detail"]
    assert count(session, Application, Application.trigram == "ZQA") == 0


def test_an_empty_snapshot_parameter_is_no_snapshot(anonymous_client, ingest_headers):
    """An empty value is no value for every parameter (the document says so); `snapshot=` answered 404."""
    response = anonymous_client.post(
        f"{URL}?snapshot=", json=[application("ZQA", name="Zebra")], headers=ingest_headers
    )

    assert response.status_code == 200, response.json
    assert response.json["counts"]["create"] == 1


def test_a_snapshot_id_in_digits_other_than_ascii_is_not_found(anonymous_client, ingest_headers):
    """`²` passed `str.isdigit()` and then failed `int()`: a server error."""
    response = anonymous_client.post(f"{URL}?snapshot=%C2%B2", json=[application("ZQA")], headers=ingest_headers)

    assert response.status_code == 404 and response.mimetype == "application/problem+json"


def test_a_record_of_an_unknown_type_is_reported_as_sent(anonymous_client, ingest_headers):
    response = anonymous_client.post(
        URL, json=[{"type": "server", "name": "srv1"}, "just text"], headers=ingest_headers
    )

    results = response.json["results"]
    assert [(r["index"], r["type"], r["errors"][0]["field"]) for r in results] == [
        (0, "server", "type"),
        (1, "record", "type"),
    ]
    assert all(len(result["errors"]) == 1 for result in results)


def test_an_open_snapshot_nobody_pushes_to_for_a_day_is_abandoned(anonymous_client, session, ingest_headers):
    snapshot_id = anonymous_client.post("/api/v1/sources/nifi/snapshots", headers=ingest_headers).json["id"]
    snapshot = session.get(ImportRun, snapshot_id)
    snapshot.heartbeat_at = utcnow() - timedelta(days=2)
    session.flush()

    assert fail_stale_runs(session) == 1

    session.expire_all()
    assert snapshot.status == "failed" and "abandoned" in snapshot.error
    committed = anonymous_client.post(f"/api/v1/sources/nifi/snapshots/{snapshot_id}/commit", headers=ingest_headers)
    assert committed.status_code == 409 and "was abandoned" in committed.json["detail"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/sources?colour=red",
        "/api/v1/imports?status=dancing",
        "/api/v1/imports?kind=magic",
        "/api/v1/conflicts?status=maybe",
        "/api/v1/conflicts?object_type=spaceship",
        "/api/v1/imports/1?x=1",
    ],
)
def test_unknown_parameters_and_values_are_refused(login_as, url):
    response = login_as("steward").get(url)

    assert response.status_code == 400 and response.mimetype == "application/problem+json"


def test_a_push_while_a_run_of_the_same_source_is_applied_is_refused_not_interleaved(
    anonymous_client, session, engine, nifi, ingest_headers
):
    """On PostgreSQL a run holds its source's lock until it commits; a push meanwhile gets 409 and writes
    nothing. SQLite has a single writer, so its transactions never interleave in the first place."""
    if engine.dialect.name != "postgresql":
        response = anonymous_client.post(URL, json=[application("ZQA", name="Zebra")], headers=ingest_headers)
        assert response.status_code == 200
        return
    with engine.connect() as other:  # another process applying a workbook of the same source
        other.execute(text("SELECT pg_advisory_lock(:space, :source)"), {"space": SOURCE_LOCK_SPACE, "source": nifi.id})
        try:
            response = anonymous_client.post(URL, json=[application("ZQA", name="Zebra")], headers=ingest_headers)
        finally:
            other.execute(
                text("SELECT pg_advisory_unlock(:space, :source)"), {"space": SOURCE_LOCK_SPACE, "source": nifi.id}
            )

    assert response.status_code == 409 and response.headers["Retry-After"] == "5"
    assert "being applied" in response.json["detail"]
    assert count(session, SourceRecord) == 0 and count(session, ImportRun) == 0
    assert (
        anonymous_client.post(URL, json=[application("ZQA", name="Zebra")], headers=ingest_headers).status_code == 200
    )
