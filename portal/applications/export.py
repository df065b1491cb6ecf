"""Export of the current search (every page, same filters, same order) as xlsx, csv or json.

`GET /export?<the search page's query string>&format=xlsx|csv|json` (xlsx when `format` is left out).
Without `q` the export is the filtered listing, possibly every application of the referential, read
from the database in chunks of `CHUNK_SIZE`; with `q` it is the ranked matches the search produces
(each arm capped by `SEARCH_EXACT_COUNT_LIMIT`, as on the search page), in rank order. Nothing holds
more than one chunk of rows at a time:

- xlsx: the workbook format of the import template (docs: DESIGN.md, "Workbook format"), so that an
  export can be edited and imported again. Sheets "Applications", "Stakeholders" and "Environments",
  each with a bold, frozen header row, an autofilter over its data and set column widths; dates are
  real Excel dates. openpyxl's write-only mode writes each sheet to a temporary file, the finished
  workbook goes to a spooled temporary file, and that file is sent in pieces.
- csv: the Applications columns only, UTF-8 with a byte order mark (so that Excel reads it as UTF-8),
  comma-separated, dates as YYYY-MM-DD, sent as it is produced.
- json: one JSON array of application objects (the csv's columns as snake_case keys; dates as
  YYYY-MM-DD, empty values as null, tags as a list), sent as it is produced: `[`, one object per line,
  `]`.

Text that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage
return) is neutralised in xlsx and csv cells by a leading `'` (OWASP, "CSV injection"); dates stay
dates. JSON is data for programs, not for spreadsheets: its values are left as they are.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from collections import defaultdict
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import IO, Any

from flask import Response, current_app, stream_with_context
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from portal.applications.queries import (
    ApplicationFilters,
    FilterShape,
    filter_parameters,
    select_application_rows,
    select_application_rows_by_trigram,
    select_environment_rows,
    select_stakeholder_rows,
)
from portal.applications.search import search_applications
from portal.core.api import lowercase_args, reject_unknown
from portal.core.errors import ApiError
from portal.core.pagination import PageRequest
from portal.extensions import db
from portal.imports.schema import OBJECT_TYPES

# The search page's parameters: `page` and `page_size` are accepted and ignored (every page is exported).
PARAMETERS = (*ApplicationFilters.PARAMETERS, "page", "page_size", "format")
CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}
FORMATS = tuple(CONTENT_TYPES)
# Applications read (and written) per round trip; their stakeholders and environments come with them.
CHUNK_SIZE = 500
# A finished workbook up to this size stays in memory; a larger one goes to disk.
SPOOL_BYTES = 1024 * 1024
# Size of the pieces a finished workbook is sent in.
READ_BYTES = 64 * 1024

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Characters an xlsx file cannot hold (XML 1.0 forbids most control characters), and Excel's cell limit.
XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
XLSX_MAX_TEXT = 32_767


@dataclass(frozen=True)
class Sheet:
    """One sheet of the workbook: its title, its headers (natural key first) and their column widths."""

    title: str
    headers: tuple[str, ...]
    widths: tuple[int, ...]


# The headers are the import's (portal/imports/schema.py), so that an export can be imported back.
APPLICATION, STAKEHOLDER, ENVIRONMENT = (OBJECT_TYPES[name] for name in ("application", "stakeholder", "environment"))
APPLICATIONS = Sheet(APPLICATION.sheet, APPLICATION.headers, (10, 36, 60, 16, 12, 16, 12, 15, 14, 30, 45))
STAKEHOLDERS = Sheet(STAKEHOLDER.sheet, STAKEHOLDER.headers, (10, 18, 16, 30, 36))
ENVIRONMENTS = Sheet(ENVIRONMENT.sheet, ENVIRONMENT.headers, (10, 13, 24, 50, 10))
JSON_KEYS = tuple(column.name for column in APPLICATION.columns)
BOLD = Font(bold=True)


@dataclass
class ExportChunk:
    """Some applications in export order, with their stakeholders and environments in the same order."""

    applications: list[Any]
    stakeholders: list[Any]
    environments: list[Any]


@dataclass(frozen=True)
class ExportRequest:
    """What to export and in which format, parsed from the search page's query arguments."""

    filters: ApplicationFilters
    format: str

    @classmethod
    def from_args(cls, args: MultiDict[str, str], max_query_length: int = 200) -> ExportRequest:
        """Raises `ApiError` (400) for an unknown parameter or format, or a bad filter (as the search does)."""
        args = lowercase_args(args)
        reject_unknown(args, PARAMETERS)
        formats = [value.strip().lower() for value in args.getlist("format") if value.strip()]
        if len(formats) > 1:
            raise ApiError(400, "format must be given once.", allowed=list(FORMATS))
        format_ = formats[0] if formats else "xlsx"
        if format_ not in FORMATS:
            raise ApiError(
                400,
                f"Unknown format {format_[:40]!r}. Allowed values: {', '.join(FORMATS)}.",
                allowed=list(FORMATS),
            )
        return cls(ApplicationFilters.from_args(args, max_query_length), format_)


