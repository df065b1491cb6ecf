"""The Imports pages: upload a workbook, review its dry-run diff, apply or cancel it, watch it, fix its errors."""

from __future__ import annotations

import io
import re
import unicodedata

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from werkzeug.wrappers import Response as BaseResponse

from portal.core.access import Role, requires
from portal.core.htmx import is_partial, vary_on_htmx
from portal.core.metrics import register_gauge_collector
from portal.core.models import utcnow
from portal.core.pagination import PageRequest, count_rows
from portal.extensions import db
from portal.imports import workbooks
from portal.imports.error_workbook import build_error_workbook
from portal.imports.excel import WorkbookRejected
from portal.imports.models import ImportRun
from portal.imports.plans import drop_workbook_and_plan
from portal.imports.queries import (
    RowFilters,
    RunFilters,
    count_rows_by_sheet,
    count_runs_by_status,
    find_active_apply,
    find_run,
    select_excel_sources,
    select_run_rows,
    select_runs,
)
from portal.imports.runs import MAX_STORED_ROWS, Actor, fail_stale_runs, finish
from portal.imports.template import build_template
from portal.sources.models import Source

bp = Blueprint("imports", __name__)


@bp.record_once
def count_runs_in_metrics(_state: object) -> None:
    """/metrics reports the runs by status, read from the database (the same whichever worker answers)."""
    register_gauge_collector(
        "portal_import_runs", "Import runs by status.", ["status"], lambda: count_runs_by_status(db.session)
    )


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
RUNS_PER_PAGE = 30
ROWS_PER_PAGE = 50
Page = BaseResponse | str | tuple[str, int]


def _list_page(status: int = 200, error: str | None = None) -> tuple[str, int]:
    fail_stale_runs(db.session)
    db.session.commit()
    filters = RunFilters.from_args(request.args)
    page = PageRequest.of_page(request.args, RUNS_PER_PAGE)
    statement = select_runs(filters)
    runs = db.session.scalars(statement.limit(page.size).offset(page.offset)).all()
    total = count_rows(db.session, statement)
    sources = db.session.scalars(select_excel_sources()).all()
    html = render_template(
        "imports/list.html", runs=runs, total=total, page=page, filters=filters, sources=sources, error=error
    )
    return html, status


@bp.get("/imports")
@requires(Role.STEWARD)
def list_() -> Page:
    return _list_page()


@bp.post("/imports")
@requires(Role.STEWARD)
def upload() -> Page:
    """Check the uploaded workbook at once, then dry-run it in the background and show its run."""
    source = db.session.scalars(
        select_excel_sources().where(Source.name == (request.form.get("source") or "").strip().lower())
    ).first()
    upload = request.files.get("file")
    if source is None:
        return _list_page(400, "Choose the source this workbook comes from.")
    filename = base_name(upload.filename or "") if upload is not None else ""
    if upload is None or not filename:
        return _list_page(400, "Choose a workbook (.xlsx) to upload.")
    data = upload.read(current_app.config["IMPORT_MAX_BYTES"] + 1)
    try:
        run = workbooks.start_upload(
            db.session, source, filename, data, Actor.of_request(), snapshot=request.form.get("snapshot") == "on"
        )
    except WorkbookRejected as error:  # refused before anything was written
        status = 413 if len(data) > current_app.config["IMPORT_MAX_BYTES"] else 400
        return _list_page(status, f"{filename}: {error}")
    db.session.commit()
    workbooks.launch(run.id, "dry_run")
    return redirect(url_for("imports.detail", run_id=run.id), code=303)


@bp.get("/imports/template.xlsx")
@requires(Role.STEWARD)
def template() -> BaseResponse:
    workbook = io.BytesIO(build_template())
    return send_file(workbook, mimetype=XLSX, as_attachment=True, download_name="referentiel-template.xlsx")


def get_run(run_id: int) -> ImportRun:
    """The run, or 404."""
    run = find_run(db.session, run_id)
    if run is None:
        abort(404, f"There is no import run {run_id}.")
    return run


