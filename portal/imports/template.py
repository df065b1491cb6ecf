"""The import template: an empty workbook in the workbook format that explains itself.

A steward who downloads it should be able to fill it in without reading any documentation: every
header carries a comment (what the column holds, whether it is needed, the accepted values, dates and
French headers), enumeration columns offer a drop-down list, and a first sheet, "Instructions", says
how an import works and shows one example row per sheet (docs: DESIGN.md, "Workbook format").

Everything is written from the schema, so that the template cannot drift from what the reader accepts.
The examples live on the Instructions sheet, never on the data sheets: uploading the template as it
is states nothing (the reader ignores sheets whose name is not an object type).
"""

from __future__ import annotations

import io
import textwrap
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from portal.imports.schema import OBJECT_TYPES, SHEET_ORDER, Field, ObjectType, day

INSTRUCTIONS = "Instructions"
# Rows under the header that get the drop-down lists and the date format (Excel stores a range, not cells).
DATA_ROWS = 10_000
DATE_FORMAT = "DD/MM/YYYY"
BOLD = Font(bold=True)
TITLE = Font(bold=True, size=14)
AUTHOR = "Referentiel"
# The guide's lines, in characters, and the width of the example tables' columns.
LINE_LENGTH = 110
EXAMPLE_WIDTH = 22

# One example row per object type, valid for the schema (a test reads each value through its field).
# They refer to each other (EXA's environment PROD holds exa-prod-01, Jane Doe owns EXA...).
EXAMPLES: dict[str, dict[str, Any]] = {
    "application": {
        "trigram": "EXA",
        "name": "Example application",
        "description": "Invoices the bank's corporate clients",
        "status": "production",
        "criticality": "high",
        "entity": "DSI-ETU",
        "go_live": date(2021, 3, 15),
        "end_of_support": date(2030, 12, 31),
        "tags": "billing, payments",
        "documentation_url": "https://wiki.bank.example/EXA",
    },
    "stakeholder": {
        "trigram": "EXA",
        "login": "jdoe",
        "role": "owner",
        "name": "Jane Doe",
        "email": "jane.doe@bank.example",
    },
    "environment": {
        "trigram": "EXA",
        "name": "PROD",
        "kind": "prod",
        "url": "https://exa.bank.example",
        "status": "active",
    },
    "component": {
        "trigram": "EXA",
        "environment": "PROD",
        "kind": "server",
        "name": "exa-prod-01.bank.example",
        "details": "os=RHEL 9; memory_gb=16",
    },
    "interface": {
        "source": "EXA",
        "target": "EXB",
        "protocol": "SFTP",
        "frequency": "daily",
        "middleware": "CFT",
        "description": "Sends the day's invoices",
    },
    "entity": {"code": "DSI-ETU", "name": "Studies department", "kind": "department", "parent": "DSI"},
    "person": {"login": "jdoe", "name": "Jane Doe", "email": "jane.doe@bank.example", "entity": "DSI-ETU"},
}

GUIDE = (
    (
        "How an import works",
        (
            "1. Fill in the sheets you need; leave out the others. Sheets may come in any order: an import "
            "creates entities and people first, then applications, then what refers to them.",
            "2. On the Imports page, upload the workbook and choose the source it comes from. Nothing is "
            "written yet: a dry run shows, row by row, what would be created, updated, left unchanged, put in "
            "conflict or refused (with the sheet, row, column, value and reason of each error).",
            "3. Review the diff, then Apply (one transaction: everything or nothing) or Cancel (nothing is "
            "kept). A workbook with errors applies nothing, unless you choose to apply only its valid rows. "
            "The errors can be downloaded as a copy of your workbook with the bad cells highlighted and "
            "commented.",
        ),
    ),
    (
        "Which value wins",
        (
            "Every value remembers the source that stated it and when. When several sources state a field, "
            "the one with the highest precedence wins, and your import never overwrites it with a lower one; "
            "when they disagree, the winner is shown and a conflict is opened for a steward. Manual edits in "
            "the portal win by default.",
        ),
    ),
    (
        "Empty cells and missing columns",
        (
            "An empty cell means that this source no longer states that value: its earlier statement is "
            "withdrawn and the field falls back to what other sources say (or becomes empty). A column you "
            "leave out says nothing about that field, and earlier statements stay as they were. Rows that are "
            "entirely empty are skipped.",
        ),
    ),
    (
        "Snapshots",
        (
            "Tick 'snapshot' when the workbook holds everything this source knows: the records it stated "
            "before and no longer mentions are marked 'missing from <source> since <date>'. Nothing is ever "
            "deleted automatically.",
        ),
    ),
    (
        "What the reader accepts",
        (
            "Headers in English or in French (Trigramme, Nom, Statut, Entité, Rôle, Environnement...), in "
            "any case and order; the header row may sit below a title block; extra columns are ignored and "
            "listed. Hover over a header to read what its column holds.",
            "Trigrams in any case, with stray spaces. Dates as real Excel dates, dd/mm/yyyy or yyyy-mm-dd. "
            "Enumerations from the drop-down list, or their French label (En production, Critique...). "
            "Tags separated by commas. Formulas are read through the value Excel last computed for them.",
        ),
    ),
)


