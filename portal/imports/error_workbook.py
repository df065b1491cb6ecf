"""The error workbook: the steward's own workbook back, with every bad cell highlighted and commented.

Fixing errors in the file one already knows beats reading a list: each refused cell gets a red fill and
a comment with its reasons, and a first sheet, "Errors", lists them all (sheet, row, column, value,
reason) with a link to each cell. The steward corrects the cells and uploads the same file again: the
reader ignores the Errors sheet, since its name is not an object type.

The workbook is loaded with openpyxl in normal mode, formulas as formulas (`data_only=False`) so that
saving it does not replace them with their last values, and without its external links (a link to
another file is never followed, nor kept). openpyxl keeps cells, styles, comments, merged cells, data
validation and defined names; it drops what it does not model (images, charts, pivot tables), which
is acceptable for a copy whose purpose is fixing data. It also writes formulas without the values Excel
had computed for them (it has no calculation engine) and marks the workbook to be recalculated when
opened: the copy reads like the original once opened and saved in a spreadsheet, which fixing it implies.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.hyperlink import Hyperlink
from openpyxl.worksheet.worksheet import Worksheet

from portal.imports.excel import WorkbookRejected
from portal.imports.schema import FORMULA_TRIGGERS, OBJECT_TYPES, Field, ObjectType, fold_header

ERRORS_SHEET = "Errors"
AUTHOR = "Referentiel"
# Excel's own "bad" style: light red fill (the text colour is left as the steward had it).
ERROR_FILL = PatternFill(fill_type="solid", start_color="FFFFC7CE", end_color="FFFFC7CE")
BOLD = Font(bold=True)
ERRORS_HEADERS = ("Sheet", "Row", "Column", "Cell", "Value", "Reason")
ERRORS_WIDTHS = (16, 8, 20, 8, 30, 80)
# Excel's limits: the text of a cell, the rows of a sheet.
MAX_TEXT = 32_767
MAX_ROW = 1_048_576


@dataclass
class Located:
    """One error, and the cell it is about when the workbook has it (None: the sheet is unknown)."""

    sheet: str
    row: int
    column: str | None
    reason: str
    cell: Cell | None


def build_error_workbook(
    data: bytes, notes: dict[str, Any], errors: Iterable[tuple[str, int, str | None, str]]
) -> bytes:
    """The uploaded workbook with its bad cells marked and an Errors sheet, as xlsx bytes.

    `notes` are the run's `ParsedWorkbook.notes` (where each sheet's columns are); each error is
    (sheet title, row number, column header or None, reason). A column the sheet lacks, or None,
    marks the row's key cell. Raises `WorkbookRejected` when openpyxl cannot load the file.
    """
    workbook = _load(data)
    _clear_earlier_marks(workbook)
    located = [_locate(workbook, notes, *error) for error in errors]
    reasons: dict[Cell, list[str]] = defaultdict(list)
    for error in located:
        if error.cell is not None and error.reason not in reasons[error.cell]:
            reasons[error.cell].append(error.reason)
    for cell, texts in reasons.items():
        _mark(cell, texts)
    _write_errors_sheet(workbook, located)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _load(data: bytes) -> Workbook:
    """The workbook with its formulas and without its external links.

    The file already passed `check_file` and the reader; openpyxl is stricter than the reader about
    some parts, and its failures have many types, hence the broad catch, turned into a clear refusal.
    """
    try:
        return load_workbook(io.BytesIO(data), data_only=False, keep_links=False, keep_vba=False)
    except Exception as error:
        raise WorkbookRejected(
            f"This workbook cannot be copied with its errors marked ({type(error).__name__}); "
            "the run page lists every error."
        ) from None


def _clear_earlier_marks(workbook: Workbook) -> None:
    """Remove what an earlier error workbook added, for a steward who fixed it and uploads it again:
    its Errors sheet (recognised by its headers) and the fill and comment of the cells it commented."""
    if ERRORS_SHEET in workbook.sheetnames:
        earlier = workbook[ERRORS_SHEET]
        if tuple(cell.value for cell in earlier[1]) == ERRORS_HEADERS:
            workbook.remove(earlier)
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.comment is not None and cell.comment.author == AUTHOR:
                    cell.comment = None
                    cell.fill = PatternFill()


# Finding the cell of an error.


def _locate(
    workbook: Workbook, notes: dict[str, Any], sheet: str, row: int, column: str | None, reason: str
) -> Located:
    layout = notes.get("sheets", {}).get(sheet)
    if layout is None or sheet not in workbook.sheetnames or not 1 <= row <= MAX_ROW:
        return Located(sheet, row, column, reason, None)
    index = column_index(layout, column)
    cell = _top_left(workbook[sheet], row, index) if index else None
    return Located(sheet, row, column, reason, cell)


def column_index(layout: dict[str, Any], header: str | None) -> int | None:
    """The 1-based column of `header` in a sheet laid out as `layout` (its notes), or of its key when the
    header is None or not a column of this sheet.

    Errors name the schema's English header ("Status") while the sheet may say "Statut": the header
    gives the field, and the notes, keyed by field name, give where the reader found it.
    """
    object_type = OBJECT_TYPES.get(layout.get("object_type", ""))
    columns: dict[str, int] = layout.get("columns", {})
    if object_type is None:
        return None
    field = field_for(object_type, header)
    if field is not None and field.name in columns:
        return columns[field.name]
    return next((columns[key.name] for key in object_type.key if key.name in columns), None)


def field_for(object_type: ObjectType, header: str | None) -> Field | None:
    """The field an error's column names: its header first, then any spelling of it (French, snake_case)."""
    if not header:
        return None
    exact = next((column for column in object_type.columns if column.header == header), None)
    folded = fold_header(header)
    return exact or next((column for column in object_type.columns if folded in column.spellings), None)


