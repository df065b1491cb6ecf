"""The push API (`POST /api/v1/sources/<source>/records`), multi-batch snapshots, and the import runs as JSON."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.core.access import Role, Scope, requires
from portal.core.api import LIST_PARAMETERS, flag, json_response, lowercase_args, paginated_json, reject_unknown
from portal.core.errors import ApiError, problem_response
from portal.core.models import utcnow
from portal.core.pagination import whole_number
from portal.extensions import db
from portal.imports.merge import Merge, Plan
from portal.imports.models import ImportRun
from portal.imports.push import BatchRejected, batch_fingerprint, parse_batch, statements_from_records
from portal.imports.queries import RunFilters, select_runs
from portal.imports.runs import Actor, PlanHasErrors, SourceBusy, execute, finish, open_run
from portal.imports.schema import OBJECT_TYPES
from portal.sources.models import Source

bp = Blueprint("imports_api", __name__, url_prefix="/api/v1")

PUSH_PARAMETERS = ("mode", "partial", "snapshot")
RUN_FIELDS = (
    "id",
    "source",
    "kind",
    "mode",
    "status",
    "actor",
    "created_at",
    "finished_at",
    "filename",
    "phase",
    "progress",
    "counts",
    "changes_written",
    "error",
)


def serialize_run(run: ImportRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "source": run.source.name,
        "kind": run.kind,
        "mode": run.mode,
        "status": run.status,
        "actor": run.actor,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "filename": run.filename,
        "phase": run.phase,
        "progress": {"done": run.progress_done, "total": run.progress_total},
        "counts": run.counts,
        "changes_written": run.changes_written,
        "error": run.error,
    }


@bp.get("/imports")
@requires(Role.STEWARD)
def runs() -> Response:
    args = lowercase_args(request.args)
    reject_unknown(args, (*LIST_PARAMETERS, *RunFilters.PARAMETERS))
    return paginated_json(db.session, select_runs(RunFilters.from_args(args)), args, serialize_run, RUN_FIELDS)


@bp.get("/imports/<int:run_id>")
@requires(Role.STEWARD)
def run(run_id: int) -> Response:
    reject_unknown(lowercase_args(request.args), ())
    found = db.session.get(ImportRun, run_id)
    if found is None:
        raise ApiError(404, f"There is no import run {run_id}.")
    return json_response(serialize_run(found))


def push_source(name: str) -> Source:
    """The push source called `name`. Raises `ApiError` 404 (unknown) or 409 (a source of another kind)."""
    source = db.session.scalars(select(Source).where(Source.name == name.strip().lower())).first()
    if source is None:
        raise ApiError(404, f"There is no source {name[:40]!r}. An admin declares sources on the Sources page.")
    if source.kind != "push":
        raise ApiError(409, f"Source {source.name!r} is a {source.kind} source; records are pushed to push sources.")
    return source


def read_body() -> bytes:
    """The request body, refused with 413 past `PUSH_MAX_BYTES` (checked before reading it all)."""
    limit = current_app.config["PUSH_MAX_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"The body is larger than the limit of {limit // (1024 * 1024)} MB; send smaller batches.")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise ApiError(413, f"The body is larger than the limit of {limit // (1024 * 1024)} MB; send smaller batches.")
    return body


@bp.post("/sources/<source_name>/records")
@requires(Role.STEWARD, Scope.INGEST)
def push(source_name: str) -> Response:
    """Apply one batch of records. Replaying an `Idempotency-Key` answers the first answer and changes nothing."""
    args = lowercase_args(request.args)
    reject_unknown(args, PUSH_PARAMETERS)
    source = push_source(source_name)
    mode = (args.get("mode") or "delta").strip().lower()
    if mode not in ("delta", "snapshot"):
        raise ApiError(400, f"mode must be delta or snapshot, got {mode[:20]!r}.")
    partial = flag(args, "partial")
    # An empty `snapshot=` is no snapshot, as an empty value is no value for every parameter.
    snapshot_run = _open_snapshot(source, (args.get("snapshot") or "").strip() or None)
    if snapshot_run is not None and mode == "snapshot":
        raise ApiError(
            400,
            "A batch of a snapshot spanning several batches is sent as mode=delta; commit the "
            "snapshot to mark what it did not mention.",
        )
    raw_key = request.headers.get("Idempotency-Key")
    key = (raw_key or "").strip()
    # An empty key sent is a key missing (a flow's attribute not set): refused, not read as "no key", which
    # would silently take the retry protection away.
    if (raw_key is not None and not key) or len(key) > 200 or any(ord(char) < 33 for char in key):
        raise ApiError(400, "Idempotency-Key must be 1 to 200 visible characters.")
    body = read_body()
    # What makes a batch the same batch: its body and how it was to be applied.
    fingerprint = batch_fingerprint(body, mode, partial, snapshot_run.id if snapshot_run else None)
    if key and (earlier := _earlier_run(source, key)) is not None:
        return _replay(earlier, fingerprint)
    try:
        records = parse_batch(body, request.content_type or "", current_app.config["PUSH_MAX_RECORDS"])
    except BatchRejected as error:
        raise ApiError(error.status, str(error)) from None
    try:
        with db.session.begin_nested():  # refused records leave nothing of the batch behind
            run = open_run(
                db.session,
                source,
                "push",
                Actor.of_request(),
                idempotency_key=key or None,
                options={"partial": partial, "snapshot": mode == "snapshot", "batch": fingerprint},
            )
            statements = statements_from_records(records)
            plan = execute(db.session, run, statements, snapshot=mode == "snapshot", partial=partial, wait=False)
    except PlanHasErrors as refused:
        return _refuse(source, key, fingerprint, refused.plan)
    except SourceBusy as busy:  # an import of this source is being applied: never interleaved with it
        response = problem_response(409, str(busy))
        response.headers["Retry-After"] = "5"
        return response
    if snapshot_run is not None:
        _count_into(snapshot_run, plan)
    answer = _answer(run, plan)
    run.notes = {"response": answer}
    try:
        db.session.commit()
    except IntegrityError:
        # The same Idempotency-Key committed by a concurrent request first: answer what it answered.
        db.session.rollback()
        earlier = _earlier_run(source, key) if key else None
        if earlier is None:
            raise
        return _replay(earlier, fingerprint)
    return json_response(answer)


def _earlier_run(source: Source, key: str) -> ImportRun | None:
    return db.session.scalars(
        select(ImportRun).where(ImportRun.source_id == source.id, ImportRun.idempotency_key == key)
    ).first()


def _replay(earlier: ImportRun, fingerprint: str) -> Response:
    if earlier.options.get("batch") != fingerprint:
        raise ApiError(422, "This Idempotency-Key was already used for a different batch; use a new key.")
    answer = earlier.notes.get("response") or {}
    response = json_response(answer, status=200 if earlier.status == "succeeded" else 422)
    if earlier.status != "succeeded":
        response.mimetype = "application/problem+json"
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _answer(run: ImportRun, plan: Plan) -> dict[str, Any]:
    return {
        "run": run.id,
        "status": run.status,
        "counts": plan.counts,
        "changes_written": run.changes_written,
        "results": _answer_results(plan),
    }


def _own(plan: Plan) -> list[Any]:
    """The outcomes of the records sent (not those derived from them, such as a stakeholder's person)."""
    return [outcome for outcome in plan.outcomes if not outcome.statement.derived]


def _result(index: int, result: dict[str, Any]) -> dict[str, Any]:
    if "errors" in result:
        # Pushers know fields by their JSON names, not by the workbook's headers.
        object_type = OBJECT_TYPES.get(result["type"])
        names = {column.header: column.name for column in object_type.columns} if object_type else {}
        result["errors"] = [
            {"field": names.get(error["column"], error["column"]), "value": error["value"], "reason": error["reason"]}
            for error in result["errors"]
        ]
    return {"index": index, **result}


def _refuse(source: Source, key: str, fingerprint: str, plan: Plan) -> Response:
    """Nothing was applied: record the refused batch as a failed run (replays of its key answer the same)."""
    results = [result for result in _answer_results(plan) if result["action"] == "error"]
    detail = (
        f"{len(results)} of {len(_own(plan))} records are invalid; nothing was applied. "
        "Fix them, or send partial=true to apply the valid ones."
    )
    actor = Actor.of_request()
    run = open_run(db.session, source, "push", actor, idempotency_key=key or None, options={"batch": fingerprint})
    body = {
        "type": "about:blank",
        "title": "Invalid records",
        "status": 422,
        "detail": detail,
        "instance": request.path,
        "results": results,
    }
    run.counts = plan.counts
    run.notes = {"response": body}
    finish(db.session, run, "failed", detail)
    db.session.commit()
    response = json_response(body, status=422)
    response.mimetype = "application/problem+json"
    return response


def _answer_results(plan: Plan) -> list[dict[str, Any]]:
    return [_result(index, outcome.as_result()) for index, outcome in enumerate(_own(plan))]


# --- snapshots spanning several batches ----------------------------------------------------------------


def _open_snapshot(source: Source, raw_id: str | None) -> ImportRun | None:
    return None if raw_id is None else _find_open_snapshot(source, raw_id)


def _find_open_snapshot(source: Source, raw_id: str) -> ImportRun:
    number = whole_number(raw_id)
    snapshot = db.session.get(ImportRun, number) if number is not None else None
    if snapshot is None or snapshot.source_id != source.id or snapshot.kind != "snapshot":
        raise ApiError(404, f"There is no snapshot {raw_id[:20]!r} of source {source.name!r}.")
    if snapshot.status != "open":
        ended = {"succeeded": "was committed", "cancelled": "was aborted", "failed": "was abandoned"}
        raise ApiError(409, f"Snapshot {snapshot.id} {ended.get(snapshot.status, snapshot.status)}; begin a new one.")
    return snapshot


def _count_into(snapshot: ImportRun, plan: Plan) -> None:
    counts = dict(snapshot.counts)
    for action, count in plan.counts.items():
        counts[action] = counts.get(action, 0) + count
    types = set(snapshot.notes.get("types", [])) | {outcome.statement.object_type for outcome in plan.outcomes}
    snapshot.counts = counts
    snapshot.notes = {**snapshot.notes, "types": sorted(types)}
    snapshot.heartbeat_at = utcnow()


@bp.post("/sources/<source_name>/snapshots")
@requires(Role.STEWARD, Scope.INGEST)
def begin_snapshot(source_name: str) -> Response:
    """Begin a snapshot: push its batches with `?snapshot=<id>`, then commit it to mark what it did not mention."""
    reject_unknown(lowercase_args(request.args), ())
    source = push_source(source_name)
    snapshot = open_run(db.session, source, "snapshot", Actor.of_request())
    snapshot.status = "open"
    db.session.commit()
    return json_response(serialize_run(snapshot), status=201)


@bp.post("/sources/<source_name>/snapshots/<int:snapshot_id>/commit")
@requires(Role.STEWARD, Scope.INGEST)
def commit_snapshot(source_name: str, snapshot_id: int) -> Response:
    """Mark missing every record of the snapshot's object types that none of its batches mentioned."""
    reject_unknown(lowercase_args(request.args), ())
    source = push_source(source_name)
    snapshot = _find_open_snapshot(source, str(snapshot_id))
    if snapshot.started_at is None:  # open_run sets it: only a run written by hand lacks it
        raise ApiError(409, f"Snapshot {snapshot.id} has no start time to compare with; begin a new one.")
    merge = Merge(
        db.session, source, snapshot, actor=snapshot.actor, user_id=snapshot.user_id, token_id=snapshot.token_id
    )
    missing = sum(merge.mark_missing(name, snapshot.started_at) for name in snapshot.notes.get("types", []))
    snapshot.counts = {**snapshot.counts, "missing": missing}
    finish(db.session, snapshot, "succeeded")
    db.session.commit()
    return json_response(serialize_run(snapshot))


@bp.post("/sources/<source_name>/snapshots/<int:snapshot_id>/abort")
@requires(Role.STEWARD, Scope.INGEST)
def abort_snapshot(source_name: str, snapshot_id: int) -> Response:
    """Give up a snapshot: its batches stay applied (as deltas), nothing is marked missing."""
    reject_unknown(lowercase_args(request.args), ())
    source = push_source(source_name)
    snapshot = _find_open_snapshot(source, str(snapshot_id))
    finish(db.session, snapshot, "cancelled")
    db.session.commit()
    return json_response(serialize_run(snapshot))