def build_template() -> bytes:
    """The template as xlsx bytes: the Instructions sheet, then one sheet per object type in `SHEET_ORDER`."""
    workbook = Workbook()
    write_instructions(workbook.active)
    for name in SHEET_ORDER:
        object_type = OBJECT_TYPES[name]
        write_data_sheet(workbook.create_sheet(object_type.sheet), object_type)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# The data sheets: headers only, with what helps filling them in.


def write_data_sheet(sheet: Worksheet, object_type: ObjectType) -> None:
    """Bold, frozen, commented headers (natural key first); drop-downs, date formats and widths per column."""
    examples = EXAMPLES.get(object_type.name, {})
    for index, column in enumerate(object_type.columns, start=1):
        cell = sheet.cell(row=1, column=index, value=column.header)
        cell.font = BOLD
        cell.comment = header_comment(object_type, column)
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = column_width(column, examples.get(column.name))
        if column.parse is day:
            sheet.column_dimensions[letter].number_format = DATE_FORMAT
        if column.choices:
            sheet.add_data_validation(choice_list(column, f"{letter}2:{letter}{DATA_ROWS + 1}"))
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(object_type.columns))}1"


def header_note(object_type: ObjectType, column: Field) -> str:
    """What a header's comment says, one fact per line."""
    lines = [f"{column.header}: {column.help}." if column.help else f"{column.header}."]
    if column in object_type.key:
        key = ", ".join(part.header for part in object_type.key)
        lines.append(f"Required: part of the key ({key}) that identifies each row.")
    elif column.required:
        lines.append(f"Required to create a new {object_type.name}; optional when updating one.")
    else:
        lines.append("Optional.")
    if column.choices:
        lines.append(f"Accepted values: {', '.join(column.choices)} (any case).")
    if column.parse is day:
        lines.append("A date: a real Excel date, dd/mm/yyyy or yyyy-mm-dd.")
    if column.aliases:
        lines.append(f"Also accepted as header: {', '.join(column.aliases)}.")
    if column not in object_type.key:
        lines.append("An empty cell withdraws what this source said before.")
    return "\n".join(lines)


def header_comment(object_type: ObjectType, column: Field) -> Comment:
    text = header_note(object_type, column)
    # openpyxl sizes comments in points; the default box (144 x 79) cuts most of these notes.
    lines = text.count("\n") + 1 + len(text) // 45
    return Comment(text, AUTHOR, width=260, height=16 * lines + 10)


def choice_list(column: Field, cells: str) -> DataValidation:
    """A drop-down of the stored spellings. It only warns on other text, since the reader also accepts
    labels and French words (`En production`) that the list does not show."""
    validation = DataValidation(
        type="list",
        formula1='"' + ",".join(column.choices) + '"',
        allow_blank=True,
        showErrorMessage=True,
        errorStyle="warning",
        errorTitle=f"Unknown {column.header.lower()}",
        error=f"Expected one of: {', '.join(column.choices)}.",
    )
    validation.add(cells)
    return validation


def column_width(column: Field, example: Any) -> int:
    """Wide enough for the header and its example, within reason (long text wraps in Excel anyway)."""
    shown = DATE_FORMAT if isinstance(example, date) else str(example or "")
    return max(10, min(50, max(len(column.header), len(shown)) + 3))


# The Instructions sheet: the guide, then an example row per sheet.


def write_instructions(sheet: Worksheet) -> None:
    """The guide as short lines (each overflows into the empty cells to its right, so nothing needs
    wrapping or merging), then the examples, one small table per sheet."""
    sheet.title = INSTRUCTIONS
    sheet.append(["Referentiel import template"])
    sheet["A1"].font = TITLE
    for heading, paragraphs in GUIDE:
        sheet.append([])
        append_bold(sheet, [heading])
        for paragraph in paragraphs:
            for line in textwrap.wrap(paragraph, LINE_LENGTH):
                sheet.append([line])
    sheet.append([])
    append_bold(sheet, ["Examples: one row per sheet (copy a row under the headers of its sheet)"])
    for name in SHEET_ORDER:
        write_example(sheet, OBJECT_TYPES[name])
    widest = max(len(object_type.columns) for object_type in OBJECT_TYPES.values())
    for index in range(1, widest + 1):
        sheet.column_dimensions[get_column_letter(index)].width = EXAMPLE_WIDTH


def write_example(sheet: Worksheet, object_type: ObjectType) -> None:
    """The sheet's name (and the French names accepted), its headers, and its example row."""
    aliases = [alias for alias in object_type.sheet_aliases if alias != object_type.sheet]
    sheet.append([])
    append_bold(sheet, [f"Sheet {object_type.sheet}" + (f" (or {', '.join(aliases)})" if aliases else "")])
    append_bold(sheet, [column.header for column in object_type.columns])
    examples = EXAMPLES[object_type.name]
    sheet.append([examples.get(column.name) for column in object_type.columns])
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, date):
            cell.number_format = DATE_FORMAT


def append_bold(sheet: Worksheet, values: list[Any]) -> None:
    sheet.append(values)
    for cell in sheet[sheet.max_row]:
        cell.font = BOLD
