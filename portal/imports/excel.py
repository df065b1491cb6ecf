"""Reading workbooks: what real stewards' files contain, turned into statements, or refused with a clear reason.

`check_file` looks at the bytes before any spreadsheet library does: the size, that it is a zip of an
xlsx (not a renamed csv or pdf, not an encrypted workbook), that it does not expand into a zip bomb
and that no XML part declares entities (XXE). `WorkbookReader` then finds each known sheet (English
or French names) and, when a run asks for its type, its header row (possibly below a title block),
maps its columns to the schema (extra columns are ignored and listed), and gives one `Statement` per
non-blank row, with the cell values as they are (real Excel dates, numbers, the cached value of
formulas). The merge checks them.

python-calamine reads (it is several times faster than openpyxl's read-only mode: `bench/import`
prints both); openpyxl writes the template, the export and the error workbook.
"""

from __future__ import annotations

import codecs
import ctypes
import io
import itertools
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from portal.imports.merge import READING_ORDER, Statement
from portal.imports.schema import OBJECT_TYPES, Field, ObjectType, fold_header

XLSX_PARTS = ("[Content_Types].xml", "xl/workbook.xml")
# An Office document encrypted with a password is an OLE2 compound file, not a zip.
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Beyond this ratio between a part's expanded and compressed sizes, it is a zip bomb, not a spreadsheet
# (real sheets compress about 10 to 30 times).
MAX_COMPRESSION_RATIO = 200
MAX_ZIP_ENTRIES = 10_000
ENTITY_DECLARATION = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
# Parts that are not XML (pictures, printer settings, macros): every other part is looked at for entities,
# whatever its name, since readers find sheets through the relationships, not by their extension.
BINARY_PARTS = (".png", ".jpeg", ".jpg", ".gif", ".bmp", ".tif", ".tiff", ".emf", ".wmf", ".bin", ".svg")
# The compression methods of xlsx files (Excel only writes these two).
ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
# How a UTF-16 XML part starts: with a byte order mark, or with `<` and a zero byte.
UTF16_STARTS = {
    codecs.BOM_UTF16_LE: "utf-16",
    codecs.BOM_UTF16_BE: "utf-16",
    b"<\x00": "utf-16-le",
    b"\x00<": "utf-16-be",
}
DAMAGED = "This workbook is damaged (its zip structure is corrupted). Save it again."
# The header row is looked for in this many first rows (a title block may sit above it).
HEADER_SEARCH_ROWS = 30
# Statement positions per sheet: more than the rows a sheet can have (Excel stops at 1,048,576).
SHEET_POSITIONS = 1 << 21


class WorkbookRejected(ValueError):
    """The file cannot be imported at all; the message says why and what to do."""


@dataclass
class SheetLayout:
    """Where a sheet's data is: its header row and which column holds which field (1-based, as Excel counts)."""

    title: str
    object_type: str
    header_row: int
    columns: dict[str, int]
    ignored_columns: list[str] = field(default_factory=list)


@dataclass
class ParsedWorkbook:
    statements: list[Statement]
    sheets: list[SheetLayout]
    ignored_sheets: list[str]

    @property
    def notes(self) -> dict[str, Any]:
        return workbook_notes(self.sheets, self.ignored_sheets)


def workbook_notes(layouts: list[SheetLayout], ignored_sheets: list[str]) -> dict[str, Any]:
    """What the run page shows beside the diff, and what the error workbook needs to find cells."""
    return {
        "ignored_sheets": ignored_sheets,
        "sheets": {
            layout.title: {
                "object_type": layout.object_type,
                "header_row": layout.header_row,
                "columns": layout.columns,
                "ignored_columns": layout.ignored_columns,
            }
            for layout in layouts
        },
    }


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):,.3g} MB"


