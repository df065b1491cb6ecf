"""Fuzzing fixtures: the portal in-process (its WSGI app) on a throwaway PostgreSQL database, a small seeded
referential, and API tokens of every scope. Schemathesis reads the portal's own `/api/v1/openapi.json`.

`make fuzz-ci` (part of `make test`) is a bounded, deterministic run: derandomized, a fixed seed, and
`FUZZ_MAX_EXAMPLES` (25) cases per operation in the fuzzing phase; the examples and coverage phases add theirs.
`make fuzz` raises the count (1,000) and draws a new seed each run, printed at the end: `make fuzz FUZZ_SEED=<seed>`
replays that run.
"""

from __future__ import annotations

import os
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from flask import Flask
from schemathesis.specs.openapi.schemas import OpenApiSchema
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from portal import create_app
from portal.core.access import Scope
from portal.extensions import build_engine, db
from portal.migrate import upgrade
from tests.databases import create_postgresql_database, drop_postgresql_database
from tests.unit.builders import (
    make_documented_referential,
    make_source,
    make_token,
    make_user,
    reindex,
)

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES") or 25)
# The bounded run is derandomized with a fixed seed; a long run (FUZZ_RANDOM_SEED) takes FUZZ_SEED or a new one.
RANDOM = bool(os.environ.get("FUZZ_RANDOM_SEED"))
SEED = int(os.environ.get("FUZZ_SEED") or (random.SystemRandom().getrandbits(32) if RANDOM else 7))
# The push source the fuzzed pushes go to.
PUSH_SOURCE = "nifi"


@dataclass
class Referential:
    """What the fuzz calls with: API tokens (a steward's of each scope, and a reader's, whose role is too low
    to push or to read import runs), and the snapshot left open for pushed batches to join."""

    steward: dict[Scope, str] = field(default_factory=dict)
    reader: dict[Scope, str] = field(default_factory=dict)
    open_snapshot: int = 0


@dataclass
class Tally:
    """The cases the fuzz sent, by test and, with the statuses answered, by operation; printed at the end."""

    cases: Counter[str] = field(default_factory=Counter)
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    probes: int = 0

    def count(self, test: str, operation: str, status: int) -> None:
        self.cases[test] += 1
        self.statuses[operation][status] += 1


TALLY = Tally()
# Read by the `before_call` hook below, which cannot ask for fixtures.
SEEDED = Referential()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A throwaway PostgreSQL database (the production engine), dropped at the end of the run."""
    url = create_postgresql_database()
    try:
        yield url
    finally:
        drop_postgresql_database(url)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = build_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def app(database_url: str, engine: Engine) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "fuzz-secret-key",
            # Imports run inside the request that starts them (no thread), as in the unit tests.
            "IMPORTS_INLINE": True,
            # A line per request would bury the failures.
            "LOG_LEVEL": "WARNING",
        }
    )


@pytest.fixture(scope="session")
def seeded(app: Flask) -> Referential:
    """A small referential, committed (each fuzzed request runs in a transaction of its own), the tokens, and
    what sources say about it, pushed through the API itself: changes, runs, a conflict, provenance."""
    with app.app_context():
        seed_referential(db.session)
        steward = make_user(db.session, "fuzz-steward", "steward")
        reader = make_user(db.session, "fuzz-reader", "reader")
        SEEDED.steward = {scope: make_token(db.session, steward, scope, name=f"fuzz {scope}")[1] for scope in Scope}
        SEEDED.reader = {scope: make_token(db.session, reader, scope, name=f"fuzz {scope}")[1] for scope in Scope}
        db.session.commit()
    client = app.test_client()
    ingest = {"Authorization": f"Bearer {SEEDED.steward[Scope.INGEST]}"}
    for source, batch in PUSHED.items():
        response = client.post(f"/api/v1/sources/{source}/records", json=batch, headers=ingest)
        assert response.status_code == 200, response.get_data(as_text=True)
    begun = client.post(f"/api/v1/sources/{PUSH_SOURCE}/snapshots", headers=ingest)
    assert begun.status_code == 201, begun.get_data(as_text=True)
    SEEDED.open_snapshot = begun.json["id"]
    return SEEDED


def seed_referential(session: Session) -> None:
    """What the document's examples name (BCA, DSI-PAY, jdupont, nifi...), so that fuzzed reads find content."""
    make_documented_referential(session)
    make_source(session, PUSH_SOURCE, kind="push", precedence=60, description="NiFi flow from the CMDB")
    make_source(session, "crm", kind="push", precedence=40)
    make_source(session, "workbooks", kind="excel", precedence=40)
    reindex(session)


# Two push sources that disagree on BCA2's status: an open conflict.
PUSHED = {
    PUSH_SOURCE: [
        {"type": "application", "trigram": "BCA", "name": "Banque de compensation", "status": "production"},
        {"type": "application", "trigram": "BCA2", "status": "plan", "description": "Version 2"},
        {"type": "person", "login": "lbernard", "name": "Luc Bernard"},
        {"type": "environment", "trigram": "BCA", "kind": "prod"},
        {"type": "component", "trigram": "BCA", "environment": "prod", "kind": "server", "name": "par-lx-bca-p02"},
    ],
    "crm": [{"type": "application", "trigram": "BCA2", "status": "build"}],
}