def _top_left(sheet: Worksheet, row: int, column: int) -> Cell:
    """The cell itself, or the first cell of the merged range it belongs to (the only one that holds a
    value, a fill and a comment)."""
    for merged in sheet.merged_cells.ranges:
        if merged.min_row <= row <= merged.max_row and merged.min_col <= column <= merged.max_col:
            return sheet.cell(row=merged.min_row, column=merged.min_col)
    return sheet.cell(row=row, column=column)


# Marking: fill and comment on the cell, one line in the Errors sheet.


def _mark(cell: Cell, reasons: list[str]) -> None:
    """Fill the cell and comment it with its reasons; a comment the steward wrote is kept below them."""
    text = "\n".join(reasons)
    if cell.comment is not None:
        text = f"{text}\n\n{cell.comment.text}"
    cell.fill = ERROR_FILL
    lines = text.count("\n") + 1 + len(text) // 40
    cell.comment = Comment(_clean(text), AUTHOR, width=300, height=min(400, 16 * lines + 10))


def _write_errors_sheet(workbook: Workbook, located: list[Located]) -> None:
    """The list of errors, first in the workbook and selected, so that it is what the steward sees first."""
    sheet = workbook.create_sheet(ERRORS_SHEET, 0)
    sheet.append(ERRORS_HEADERS)
    for cell in sheet[1]:
        cell.font = BOLD
    for index, width in enumerate(ERRORS_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    for error in located:
        target = error.cell
        sheet.append(
            [
                _safe(error.sheet),
                error.row,
                _safe(error.column or ""),
                target.coordinate if target is not None else None,
                _listed_value(target.value) if target is not None else None,
                _safe(error.reason),
            ]
        )
        if target is not None:
            link = sheet.cell(row=sheet.max_row, column=4)
            location = f"{quote_sheetname(target.parent.title)}!{target.coordinate}"
            link.hyperlink = Hyperlink(ref=link.coordinate, location=location)
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(ERRORS_HEADERS))}{sheet.max_row}"
    # Only one tab may be selected, or Excel opens the workbook with its sheets grouped.
    for other in workbook.worksheets:
        other.sheet_view.tabSelected = False
    sheet.sheet_view.tabSelected = True
    workbook.active = sheet


def _listed_value(value: Any) -> Any:
    """A bad cell's value as the Errors sheet shows it: numbers and dates as they are, anything else
    (text, a formula, an array formula) as safe text."""
    if value is None or isinstance(value, int | float | date | datetime | time):
        return value
    return _safe(str(value))


def _safe(text: str) -> str:
    """Text a cell can hold and no spreadsheet will run: a leading `'` before a formula trigger (as the
    export does; the reader removes it again)."""
    cleaned = _clean(text)
    return ("'" + cleaned if cleaned.startswith(FORMULA_TRIGGERS) else cleaned)[:MAX_TEXT]


def _clean(text: str) -> str:
    """Without the control characters XML forbids (openpyxl refuses them), within Excel's limit."""
    return ILLEGAL_CHARACTERS_RE.sub("", text)[:MAX_TEXT]