def describe(data: bytes) -> str:
    """What a file that is not a workbook looks like, for the message that refuses it."""
    head = data[:1024].lstrip()
    if not head:
        return "an empty file"
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head.startswith(OLE2_MAGIC):
        return "an encrypted (password-protected) workbook or an old .xls file"
    if head.startswith((b"<", b"\xef\xbb\xbf<")):
        return "an HTML or XML document"
    try:
        sample = head.decode("utf-8")
    except UnicodeDecodeError:
        return "a binary file"
    return "a text (CSV) file" if any(separator in sample for separator in ",;\t") else "a text file"


def check_file(data: bytes, max_bytes: int, max_unzipped_bytes: int) -> None:
    """Refuse, with `WorkbookRejected`, anything that is not a safe xlsx file of acceptable size."""
    if len(data) > max_bytes:
        raise WorkbookRejected(f"The file is larger than the limit of {megabytes(max_bytes)}.")
    if data.startswith(OLE2_MAGIC):
        raise WorkbookRejected(
            "This workbook is password-protected (or an old .xls file). Remove the password, or save it "
            "as .xlsx, and upload it again."
        )
    if not data.startswith(b"PK"):
        raise WorkbookRejected(f"This file is not an Excel workbook (.xlsx): it looks like {describe(data)}.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
            names = {entry.filename for entry in entries}
            if not all(part in names for part in XLSX_PARTS):
                raise WorkbookRejected("This zip file is not an Excel workbook (.xlsx): it has no workbook inside.")
            _check_expansion(entries, max_unzipped_bytes)
            for entry in entries:
                if entry.flag_bits & 0x1 or entry.compress_type not in ZIP_METHODS:
                    raise WorkbookRejected(DAMAGED)  # zip encryption, or a method no xlsx uses
                if not entry.filename.lower().endswith(BINARY_PARTS):
                    _check_no_entities(archive, entry)
    # A damaged part shows when it is read: a bad CRC, or compressed data that does not inflate.
    except (zipfile.BadZipFile, zlib.error, EOFError):
        raise WorkbookRejected(DAMAGED) from None


def _check_expansion(entries: list[zipfile.ZipInfo], max_unzipped_bytes: int) -> None:
    if len(entries) > MAX_ZIP_ENTRIES:
        raise WorkbookRejected(f"This workbook holds more than {MAX_ZIP_ENTRIES} parts; it is not a spreadsheet.")
    total = sum(entry.file_size for entry in entries)
    if total > max_unzipped_bytes:
        raise WorkbookRejected(
            f"This workbook would expand to {megabytes(total)}, beyond the limit of "
            f"{megabytes(max_unzipped_bytes)} (a zip bomb, or far too much data for one import)."
        )
    for entry in entries:
        if entry.file_size > 1024 * 1024 and entry.file_size > MAX_COMPRESSION_RATIO * max(entry.compress_size, 1):
            raise WorkbookRejected(
                f"Part {entry.filename} of this workbook expands {entry.file_size // max(entry.compress_size, 1)} "
                "times: a zip bomb, refused."
            )


def _check_no_entities(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> None:
    """XML parts of a real workbook never declare a DTD; one that does is an XXE attempt."""
    with archive.open(entry) as part:
        tail = b""
        decode = None
        while chunk := part.read(1024 * 1024):
            if decode is None:
                decode = _as_utf8(chunk)
            chunk = decode(chunk)
            if ENTITY_DECLARATION.search(tail + chunk):
                raise WorkbookRejected(
                    f"Part {entry.filename} of this workbook declares XML entities (a DTD), which no "
                    "spreadsheet needs and which can be used to attack the server: refused."
                )
            tail = chunk[-16:]


def _as_utf8(head: bytes) -> Callable[[bytes], bytes]:
    """How to read a part's chunks as UTF-8: as they are, or decoded from UTF-16 (which XML allows, and
    in which `<!DOCTYPE` is not the bytes the pattern looks for)."""
    encoding = next((name for start, name in UTF16_STARTS.items() if head.startswith(start)), None)
    if encoding is None:
        return lambda chunk: chunk
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    return lambda chunk: decoder.decode(chunk).encode("utf-8")


def sheet_object_types() -> dict[str, ObjectType]:
    spellings: dict[str, ObjectType] = {}
    for object_type in OBJECT_TYPES.values():
        for name in (object_type.sheet, *object_type.sheet_aliases, object_type.name):
            spellings[fold_header(name)] = object_type
    return spellings


class WorkbookReader:
    """A workbook's known sheets, each read into statements when a run asks for it (`statements`).

    An import holds one sheet's statements at a time: for a large workbook they take far more memory
    than the file. Raises `WorkbookRejected` at once for a workbook without any known sheet or with a
    sheet known twice; a sheet's missing key column or too many rows show when it is read.

    While a run plans one sheet, the next one it will ask for is loaded on a thread of its own:
    calamine lets go of Python's lock while it unzips and parses, so the two take a core each. Only
    that thread touches the calamine workbook (it refuses a second caller). The reader expects the
    types in `reading_order` (the merge's); asked in another order, it stops loading ahead.
    """

    def __init__(self, data: bytes, max_rows: int, reading_order: Sequence[str] = READING_ORDER) -> None:
        self.workbook = _open(data)
        self.sheet_names: list[str] = list(self.workbook.sheet_names)
        self.max_rows = max_rows
        known = sheet_object_types()
        self.titles: dict[str, str] = {}  # object type -> the title of its sheet
        self.ignored: list[str] = []
        for title in self.sheet_names:
            object_type = known.get(fold_header(title))
            if object_type is None:
                self.ignored.append(title)
            elif object_type.name in self.titles:
                raise WorkbookRejected(
                    f"Sheets {self.titles[object_type.name]!r} and {title!r} both hold {object_type.sheet}."
                )
            else:
                self.titles[object_type.name] = title
        if not self.titles:
            expected = ", ".join(OBJECT_TYPES[name].sheet for name in ("application", "stakeholder", "environment"))
            raise WorkbookRejected(
                f"This workbook has no sheet Referentiel knows (expected sheets such as {expected})."
            )
        self.layouts: dict[str, SheetLayout] = {}
        self.rows: dict[str, int] = {}
        self.reading_order = tuple(reading_order)
        self._asked = 0  # how many types were asked for
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="workbook-reader")
        self._loading: dict[str, Future[Any]] = {}  # title -> its sheet, being loaded

    def statements(self, object_type: str) -> list[Statement]:
        """One statement per non-blank row of the sheet holding `object_type` (none without that sheet).

        A statement's position is its sheet's place in the workbook, then its row: the diff lists rows
        in the workbook's order whatever order the run reads the sheets in.
        """
        following = self._following(object_type)
        title = self.titles.get(object_type)
        if title is None:
            self._load_ahead(following)
            return []
        sheet = self._sheet(title)
        self._load_ahead(following)
        sheet_index = self.sheet_names.index(title)
        layout, body = _layout(title, OBJECT_TYPES[object_type], _rows(sheet))
        self.layouts[object_type] = layout
        already = sum(count for name, count in self.rows.items() if name != object_type)
        statement = _statement_maker(OBJECT_TYPES[object_type], layout)
        statements: list[Statement] = []
        for row_number, cells in body:
            if already + len(statements) >= self.max_rows:
                raise WorkbookRejected(f"This workbook has more than {self.max_rows:,} rows, the limit of one import.")
            statements.append(statement(row_number, cells, sheet_index * SHEET_POSITIONS + row_number))
        self.rows[object_type] = len(statements)
        del body, sheet
        _give_back_freed_memory()
        return statements

    def _sheet(self, title: str) -> Any:
        """The sheet titled `title`, loaded ahead or now."""
        from python_calamine import CalamineError

        loading = self._loading.pop(title, None) or self._load(title)
        try:
            return loading.result()
        except CalamineError as error:
            raise _unreadable(error) from None

    def _following(self, object_type: str) -> tuple[str, ...]:
        """The types the run will ask for after `object_type`, while it follows `reading_order`."""
        position, self._asked = self._asked, self._asked + 1
        if self.reading_order[position : position + 1] != (object_type,):
            self.reading_order = ()  # another order: nothing more is loaded ahead
        return self.reading_order[position + 1 :]

    def _load_ahead(self, following: tuple[str, ...]) -> None:
        """Start loading the sheet of the first of these types the workbook has."""
        title = next((self.titles[name] for name in following if name in self.titles), None)
        if title is not None and title not in self._loading:
            self._loading[title] = self._load(title)

    def _load(self, title: str) -> Future[Any]:
        return self._loader.submit(self.workbook.get_sheet_by_name, title)

    @property
    def notes(self) -> dict[str, Any]:
        """What the run page shows beside the diff, and what the error workbook needs to find cells
        (the sheets read so far, in the workbook's order)."""
        order = {title: index for index, title in enumerate(self.sheet_names)}
        return workbook_notes(sorted(self.layouts.values(), key=lambda layout: order[layout.title]), self.ignored)


def read_workbook(data: bytes, max_rows: int) -> ParsedWorkbook:
    """Statements from every known sheet, all at once (tests, and `bench/import`'s reading comparison).
    Raises `WorkbookRejected` as `WorkbookReader` does."""
    reader = WorkbookReader(data, max_rows)
    by_sheet = sorted(reader.titles, key=lambda name: reader.sheet_names.index(reader.titles[name]))
    statements = [statement for name in by_sheet for statement in reader.statements(name)]
    return ParsedWorkbook(statements, [reader.layouts[name] for name in by_sheet], reader.ignored)


def _give_back_freed_memory() -> None:
    """Return the memory of a freed sheet to the system. The sheet was loaded on the reading thread,
    whose own malloc arena would otherwise keep it, out of reach of the planning thread's allocations
    (about 30 MB for the Components sheet of 20,000 applications). glibc only: elsewhere, nothing."""
    if _malloc_trim is not None:
        _malloc_trim(0)


def _find_malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


_malloc_trim = _find_malloc_trim()


def _open(data: bytes) -> Any:
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        return CalamineWorkbook.from_filelike(io.BytesIO(data))
    except CalamineError as error:
        raise _unreadable(error) from None


def _unreadable(error: Exception) -> WorkbookRejected:
    return WorkbookRejected(f"This workbook cannot be read ({error}). Open it in Excel and save it again.")


def _rows(sheet: Any) -> Iterator[tuple[int, list[Any]]]:
    """A calamine sheet's rows as (row number, cells from column A), numbered as Excel does."""
    # Calamine starts at the first used cell: put back the empty rows and columns before it.
    first_row, first_column = sheet.start or (0, 0)
    padding = [None] * first_column
    return ((first_row + 1 + index, padding + row) for index, row in enumerate(sheet.iter_rows()))


def _layout(
    title: str, object_type: ObjectType, rows: Iterator[tuple[int, list[Any]]]
) -> tuple[SheetLayout, Iterator[tuple[int, list[Any]]]]:
    """Find the header row: the first of the first rows that names every key column."""
    by_spelling = {spelling: column for column in object_type.columns for spelling in column.spellings}
    key_names = {column.name for column in object_type.key}
    if object_type.name == "environment":
        key_names.discard("name")  # named after its kind when the Name column is absent
    for number, cells in rows:
        matched = _matched(cells, by_spelling)
        if key_names <= {column.name for column in matched.values()}:
            number, cells, matched, rows = _second_header_row(number, cells, matched, rows, by_spelling)
            return _header(title, object_type, number, cells, matched), _body(rows)
        if number >= HEADER_SEARCH_ROWS:
            break
    missing = ", ".join(column.header for column in object_type.key if column.name in key_names)
    raise WorkbookRejected(
        f"Sheet {title!r}: no header row with the required columns ({missing}) in its first {HEADER_SEARCH_ROWS} rows."
    )


def _matched(cells: list[Any], by_spelling: dict[str, Field]) -> dict[int, Field]:
    """The columns whose cell spells a header of the sheet's object type (1-based index -> field)."""
    return {
        index: by_spelling[folded]
        for index, cell in enumerate(cells, start=1)
        if isinstance(cell, str) and (folded := fold_header(cell)) in by_spelling
    }


def _second_header_row(
    number: int,
    cells: list[Any],
    matched: dict[int, Field],
    rows: Iterator[tuple[int, list[Any]]],
    by_spelling: dict[str, Field],
) -> tuple[int, list[Any], dict[int, Field], Iterator[tuple[int, list[Any]]]]:
    """A header may span two rows: group headers merged across their columns (`Dates`) above
    sub-headers (`Go-live`, `End of support`), the other headers merged down both rows. The next row
    belongs to the header when it names columns the first row did not, and holds nothing under the
    columns the first row named (merged cells are empty but for their first cell)."""
    following = next(rows, None)
    if following is None:
        return number, cells, matched, rows
    next_number, next_cells = following
    added = {index: field for index, field in _matched(next_cells, by_spelling).items() if index not in matched}
    under_named = [next_cells[index - 1] for index in matched if index <= len(next_cells)]
    if not added or any(cell not in (None, "") for cell in under_named):
        return number, cells, matched, itertools.chain([following], rows)
    width = max(len(cells), len(next_cells))
    combined = [_cell(next_cells if index in added else cells, index) for index in range(1, width + 1)]
    return next_number, combined, {**matched, **added}, rows


def _cell(cells: list[Any], index: int) -> Any:
    return cells[index - 1] if index <= len(cells) else None


def _header(title: str, object_type: ObjectType, row: int, cells: list[Any], matched: dict[int, Any]) -> SheetLayout:
    columns: dict[str, int] = {}
    for index, column in matched.items():
        if column.name in columns:
            raise WorkbookRejected(
                f"Sheet {title!r}: two columns mean {column.header} (columns {columns[column.name]} "
                f"and {index}); keep one."
            )
        columns[column.name] = index
    ignored = [
        str(cell).strip()
        for index, cell in enumerate(cells, start=1)
        if index not in matched and cell not in (None, "") and str(cell).strip()
    ]
    return SheetLayout(title, object_type.name, row, columns, ignored)


def _body(rows: Iterable[tuple[int, list[Any]]]) -> Iterator[tuple[int, list[Any]]]:
    """The rows below the header that hold something (blank rows, trailing or not, are skipped)."""
    for number, cells in rows:
        for cell in cells:  # a plain loop: most rows stop at their first cell
            if cell is not None and cell != "" and not (isinstance(cell, str) and cell.isspace()):
                yield number, cells
                break


def _statement_maker(object_type: ObjectType, layout: SheetLayout) -> Callable[[int, list[Any], int], Statement]:
    """What makes the statement of one row of a sheet: (row number, cells, position) -> statement. The
    columns of the key and the fields are looked up once for the sheet, not for each of its rows."""
    key_at = [layout.columns[column.name] - 1 if column.name in layout.columns else None for column in object_type.key]
    fields_at = [
        (column.name, layout.columns[column.name] - 1) for column in object_type.fields if column.name in layout.columns
    ]
    type_name, title = object_type.name, layout.title

    def statement(row: int, cells: list[Any], position: int) -> Statement:
        width = len(cells)
        key: tuple[Any, ...] = tuple(
            [_value(cells[index]) if index is not None and index < width else None for index in key_at]
        )
        values = {name: _value(cells[index]) if index < width else None for name, index in fields_at}
        return Statement(type_name, key, values, position, title, row)

    return statement


def _value(cell: Any) -> Any:
    """A cell's value as a statement gives it: None for an empty cell, and a whole number as an int
    (Excel stores every number as a float: 2024 is not "2024.0")."""
    if cell.__class__ is str:
        return cell or None
    if isinstance(cell, float) and cell.is_integer():
        return int(cell)
    return cell