@pytest.fixture(scope="session")
def api_schema(app: Flask, seeded: Referential) -> OpenApiSchema:
    """The portal's own OpenAPI document, loaded through the WSGI app: every phase, `MAX_EXAMPLES` fuzzed cases."""
    return load_schema(app, seeded, MAX_EXAMPLES, coverage=True)


@pytest.fixture(scope="session")
def light_api_schema(app: Flask, seeded: Referential) -> OpenApiSchema:
    """The same document for a second token on the same operations: the examples, and half the fuzzed cases.
    The coverage phase's boundary values, already sent with the first token, would not tell anything new."""
    return load_schema(app, seeded, max(MAX_EXAMPLES // 2, 1), coverage=False)


def load_schema(app: Flask, seeded: Referential, max_examples: int, coverage: bool) -> OpenApiSchema:
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            # Pushed records (seven types, keys, patterns, enumerations) take Hypothesis many draws; these
            # health checks would stop the run without saying anything about the portal.
            "suppress-health-check": ["filter_too_much", "too_slow", "data_too_large"],
            "generation": {
                "max-examples": max_examples,
                "deterministic": not RANDOM,
                # No example database: a run never replays an earlier run's failures, so it is reproducible.
                "database": "none",
                # The tests send the token each operation needs, rather than schemathesis making one up.
                "with-security-parameters": False,
            },
            # Every operation on its own: the examples, coverage and fuzzing phases.
            "phases": {"coverage": {"enabled": coverage}, "stateful": {"enabled": False}},
            "operations": [
                {
                    "include-tag": "Push",
                    # Into the seeded push source: any other name only ever gets 404.
                    "parameters": {"path.source_name": PUSH_SOURCE},
                    "checks": {
                        # Records the schema accepts may still be refused as a batch (422): a component of an
                        # environment the source never stated, an Idempotency-Key used before for another batch.
                        "positive_data_acceptance": {"expected-statuses": ["2xx", 401, 403, 404, 409, 422, 429]},
                        # A batch over `maxItems` is refused as too large (413), as documented.
                        "negative_data_rejection": {
                            "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]
                        },
                    },
                }
            ],
        }
    )
    token = {"Authorization": f"Bearer {seeded.steward[Scope.READ]}"}
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config, headers=token)


@pytest.fixture(autouse=True)
def node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32's `from_fixture` renames the running test through `Node._nodeid`, which pytest 9.2 no
    longer has (the id lives in `_id`): without the attribute every fuzz test fails before sending anything."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: dict[str, Any]) -> None:
    """Adjust a case before it is sent; schemathesis then classifies it again (valid or not) as sent.

    Nested query values go as `requests` sends them, and as the reproduction `curl` shows them: an object's
    keys, a list's items. Werkzeug's test client, which carries the WSGI calls, would send their Python repr
    (`{'a\\x0b': 1}` arrives without its control character), and the verdict would be on a value never sent.

    Header values lose their surrounding spaces and tabs, as an HTTP server strips them (RFC 9110, OWS) before
    the portal sees them; the test client would pass them on.

    A pushed batch that names a snapshot by a number joins the open one: a made-up id only ever gets 404.
    With `mode=snapshot`, it names none instead (the two contradict each other: 400).
    """
    if isinstance(case.headers, dict):
        for name, value in case.headers.items():
            if isinstance(value, str):
                case.headers[name] = value.strip(" \t")
    if not isinstance(case.query, dict):
        return
    for name, value in case.query.items():
        if isinstance(value, list) or (isinstance(value, dict) and value):
            case.query[name] = list(wire_values(value))
    snapshot = str(case.query.get("snapshot"))
    if case.operation.definition.raw.get("operationId") == "pushRecords" and snapshot.isascii() and snapshot.isdigit():
        if str(case.query.get("mode")).strip().lower() == "snapshot":
            # Contradictory, refused with 400 as documented (a batch of a snapshot is a delta), which no schema
            # keyword can say: JSON Schema describes each parameter on its own.
            del case.query["snapshot"]
        else:
            case.query["snapshot"] = SEEDED.open_snapshot


def wire_values(value: Any) -> Iterator[Any]:
    for item in value:  # a dict's keys, a list's items
        if isinstance(item, list | dict):
            yield from wire_values(item)
        elif item is not None:
            yield item


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLY.cases:
        return
    terminalreporter.write_sep("-", "schemathesis")
    for operation, statuses in sorted(TALLY.statuses.items(), key=lambda item: item[0].split(" ", 1)[::-1]):
        answers = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
        terminalreporter.write_line(f"{operation}: {sum(statuses.values())} cases ({answers})")
    for test, count in sorted(TALLY.cases.items()):
        terminalreporter.write_line(f"{test}: {count} cases")
    replay = f"; replay: make fuzz FUZZ_SEED={SEED} FUZZ_MAX_EXAMPLES={MAX_EXAMPLES}" if RANDOM else ", derandomized"
    terminalreporter.write_line(
        f"fuzz: {sum(TALLY.cases.values())} generated cases in all, {TALLY.probes} wrong-credential probes "
        f"(seed {SEED}, {MAX_EXAMPLES} fuzzing examples per operation{replay})"
    )