@bp.get("/imports/<int:run_id>")
@requires(Role.STEWARD)
def detail(run_id: int) -> Page:
    run = get_run(run_id)
    filters = RowFilters.from_args(request.args)
    page = PageRequest.of_page(request.args, ROWS_PER_PAGE)
    statement = select_run_rows(run.id, filters)
    rows = db.session.scalars(statement.limit(page.size).offset(page.offset)).all()
    context = {
        "run": run,
        "rows": rows,
        "filters": filters,
        "page": page,
        "matching": count_rows(db.session, statement),
        "sheets": count_rows_by_sheet(db.session, run.id),
        "listed": MAX_STORED_ROWS,
    }
    template = "imports/_run.html" if is_partial() else "imports/detail.html"
    return vary_on_htmx(current_app.make_response(render_template(template, **context)))


@bp.post("/imports/<int:run_id>/apply")
@requires(Role.STEWARD)
def apply(run_id: int) -> Page:
    run = get_run(run_id)
    partial = request.form.get("partial") == "on"
    if run.status != "ready":
        flash(f"This import is {run.status}: only a dry run that is ready can be applied.", "error")
    elif run.counts.get("error") and not partial:
        flash("Some rows have errors: fix them, or choose to apply only the valid rows.", "error")
    elif other := find_active_apply(db.session, run.source_id, run.id):
        flash(f"Import {other.id} of {run.source.name} is being applied; apply this one once it is done.", "error")
    else:
        run.status = "queued"
        run.heartbeat_at = utcnow()  # alive: a run waiting for its thread is not a dead one
        run.options = {**run.options, "partial": partial}
        db.session.commit()
        workbooks.launch(run.id, "apply")
    return redirect(url_for("imports.detail", run_id=run.id), code=303)


@bp.post("/imports/<int:run_id>/cancel")
@requires(Role.STEWARD)
def cancel(run_id: int) -> Page:
    run = get_run(run_id)
    if run.status in ("ready", "queued") and run.mode == "dry_run":
        finish(db.session, run, "cancelled")
        drop_workbook_and_plan(db.session, run)
        db.session.commit()
        flash("Import cancelled: nothing was applied.", "success")
    else:
        flash(f"This import is {run.status} and can no longer be cancelled.", "error")
    return redirect(url_for("imports.detail", run_id=run.id), code=303)


@bp.get("/imports/<int:run_id>/errors.xlsx")
@requires(Role.STEWARD)
def error_workbook(run_id: int) -> BaseResponse:
    """The uploaded workbook with every bad cell highlighted and commented (while the run keeps its file)."""
    run = get_run(run_id)
    if not run.file_data:
        abort(404, "This import no longer keeps its workbook (it was applied, cancelled or failed).")
    rows = db.session.scalars(select_run_rows(run.id, RowFilters(action="error"))).all()
    errors = [
        (row.sheet or "", row.row_number or 0, error.get("column"), _reason(error))
        for row in rows
        for error in row.errors
    ]
    try:
        data = build_error_workbook(run.file_data, run.notes, errors)
    except WorkbookRejected as error:
        flash(f"The workbook with its errors marked cannot be written: {error}", "error")
        return redirect(url_for("imports.detail", run_id=run.id), code=303)
    name = "".join(char for char in base_name(run.filename or "") if unicodedata.category(char) != "Cc")
    stem = name.rsplit(".", 1)[0] or "workbook"
    return send_file(io.BytesIO(data), mimetype=XLSX, as_attachment=True, download_name=f"{stem}-errors.xlsx")


def base_name(filename: str) -> str:
    """The file's own name, without the folders some browsers send with it (`C:\\Users\\...\\a.xlsx`) or that a
    crafted request adds (`../../a.xlsx`); empty when nothing is left but dots. The name is only stored and shown
    (the workbook is kept in the database), but it goes into a download's file name."""
    name = re.split(r"[/\\]", filename)[-1].strip()
    return name if name.strip(".") else ""


def _reason(error: dict[str, str | None]) -> str:
    value = error.get("value")
    return f"{error.get('reason')} (value: {value})" if value not in (None, "") else str(error.get("reason"))
