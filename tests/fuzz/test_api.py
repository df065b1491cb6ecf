"""Schemathesis fuzzes every operation of `/api/v1/openapi.json`, each with a token allowed to call it.

Every case must get no server error, and a status, content type, headers and body that the document describes
(schemathesis' checks); a request that breaks the document must be refused, one that keeps to it accepted.
Two checks of ours: a refused request (4xx) answers an RFC 9457 problem document, and an answer to a request
without `fields=` holds every member of its objects. Once per operation and token, the same request without a
token answers 401, and with a token whose scope or role falls short 403, both as problem documents.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from flask import Flask
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from schemathesis import Case, CheckContext
from schemathesis.core.transport import Response

from portal.core.access import Scope
from portal.core.ratelimit import MemoryCounts, rate_limiter
from tests.fuzz.conftest import TALLY, Referential
from tests.openapi import without_fields

schema = schemathesis.pytest.from_fixture("api_schema")
light_schema = schemathesis.pytest.from_fixture("light_api_schema")

PROBLEM_JSON = "application/problem+json"


def security_of(operation: Any) -> list[dict[str, list[str]]]:
    return operation.definition.raw.get("security", operation.schema.raw_schema["security"])


def is_public(ctx: Any) -> bool:
    return security_of(ctx.operation) == []


def needs(scope: Scope) -> Any:
    """Selects the operations whose token needs `scope`."""

    def matches(ctx: Any) -> bool:
        security = security_of(ctx.operation)
        return bool(security) and security[0]["bearerToken"] == [scope.value]

    return matches


def media_type(response: Response) -> str:
    return (response.headers.get("content-type") or [""])[0].split(";")[0].strip()


def refusals_are_problems(ctx: CheckContext, response: Response, case: Case) -> None:
    """Every 4xx (and 5xx) answers `application/problem+json`."""
    if response.status_code >= 400:
        assert media_type(response) == PROBLEM_JSON, (
            f"{response.status_code} answered as {media_type(response)!r}, not {PROBLEM_JSON}"
        )


class AnswersWithoutFields:
    """Validates answers against the document as it reads without `fields=` (`tests.openapi.without_fields`)."""

    def __init__(self) -> None:
        self.validators: dict[str, Draft202012Validator] = {}
        self.registry: Registry | None = None

    def errors(self, case: Case, response: Response) -> list[str]:
        responses = case.operation.definition.raw["responses"]
        status = str(response.status_code) if str(response.status_code) in responses else "default"
        documented = responses.get(status)
        if documented is None or media_type(response) not in {"application/json", PROBLEM_JSON}:
            return []
        if "$ref" in documented:
            pointer = documented["$ref"][1:]
        else:
            path = case.operation.path.replace("~", "~0").replace("/", "~1")
            pointer = f"/paths/{path}/{case.method.lower()}/responses/{status}"
        pointer += f"/content/{media_type(response).replace('/', '~1')}/schema"
        if self.registry is None:
            strict = without_fields(case.operation.schema.raw_schema)
            self.registry = Registry().with_resource("urn:strict", DRAFT202012.create_resource(strict))
        validator = self.validators.setdefault(
            pointer, Draft202012Validator({"$ref": f"urn:strict#{pointer}"}, registry=self.registry)
        )
        return [
            f"/{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in validator.iter_errors(response.json())
        ]


WITHOUT_FIELDS = AnswersWithoutFields()


def answers_hold_every_member_without_fields(ctx: CheckContext, response: Response, case: Case) -> None:
    """Without `fields=`, an object whose members `fields=` selects holds all of them (`x-required-unless-fields`)."""
    if any(str(name).strip().lower() == "fields" for name in case.query or {}) or not response.content:
        return
    errors = WITHOUT_FIELDS.errors(case, response)
    assert not errors, "Without fields=, the answer lacks members: " + "; ".join(errors[:5])


CHECKS = [refusals_are_problems, answers_hold_every_member_without_fields]


def fuzz(case: Case, test: str, token: str | None) -> Response:
    # The probes of made-up tokens must not lock the real ones out: failures are counted per address.
    rate_limiter.memory = MemoryCounts()
    # Passed to the call (not set on the case), schemathesis knows the credentials are real: its `ignored_auth`
    # check then sends the request again without them and with made-up ones, expecting 401.
    headers = {"Authorization": f"Bearer {token}"} if token else None
    response = case.call(headers=headers)
    TALLY.count(test, case.operation.label, response.status_code)
    excluded = []
    if partial(case):
        # `partial=true` applies the valid records and reports the others with 200: a batch with records the
        # schema refuses is answered 200 by design (each refused record carries its reasons).
        excluded.append(schemathesis.checks.negative_data_rejection)
    # What `call_and_validate` does, with the answer counted first.
    case.validate_response(
        response,
        headers=headers,
        additional_checks=CHECKS,
        excluded_checks=excluded,
        transport_kwargs={"headers": headers} if headers else {},
    )
    return response


def partial(case: Case) -> bool:
    value = next((value for name, value in (case.query or {}).items() if str(name).lower() == "partial"), None)
    return str(value).strip().lower() in {"true", "1"}


PROBED: set[tuple[str, str]] = set()


def probe_other_credentials(app: Flask, case: Case, test: str, wrong: dict[str, str]) -> None:
    """Once per operation and test: no token answers 401, each `wrong` token 403, both as problem+json."""
    if (test, case.operation.label) in PROBED:
        return
    PROBED.add((test, case.operation.label))
    request = case.as_transport_kwargs()
    client = app.test_client()
    for name, token in {"no token": None, **wrong}.items():
        rate_limiter.memory = MemoryCounts()
        headers = {key: value for key, value in request["headers"].items() if key.lower() != "authorization"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        answer = client.open(**{**request, "headers": headers})
        TALLY.probes += 1
        expected = 401 if token is None else 403
        assert answer.status_code == expected, f"{case.operation.label} with {name}: {answer.status_code}"
        assert answer.mimetype == PROBLEM_JSON, f"{case.operation.label} with {name}: {answer.mimetype}"
        if token is None:
            assert answer.headers.get("WWW-Authenticate", "").startswith("Bearer")


@schema.include(needs(Scope.READ)).parametrize()
def test_reads_with_a_read_token(case: Case, app: Flask, seeded: Referential) -> None:
    response = fuzz(case, "reads with a read token", seeded.steward[Scope.READ])
    if response.status_code < 400:
        wrong = {"a steward's ingest token": seeded.steward[Scope.INGEST]}
        if case.operation.definition.raw.get("x-required-role") == "steward":
            wrong["a reader's read token"] = seeded.reader[Scope.READ]
        probe_other_credentials(app, case, "read", wrong)


@light_schema.include(needs(Scope.READ)).parametrize()
def test_reads_with_a_write_token(case: Case, seeded: Referential) -> None:
    fuzz(case, "reads with a write token", seeded.steward[Scope.WRITE])


@schema.include(needs(Scope.INGEST)).parametrize()
def test_pushes_with_an_ingest_token(case: Case, app: Flask, seeded: Referential) -> None:
    response = fuzz(case, "pushes with an ingest token", seeded.steward[Scope.INGEST])
    if response.status_code < 400:
        wrong = {
            "a steward's read token": seeded.steward[Scope.READ],
            "a steward's write token": seeded.steward[Scope.WRITE],
            "a reader's ingest token": seeded.reader[Scope.INGEST],
        }
        probe_other_credentials(app, case, "ingest", wrong)


@schema.include(is_public).parametrize()
def test_probes_without_a_token(case: Case) -> None:
    fuzz(case, "probes without a token", None)