def export_response(args: MultiDict[str, str]) -> Response:
    """The export the query arguments ask for, as a download.

    Raises `ApiError` (400) for bad input, before anything is read or written. A workbook is finished
    before the answer starts (then sent in pieces); csv and json are sent as they are produced, their
    first chunk read here so that a failing query still gets an error page rather than a cut-off file.
    """
    config = current_app.config
    wanted = ExportRequest.from_args(args, config["SEARCH_MAX_QUERY_LENGTH"])
    limit = config["SEARCH_EXACT_COUNT_LIMIT"]
    if wanted.format == "xlsx":
        workbook, size = finished_workbook(export_chunks(db.session, wanted.filters, limit))
        response = current_app.response_class(read_pieces(workbook), mimetype=CONTENT_TYPES["xlsx"])
        response.content_length = size
        response.call_on_close(workbook.close)
    else:
        # Flask tears the request down (closing its session) as soon as this returns, before the body is
        # read: the stream reads through a session of its own, closed when the answer is.
        session = Session(bind=db.session.get_bind(), join_transaction_mode="create_savepoint")
        try:
            chunks = export_chunks(session, wanted.filters, limit)
            pieces = csv_pieces(chunks) if wanted.format == "csv" else json_pieces(chunks)
            body = started(pieces)
        except BaseException:
            session.close()
            raise
        response = current_app.response_class(stream_with_context(body))
        response.headers["Content-Type"] = CONTENT_TYPES[wanted.format]
        # Also when the body is never read (HEAD, a client gone): the cursor first, then its session.
        response.call_on_close(pieces.close)
        response.call_on_close(session.close)
    filename = export_filename(wanted.format, datetime.now(UTC))
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def finished_workbook(chunks: Iterable[ExportChunk]) -> tuple[IO[bytes], int]:
    """The workbook written to a spooled temporary file, rewound, and its size. The caller closes it."""
    with ExitStack() as stack:
        file = stack.enter_context(tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES))
        write_xlsx(chunks, file)
        size = file.tell()
        file.seek(0)
        stack.pop_all()  # written: from now on the answer owns the file (read_pieces closes it)
    return file, size


def export_filename(format_: str, moment: datetime) -> str:
    """`referentiel-applications-YYYYMMDD-HHMM.<format>`: digits and a known extension only, so that the
    header it goes into cannot be broken. Raises `ValueError` for an unknown format."""
    if format_ not in FORMATS:
        raise ValueError(f"unknown export format {format_!r}")
    return f"referentiel-applications-{moment:%Y%m%d-%H%M}.{format_}"


# Reading: applications in chunks, in the search's order, each chunk with its related rows.


