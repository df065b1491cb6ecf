"""Real xlsx files for the import tests, written with openpyxl the way stewards' workbooks look.

`workbook_bytes({"Applications": [["Trigram", "Name"], ["BCA", "Billing"]]})` is a workbook with one
sheet; options add what real files carry: a title block above the header, merged cells, trailing rows
that look empty, and formulas with the value Excel last computed for them.

openpyxl writes a formula without any computed value (`<c><f>A2*2</f><v/></c>`): it has no
calculation engine. Excel always stores the value it computed (`<v>42</v>`), and that cached value is
what the reader reads. `Formula(text, cached)` writes both: openpyxl writes the formula, then the
sheet's XML is edited to hold the cached value. `Formula(text)` alone gives what openpyxl (or any
generator without a calculation engine) produces: a formula whose value is unknown.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from xml.sax.saxutils import escape

from openpyxl import Workbook
from openpyxl.styles import Border, PatternFill, Side
from openpyxl.utils.datetime import to_excel

# Rows the `title` option puts above each sheet's rows: a title, a subtitle, an empty row.
TITLE_ROWS = 3
DATE_FORMAT = "DD/MM/YYYY"
# What a "blank" row of a real workbook holds: cells with a style (someone formatted the whole table).
BLANK_FILL = PatternFill(fill_type="solid", start_color="FFF2F2F2", end_color="FFF2F2F2")
THIN = Side(style="thin")


@dataclass(frozen=True)
class Formula:
    """A formula cell, with the value Excel computed for it (None: never computed, as openpyxl leaves it)."""

    text: str
    cached: str | int | float | bool | date | None = None


def workbook_bytes(
    sheets: dict[str, list[list[Any]]],
    *,
    title: str | None = None,
    merged: dict[str, list[str]] | None = None,
    trailing_blank_rows: int = 0,
) -> bytes:
    """An xlsx file with one sheet per entry, its rows written from row 1 (or below a title block).

    - `title`: a title block of `TITLE_ROWS` rows above the rows, its title merged across the columns;
    - `merged`: ranges to merge per sheet (`{"Applications": ["C4:D4"]}`), in the final sheet's rows;
    - `trailing_blank_rows`: rows after the data whose cells are formatted and hold only "" or spaces;
    - dates (`date`, `datetime`) become real Excel dates; `Formula` cells keep their cached value.
    """
    workbook = Workbook()
    workbook.remove(workbook.active)
    cached: dict[str, dict[str, Any]] = {}
    for index, (name, rows) in enumerate(sheets.items(), start=1):
        sheet = workbook.create_sheet(name)
        width = max((len(row) for row in rows), default=1)
        if title:
            _title_block(sheet, title, width)
        for row in rows:
            _append(sheet, row, cached.setdefault(f"xl/worksheets/sheet{index}.xml", {}))
        for _ in range(trailing_blank_rows):
            _append_blank(sheet, width)
        for cells in (merged or {}).get(name, []):
            sheet.merge_cells(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    data = buffer.getvalue()
    for part, values in cached.items():
        if values:
            data = replace_part(data, part, lambda xml, values=values: _with_cached_values(xml, values))
    return data


def _title_block(sheet: Any, title: str, width: int) -> None:
    sheet.append([title])
    sheet.append(["Extracted on 01/02/2024 by the CMDB team - do not edit the grey rows"])
    sheet.append([])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=max(width, 2))


def _append(sheet: Any, row: list[Any], cached: dict[str, Any]) -> None:
    sheet.append([value.text if isinstance(value, Formula) else value for value in row])
    for cell, value in zip(sheet[sheet.max_row], row, strict=False):
        if isinstance(value, date | datetime) or (isinstance(value, Formula) and isinstance(value.cached, date)):
            cell.number_format = DATE_FORMAT
        if isinstance(value, Formula) and value.cached is not None:
            cached[cell.coordinate] = value.cached


def _append_blank(sheet: Any, width: int) -> None:
    """A row that looks empty but is part of the sheet's used range: formatted cells, "" and spaces."""
    row = sheet.max_row + 1
    for column in range(1, width + 1):
        cell = sheet.cell(row=row, column=column, value=("", " ", "   ")[column % 3])
        cell.fill = BLANK_FILL
        cell.border = Border(bottom=THIN)


def _with_cached_values(xml: bytes, values: dict[str, Any]) -> bytes:
    """The sheet's XML with each formula cell's empty `<v/>` replaced by its cached value."""
    for coordinate, value in values.items():
        pattern = re.compile(rb'<c r="' + coordinate.encode() + rb'"([^>]*)>(<f>.*?</f>)<v\s*/>')
        kind, text = _cached_text(value)
        replacement = b'<c r="' + coordinate.encode() + b'"\\1' + kind + b">\\2<v>" + text + b"</v>"
        xml, count = pattern.subn(replacement, xml, count=1)
        assert count == 1, f"no formula cell {coordinate} in the sheet"
    return xml


def _cached_text(value: Any) -> tuple[bytes, bytes]:
    """The cell type attribute and the `<v>` text Excel writes for a computed value."""
    if isinstance(value, bool):
        return b' t="b"', b"1" if value else b"0"
    if isinstance(value, date):
        return b"", str(to_excel(value)).encode()
    if isinstance(value, int | float):
        return b"", repr(value).encode()
    return b' t="str"', escape(str(value)).encode()


def replace_part(data: bytes, name: str, transform: Callable[[bytes], bytes], rename: str | None = None) -> bytes:
    """The zip `data` with part `name` transformed (and renamed: the relationships and content types
    that name it follow)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    assert name in source.namelist(), f"no part {name}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            body = source.read(entry.filename)
            filename = entry.filename
            if filename == name:
                body = transform(body)
                filename = rename or name
            elif rename and filename in ("[Content_Types].xml", "xl/_rels/workbook.xml.rels"):
                body = body.replace(name.removeprefix("xl/").encode(), rename.removeprefix("xl/").encode())
            target.writestr(filename, body)
    return buffer.getvalue()


def with_part(data: bytes, name: str, body: bytes, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """The zip `data` with one more part (a picture, a part no spreadsheet has...)."""
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr(name, body, compress_type=compression)
    return buffer.getvalue()


def read_part(data: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read(name)


def part_names(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.namelist()
