"""Pulling a source from a REST API, against a real HTTP server on loopback, on both engines.

Every failure must leave the referential as it was (the counts of visible applications, source
records and audit rows are compared before and after) and be recorded as a failed run that says why.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.applications.models import Application
from portal.changes.models import Change
from portal.imports.models import ImportRow, ImportRun
from portal.imports.pull import Fetcher, PullConfig, SyncFailed, dig, sync
from portal.imports.runs import Actor
from portal.sources.models import Source, SourceRecord
from tests.unit.builders import make_source
from tests.unit.imports.fixture_api import FixtureApi, Reply, running_api

ROBOT = Actor.system("sync")
MAPPING = {"trigram": "code", "name": "label", "status": "lifecycle.state"}
# Small enough that a timeout and its retries cost well under a second.
FAST = {"timeout_seconds": 0.2, "retries": 2, "backoff_seconds": 0.01}
PAGES = {"style": "page", "size": 2}
TOKEN = "s3cr3t-token-value"


@pytest.fixture
def api() -> Iterator[FixtureApi]:
    with running_api() as server:
        yield server


def item(code: str, label: str, state: str | None = "production", **extra: Any) -> dict[str, Any]:
    return {"code": code, "label": label, "lifecycle": {"state": state}, "owner": "someone", **extra}


def api_source(session: Session, api: FixtureApi, path: str = "/apps", **configuration: Any) -> Source:
    settings = {"url": api.url + path, "object_type": "application", "mapping": MAPPING, **FAST, **configuration}
    return make_source(session, "cmdb", kind="api", configuration=settings)


def script_pages(api: FixtureApi, *pages: list[dict[str, Any]]) -> None:
    """Numbered pages 1..n of /apps, then an empty page."""
    for number, records in enumerate([*pages, []], start=1):
        api.script(f"/apps?page={number}", Reply.json(records))


def row_counts(session: Session) -> tuple[int | None, ...]:
    return tuple(
        session.scalar(select(func.count()).select_from(model)) for model in (Application, SourceRecord, Change)
    )


def visible(session: Session) -> dict[str, tuple[str, str]]:
    rows = session.execute(select(Application.trigram, Application.name, Application.status))
    return {trigram: (name, status) for trigram, name, status in rows}


def failed_sync(session: Session, source: Source) -> SyncFailed:
    """Sync and expect a failure; the run it recorded is read back from the database."""
    with pytest.raises(SyncFailed) as caught:
        sync(session, source, ROBOT)
    failure = caught.value
    assert failure.run is not None
    session.expire_all()
    run = session.get(ImportRun, failure.run.id)
    assert run is not None
    assert (run.status, run.kind, run.error) == ("failed", "sync", failure.reason)
    return failure


# --- pagination -------------------------------------------------------------------------------------


def test_numbered_pages_create_the_applications_with_their_values(session, api):
    script_pages(api, [item("abc", "Alpha"), item("DEF", "Delta", "build")], [item("GHI", "Gamma", "retired")])
    source = api_source(session, api, pagination=PAGES)

    run = sync(session, source, ROBOT)

    assert visible(session) == {
        "ABC": ("Alpha", "production"),
        "DEF": ("Delta", "build"),
        "GHI": ("Gamma", "retired"),
    }
    record = session.scalars(select(SourceRecord).where(SourceRecord.natural_key == "DEF")).one()
    assert (record.source_id, record.payload) == (source.id, {"name": "Delta", "status": "build"})
    assert [request.query for request in api.received] == [
        {"page": "1", "per_page": "2"},
        {"page": "2", "per_page": "2"},
        {"page": "3", "per_page": "2"},
    ]
    assert (run.status, run.kind, run.counts["create"], run.notes["pages"]) == ("succeeded", "sync", 3, 2)


def test_offsets_advance_by_the_records_received_until_an_empty_page(session, api):
    api.script("/apps?offset=0", Reply.json([item("ABC", "Alpha"), item("DEF", "Delta")]))
    api.script("/apps?offset=2", Reply.json([item("GHI", "Gamma")]))
    api.script("/apps?offset=3", Reply.json([]))
    source = api_source(session, api, pagination={"style": "offset", "size": 5})

    sync(session, source, ROBOT)

    assert sorted(visible(session)) == ["ABC", "DEF", "GHI"]
    assert [request.query for request in api.received] == [
        {"offset": "0", "limit": "5"},
        {"offset": "2", "limit": "5"},
        {"offset": "3", "limit": "5"},
    ]


def test_next_links_are_followed_whether_relative_or_absolute(session, api):
    api.script("/apps", Reply.json({"data": {"items": [item("ABC", "Alpha")]}, "links": {"next": "/apps/2?c=x"}}))
    api.script("/apps/2", Reply.json({"data": {"items": [item("DEF", "Delta")]}, "links": {"next": api.url + "/a3"}}))
    api.script("/a3", Reply.json({"data": {"items": [item("GHI", "Gamma")]}, "links": {"next": None}}))
    source = api_source(session, api, items_path="data.items", pagination={"style": "next", "next_path": "links.next"})

    sync(session, source, ROBOT)

    assert sorted(visible(session)) == ["ABC", "DEF", "GHI"]
    assert [request.path for request in api.received] == ["/apps", "/apps/2", "/a3"]


# --- authentication ---------------------------------------------------------------------------------


def test_the_auth_header_is_sent_from_the_environment_variable(session, api, monkeypatch):
    monkeypatch.setenv("CMDB_TOKEN", TOKEN)
    api.script("/apps", Reply.json([item("ABC", "Alpha")]))
    source = api_source(session, api, auth={"env": "CMDB_TOKEN", "prefix": "Bearer "})

    sync(session, source, ROBOT)

    [request] = api.received
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["accept"] == "application/json"
    assert request.headers["user-agent"].startswith("Referentiel/")


def test_a_missing_environment_variable_fails_naming_it_before_any_request(session, api, monkeypatch):
    monkeypatch.delenv("CMDB_TOKEN", raising=False)
    source = api_source(session, api, auth={"env": "CMDB_TOKEN", "header": "X-Api-Key"})

    failure = failed_sync(session, source)

    assert "environment variable CMDB_TOKEN is not set" in failure.reason
    assert api.received == []


def test_the_secret_never_reaches_the_failed_run_when_the_api_echoes_it(session, api, monkeypatch):
    monkeypatch.setenv("CMDB_TOKEN", TOKEN)
    api.script("/apps", Reply.json({"error": f"token Bearer {TOKEN} has expired"}, status=401))
    source = api_source(session, api, auth={"env": "CMDB_TOKEN", "prefix": "Bearer "})

    failure = failed_sync(session, source)

    assert "HTTP 401" in failure.reason
    assert "[secret]" in failure.reason
    assert TOKEN not in failure.reason
    assert TOKEN not in json.dumps(session.get(ImportRun, failure.run.id).notes)


# --- failures apply nothing -------------------------------------------------------------------------


def test_a_timeout_fails_after_the_retries_and_applies_nothing(session, api):
    api.script("/apps?page=1", Reply.json([item("ABC", "Alpha"), item("DEF", "Delta")]))
    api.script("/apps?page=2", Reply.json([item("GHI", "Gamma")], delay=2.0))
    source = api_source(session, api, pagination=PAGES)
    before = row_counts(session)

    failure = failed_sync(session, source)

    assert row_counts(session) == before
    assert failure.reason == (f"page 2 of {api.url}/apps?page=2&per_page=2: timed out after 3 attempts (0.2 s each)")
    assert len([request for request in api.received if request.query["page"] == "2"]) == 3


def test_an_answer_trickling_past_the_timeout_times_out(session, api):
    api.script("/apps", Reply(body=json.dumps([item("ABC", "Alpha")]).encode(), pace=0.02))
    source = api_source(session, api, retries=0)

    failure = failed_sync(session, source)

    assert failure.reason == f"page 1 of {api.url}/apps: timed out (0.2 s)"
    assert row_counts(session)[0] == 0


def test_a_server_error_then_a_success_is_retried(session, api):
    api.script("/apps", Reply.json({"error": "busy"}, status=500), Reply.json([item("ABC", "Alpha")]))
    source = api_source(session, api)

    sync(session, source, ROBOT)

    assert len(api.received) == 2
    assert list(visible(session)) == ["ABC"]


def test_a_404_is_not_retried(session, api):
    source = api_source(session, api, path="/nowhere")

    failure = failed_sync(session, source)

    assert len(api.received) == 1
    assert failure.reason.startswith(f"page 1 of {api.url}/nowhere: HTTP 404")


def test_malformed_json_on_page_2_applies_nothing_of_page_1(session, api):
    api.script("/apps?page=1", Reply.json([item("ABC", "Alpha"), item("DEF", "Delta")]))
    api.script("/apps?page=2", Reply(body=b'[{"code": "GHI", "label": '))
    source = api_source(session, api, pagination=PAGES)
    before = row_counts(session)

    failure = failed_sync(session, source)

    assert row_counts(session) == before
    assert failure.reason.startswith(f"page 2 of {api.url}/apps?page=2&per_page=2: the answer is not valid JSON")


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (item("DEF", {"x": 1}), "record 1 (page 1): name (from label) expected text, got dict: \"{'x': 1}\""),
        (
            item("DEF", "Delta", "unknown"),
            "record 1 (page 1): status (from lifecycle.state) is not one of plan, build, production, "
            "decommissioning, retired: 'unknown'",
        ),
        (item("DEF", None), "record 1 (page 1): name (from label) required to create this application"),
    ],
    ids=["dict-as-text", "unknown-status", "missing-name"],
)
def test_a_record_with_a_wrong_value_refuses_the_whole_run(session, api, bad, reason):
    api.script("/apps", Reply.json([item("ABC", "Alpha"), bad]))
    source = api_source(session, api)
    before = row_counts(session)

    failure = failed_sync(session, source)

    assert row_counts(session) == before
    assert failure.reason == f"1 record refused, nothing applied; first: {reason}"
    run = session.get(ImportRun, failure.run.id)
    assert run.notes["error_count"] == 1
    assert run.notes["errors"][0]["record"] == 1
    assert run.counts["error"] == 1
    stored = session.scalars(select(ImportRow).where(ImportRow.run_id == run.id)).all()
    assert [(row.action, row.position) for row in stored] == [("error", 1)]


def test_a_merge_failing_halfway_rolls_back_what_it_wrote(session, api, monkeypatch):
    def full_disk(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    # The diff rows are written after the applications, their records and the audit rows.
    monkeypatch.setattr("portal.imports.runs.store_rows", full_disk)
    api.script("/apps", Reply.json([item("ABC", "Alpha"), item("DEF", "Delta")]))
    source = api_source(session, api)
    before = row_counts(session)

    failure = failed_sync(session, source)

    assert row_counts(session) == before
    assert failure.reason == "the merge failed, nothing applied: RuntimeError: disk full"


@pytest.mark.parametrize(
    ("scripts", "configuration", "reason"),
    [
        (
            {"/apps": Reply.json({"data": {"items": {"code": "ABC"}}})},
            {"items_path": "data.items"},
            "page 1 of {url}/apps: `data.items` is an object, not a list of records",
        ),
        (
            {"/apps": Reply.json({"data": []})},
            {"items_path": "data.items"},
            "page 1 of {url}/apps: no `data.items` in the answer",
        ),
        (
            {"/apps": Reply.json(["ABC"])},
            {},
            "page 1 of {url}/apps: item 0 is text, not an object",
        ),
        (
            {"/apps": Reply(302, headers=(("Location", "https://elsewhere.example/apps"),))},
            {},
            "page 1 of {url}/apps: HTTP 302, redirected to https://elsewhere.example/apps",
        ),
        (
            {"/apps": Reply.json([item("ABC", "Alpha")])},
            {"pagination": PAGES},
            "page 2 of {url}/apps?page=2&per_page=2: the same records as page 1",
        ),
        (
            {f"/apps?page={n}": Reply.json([item(f"AB{n}", "A")]) for n in (1, 2, 3)},
            {"pagination": {**PAGES, "max_pages": 3}},
            "{url}/apps: still not at the last page after 3 pages",
        ),
        (
            {"/apps": Reply.json({"items": [item("ABC", "Alpha")], "next": "http://evil.example/steal"})},
            {"items_path": "items", "pagination": {"style": "next", "next_path": "next"}},
            "page 1 of {url}/apps: the next link leads to another server (http://evil.example)",
        ),
    ],
    ids=["items-not-a-list", "no-items", "item-not-an-object", "redirect", "same-page", "page-cap", "foreign-next"],
)
def test_an_unreadable_answer_applies_nothing_and_says_why(session, api, scripts, configuration, reason):
    for target, reply in scripts.items():
        api.script(target, reply)
    source = api_source(session, api, **configuration)
    before = row_counts(session)

    failure = failed_sync(session, source)

    assert row_counts(session) == before
    assert failure.reason.startswith(reason.format(url=api.url))


def test_a_bad_configuration_fails_the_run_naming_the_key(session, api):
    source = api_source(session, api, pagination={"style": "cursor"})

    failure = failed_sync(session, source)

    assert failure.reason.startswith("configuration.pagination.style: expected one of none, page, offset, next")
    assert api.received == []


# --- snapshots and re-syncs -------------------------------------------------------------------------


def test_an_application_the_api_no_longer_lists_is_marked_missing_not_deleted(session, api):
    api.script("/apps", Reply.json([item("ABC", "Alpha"), item("DEF", "Delta")]))
    source = api_source(session, api)
    sync(session, source, ROBOT)
    api.script("/apps", Reply.json([item("ABC", "Alpha")]))

    run = sync(session, source, ROBOT)

    records = dict(session.execute(select(SourceRecord.natural_key, SourceRecord.missing_since)).all())
    assert records["ABC"] is None
    assert records["DEF"] is not None
    assert sorted(visible(session)) == ["ABC", "DEF"]
    assert run.counts["missing"] == 1


def test_an_empty_answer_marks_nothing_missing(session, api):
    api.script("/apps", Reply.json([item("ABC", "Alpha")]))
    source = api_source(session, api)
    sync(session, source, ROBOT)
    api.script("/apps", Reply.json([]))

    run = sync(session, source, ROBOT)

    assert run.counts["missing"] == 0
    assert session.scalar(select(SourceRecord.missing_since).where(SourceRecord.natural_key == "ABC")) is None


def test_a_resync_of_identical_data_writes_no_change(session, api):
    api.script("/apps", Reply.json([item("ABC", "Alpha"), item("DEF", "Delta")]))
    source = api_source(session, api)
    sync(session, source, ROBOT)
    changes = session.scalar(select(func.count()).select_from(Change))

    run = sync(session, source, ROBOT)

    assert (run.changes_written, run.counts["unchanged"]) == (0, 2)
    assert session.scalar(select(func.count()).select_from(Change)) == changes


def test_a_field_the_api_stops_giving_is_withdrawn(session, api):
    api.script("/apps", Reply.json([item("ABC", "Alpha", description="Old text")]))
    source = api_source(session, api, mapping={**MAPPING, "description": "description"})
    sync(session, source, ROBOT)
    api.script("/apps", Reply.json([item("ABC", "Alpha")]))

    sync(session, source, ROBOT)

    assert session.scalar(select(Application.description).where(Application.trigram == "ABC")) is None


# --- retries, without waiting -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "pauses"),
    [
        (Reply.json({}, status=429, Retry_After="7"), [7.0]),
        (Reply.json({}, status=429, Retry_After="3600"), [60.0]),
        (Reply.json({}, status=503), [0.5]),
        (Reply.json({}, status=429, Retry_After="\u00b2"), [0.5]),
    ],
    ids=["retry-after", "retry-after-capped", "backoff", "retry-after-not-ascii-digits"],
)
def test_a_retry_waits_as_the_api_asks_within_a_cap(api, first, pauses):
    api.script("/apps", first, Reply.json([item("ABC", "Alpha")]))
    config = PullConfig.parse({"url": api.url + "/apps", "object_type": "application", "mapping": MAPPING})
    waited: list[float] = []

    pulled = Fetcher(config, sleep=waited.append).pull()

    assert waited == pauses
    assert len(pulled.records) == 1


@pytest.mark.parametrize("path", ["owners.\u00b2", "owners.5", "owners.x.login"])
def test_a_path_that_leads_nowhere_digs_up_nothing(path):
    assert dig({"owners": [{"login": "jdoe"}]}, path) is None


def test_the_backoff_doubles_at_each_retry(api):
    api.script("/apps", Reply(503), Reply(502), Reply(504), Reply.json([]))
    config = PullConfig.parse(
        {"url": api.url + "/apps", "object_type": "application", "mapping": MAPPING, "backoff_seconds": 0.25}
    )
    waited: list[float] = []

    Fetcher(config, sleep=waited.append).pull()

    assert waited == [0.25, 0.5, 1.0]


# --- configuration ----------------------------------------------------------------------------------

VALID = {"url": "https://cmdb.example/api/apps", "object_type": "application", "mapping": MAPPING}


def test_a_minimal_configuration_takes_the_documented_defaults():
    config = PullConfig.parse(VALID)

    assert (config.timeout_seconds, config.retries, config.backoff_seconds, config.snapshot) == (10, 3, 0.5, True)
    assert (config.pagination.style, config.pagination.max_pages, config.auth) == ("none", 10_000, None)


def test_page_pagination_defaults_to_page_and_per_page_from_1():
    pagination = PullConfig.parse({**VALID, "pagination": {"style": "page"}}).pagination

    assert (pagination.param, pagination.size_param, pagination.size, pagination.start) == ("page", "per_page", 100, 1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"url": "ftp://cmdb.example/apps"}, "configuration.url: 'ftp://cmdb.example/apps' is not an http(s) URL"),
        ({"url": None}, "configuration.url: required"),
        ({"object_type": "widget"}, "configuration.object_type: 'widget' is not one of application, component"),
        ({"mapping": {**MAPPING, "colour": "c"}}, "configuration.mapping.colour: not a field of application"),
        ({"mapping": {"name": "label"}}, "configuration.mapping.trigram: required, it is part of the application"),
        ({"mapping": {**MAPPING, "name": "a..b"}}, "configuration.mapping.name: 'a..b' is not a dotted path"),
        ({"pagination": {"style": "page", "next_path": "x"}}, "configuration.pagination.next_path: unknown key"),
        ({"pagination": {"style": "next"}}, "configuration.pagination.next_path: required"),
        ({"pagination": {"style": "page", "size": 0}}, "configuration.pagination.size: expected a whole number"),
        ({"retries": "3"}, "configuration.retries: expected a whole number from 0 to 10, got '3'"),
        ({"timeout_seconds": True}, "configuration.timeout_seconds: expected a number"),
        ({"snapshot": "yes"}, "configuration.snapshot: expected true or false"),
        ({"auth": {"env": "CMDB TOKEN"}}, "configuration.auth.env: 'CMDB TOKEN' is not an environment variable"),
        ({"auth": {"header": "Authorization"}}, "configuration.auth.env: required"),
        ({"auth": {"env": "T", "header": "Bad: header"}}, "configuration.auth.header: 'Bad: header' is not an HTTP"),
        ({"pagniation": {"style": "page"}}, "configuration.pagniation: unknown key (expected one of auth,"),
    ],
)
def test_a_bad_configuration_is_refused_naming_the_key(change, message):
    configuration = {key: value for key, value in {**VALID, **change}.items() if value is not None}

    with pytest.raises(ValueError) as refused:
        PullConfig.parse(configuration)

    assert str(refused.value).startswith(message)


def test_only_api_sources_are_pulled():
    with pytest.raises(ValueError, match="source nifi is of kind push: only api sources are pulled"):
        PullConfig.from_source(Source(name="nifi", kind="push", configuration=VALID))


# --- the command ------------------------------------------------------------------------------------


def test_flask_sync_prints_a_summary_and_exits_0(flask, session, api):
    api.script("/apps", Reply.json([item("ABC", "Alpha"), item("DEF", "Delta")]))
    api_source(session, api)
    session.commit()

    result = flask("sync", "cmdb")

    assert result.exit_code == 0, result.output
    assert (
        "2 created, 0 updated, 0 unchanged, 0 in conflict, 0 missing from the API; 2 changes written" in result.output
    )
    assert sorted(visible(session)) == ["ABC", "DEF"]


def test_flask_sync_exits_1_with_the_reason_when_the_run_fails(flask, session, api):
    api.script("/apps", Reply.json([item("ABC", "Alpha"), item("DEF", "Delta", "unknown")]))
    api_source(session, api)
    session.commit()

    result = flask("sync", "cmdb")

    assert result.exit_code == 1
    assert "Sync of cmdb failed (run " in result.stderr
    assert "record 1 (page 1): status (from lifecycle.state) is not one of" in result.stderr
    assert visible(session) == {}


def test_flask_sync_dry_run_prints_the_changes_and_writes_nothing(flask, session, api):
    api.script("/apps", Reply.json([item("ABC", "Alpha")]))
    api_source(session, api)
    session.commit()
    runs = session.scalar(select(func.count()).select_from(ImportRun))

    result = flask("sync", "cmdb", "--dry-run")

    assert result.exit_code == 0, result.output
    assert "create   ABC: name: None -> 'Alpha', status: None -> 'production'" in result.output
    assert "Dry run of cmdb, nothing written: would give 1 created" in result.output
    assert visible(session) == {}
    assert session.scalar(select(func.count()).select_from(ImportRun)) == runs


def test_flask_sync_dry_run_lists_refused_records_and_exits_1(flask, session, api):
    api.script("/apps", Reply.json([item("ABC", "Alpha"), item("DEF", "Delta", "unknown")]))
    api_source(session, api)
    session.commit()

    result = flask("sync", "cmdb", "--dry-run")

    assert result.exit_code == 1
    assert "refused  record 1 (page 1): status (from lifecycle.state) is not one of" in result.output
    assert "1 record refused: a sync would apply nothing." in result.stderr
    assert visible(session) == {}


@pytest.mark.parametrize(
    ("kind", "message"),
    [(None, "No source named 'cmdb'."), ("push", "Source cmdb is of kind push: only api sources are pulled.")],
)
def test_flask_sync_refuses_a_source_it_cannot_pull(flask, session, kind, message):
    if kind:
        make_source(session, "cmdb", kind=kind)

    result = flask("sync", "cmdb")

    assert result.exit_code == 1
    assert message in result.stderr