def export_chunks(
    session: Session, filters: ApplicationFilters, exact_count_limit: int, chunk_size: int = CHUNK_SIZE
) -> Iterator[ExportChunk]:
    """Every application the search finds for `filters`, `chunk_size` at a time, in the search's order."""
    if filters.q:
        batches = ranked_batches(session, filters, exact_count_limit, chunk_size)
    else:
        batches = listed_batches(session, filters, chunk_size)
    for applications in batches:
        yield with_related(session, applications)


def listed_batches(session: Session, filters: ApplicationFilters, chunk_size: int) -> Iterator[list[Any]]:
    """The filtered listing, streamed: one statement whose rows are fetched `chunk_size` at a time
    (a server-side cursor on PostgreSQL; SQLite steps through its result as it is fetched)."""
    statement = select_application_rows(FilterShape.of(filters))
    result = session.execute(statement, filter_parameters(filters), execution_options={"yield_per": chunk_size})
    with closing(result):
        for partition in result.partitions():
            yield list(partition)


def ranked_batches(
    session: Session, filters: ApplicationFilters, exact_count_limit: int, chunk_size: int
) -> Iterator[list[Any]]:
    """The ranked search, page after page of `chunk_size` (the search caps its matches, so this ends)."""
    number = 1
    while True:
        page = PageRequest(page=number, size=chunk_size)
        trigrams = [
            summary["trigram"] for summary in search_applications(session, filters, page, exact_count_limit).results
        ]
        if trigrams:
            rows = {
                row.trigram: row
                for row in session.execute(select_application_rows_by_trigram(), {"trigrams": trigrams})
            }
            yield [rows[trigram] for trigram in trigrams if trigram in rows]
        if len(trigrams) < chunk_size:
            return
        number += 1


def with_related(session: Session, applications: list[Any]) -> ExportChunk:
    """The chunk with its applications' stakeholders and environments: two statements, whatever its size."""
    ids = [row.id for row in applications]
    stakeholders = _by_application(session.execute(select_stakeholder_rows(), {"application_ids": ids}))
    environments = _by_application(session.execute(select_environment_rows(), {"application_ids": ids}))
    return ExportChunk(
        applications,
        [row for application in applications for row in stakeholders.get(application.id, ())],
        [row for application in applications for row in environments.get(application.id, ())],
    )


def _by_application(rows: Iterable[Any]) -> dict[int, list[Any]]:
    grouped: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[row.application_id].append(row)
    return grouped


# Rows: the values of one line of each sheet, in its columns' order.


def application_cells(row: Any) -> list[Any]:
    """An application's line of the Applications sheet (dates as dates, tags comma-separated)."""
    return [
        row.trigram,
        row.name,
        row.description,
        row.status,
        row.criticality,
        row.entity_code,
        row.go_live_date,
        row.end_of_support_date,
        row.decommission_date,
        ", ".join(tag_list(row.tags)) or None,
        row.documentation_url,
    ]


def stakeholder_cells(row: Any) -> list[Any]:
    return [row.trigram, row.login, row.role, row.display_name, row.email]


def environment_cells(row: Any) -> list[Any]:
    return [row.trigram, row.kind, row.name, row.url, row.status]


def application_record(row: Any) -> dict[str, Any]:
    """An application as a JSON object: the csv's columns as snake_case keys."""
    values = application_cells(row)
    values[6:9] = [value.isoformat() if value else None for value in values[6:9]]
    values[9] = tag_list(row.tags)
    return dict(zip(JSON_KEYS, values, strict=True))


def tag_list(tags: str | None) -> list[str]:
    return [tag.strip() for tag in (tags or "").split(",") if tag.strip()]


def neutralise(value: Any) -> Any:
    """`value`, with a leading `'` when it is text a spreadsheet would run as a formula; other values
    (dates, numbers, None) are returned as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def xlsx_value(value: Any) -> Any:
    """A value as an xlsx cell holds it: text without the control characters XML forbids, neutralised,
    and cut at Excel's 32,767 characters."""
    if isinstance(value, str):
        return neutralise(XLSX_ILLEGAL.sub("", value))[:XLSX_MAX_TEXT]
    return value


def csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(neutralise(value))


# Writers, one per format.


def write_xlsx(chunks: Iterable[ExportChunk], target: IO[bytes]) -> None:
    """Write the workbook (three sheets) to `target`, a chunk at a time."""
    workbook = Workbook(write_only=True)
    applications = SheetWriter(workbook, APPLICATIONS, application_cells)
    stakeholders = SheetWriter(workbook, STAKEHOLDERS, stakeholder_cells)
    environments = SheetWriter(workbook, ENVIRONMENTS, environment_cells)
    for chunk in chunks:
        applications.append(chunk.applications)
        stakeholders.append(chunk.stakeholders)
        environments.append(chunk.environments)
    for writer in (applications, stakeholders, environments):
        writer.finish()
    workbook.save(target)


class SheetWriter:
    """One write-only sheet: its widths, frozen header row and bold header come first (openpyxl writes
    them before the rows), the autofilter over the rows written comes last."""

    def __init__(self, workbook: Workbook, sheet: Sheet, cells: Callable[[Any], list[Any]]) -> None:
        self.sheet = sheet
        self.cells = cells
        self.rows = 0
        self.worksheet = workbook.create_sheet(sheet.title)
        for index, width in enumerate(sheet.widths, 1):
            self.worksheet.column_dimensions[get_column_letter(index)].width = width
        self.worksheet.freeze_panes = "A2"
        header = []
        for title in sheet.headers:
            cell = WriteOnlyCell(self.worksheet, value=title)
            cell.font = BOLD
            header.append(cell)
        self.worksheet.append(header)

    def append(self, rows: Iterable[Any]) -> None:
        for row in rows:
            self.worksheet.append([xlsx_value(value) for value in self.cells(row)])
            self.rows += 1

    def finish(self) -> None:
        self.worksheet.auto_filter.ref = f"A1:{get_column_letter(len(self.sheet.headers))}{self.rows + 1}"


def csv_pieces(chunks: Iterable[ExportChunk]) -> Generator[bytes, None, None]:
    """The Applications sheet as UTF-8 csv with a byte order mark: the header with the first chunk, then
    one piece per chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(APPLICATIONS.headers)
    for chunk in chunks:
        writer.writerows([csv_value(value) for value in application_cells(row)] for row in chunk.applications)
        yield _drain(buffer)
    if buffer.tell():
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode("utf-8")


def json_pieces(chunks: Iterable[ExportChunk]) -> Generator[bytes, None, None]:
    """A JSON array of applications, one object per line: the opening with the first chunk, then one
    piece per chunk, then the closing."""
    opening, separator = "[", "\n"
    for chunk in chunks:
        parts = [opening]
        for row in chunk.applications:
            parts += [separator, json.dumps(application_record(row), ensure_ascii=False, separators=(",", ":"))]
            separator = ",\n"
        opening = ""
        yield "".join(parts).encode("utf-8")
    yield f"{opening}\n]\n".encode()


def started(pieces: Generator[bytes, None, None]) -> Iterator[bytes]:
    """`pieces`, whose first one is produced now (running the query: an error still becomes an error
    page) and the rest as they are read. Closing the result closes `pieces` (and their database cursor)."""
    first = next(pieces, b"")

    def rest() -> Iterator[bytes]:
        with closing(pieces):
            yield first
            yield from pieces

    return rest()


def read_pieces(file: IO[bytes], size: int = READ_BYTES) -> Iterator[bytes]:
    """The content of `file` from where it stands, `size` bytes at a time; the file is closed at the end
    (or when the answer is dropped)."""
    with file:
        while piece := file.read(size):
            yield piece
