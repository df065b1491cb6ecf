"""The import template: the workbook format, explained in itself, and stating nothing when uploaded as it is."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.workbook.workbook import Workbook

from portal.imports.excel import read_workbook
from portal.imports.schema import OBJECT_TYPES, SHEET_ORDER, day
from portal.imports.template import DATA_ROWS, EXAMPLES, INSTRUCTIONS, build_template
from tests.unit.imports.workbooks import workbook_bytes


@pytest.fixture(scope="module")
def template() -> bytes:
    return build_template()


@pytest.fixture(scope="module")
def workbook(template: bytes) -> Workbook:
    return load_workbook(io.BytesIO(template))


def test_the_template_uploaded_as_it_is_states_nothing_and_ignores_its_instructions(template):
    parsed = read_workbook(template, max_rows=10)

    assert parsed.statements == []
    assert parsed.ignored_sheets == [INSTRUCTIONS]
    assert [layout.object_type for layout in parsed.sheets] == list(SHEET_ORDER)
    assert all(layout.header_row == 1 and layout.ignored_columns == [] for layout in parsed.sheets)


def test_the_instructions_come_first_then_one_sheet_per_object_type(workbook):
    assert workbook.sheetnames == [INSTRUCTIONS, *(OBJECT_TYPES[name].sheet for name in SHEET_ORDER)]


@pytest.mark.parametrize("name", SHEET_ORDER)
def test_each_sheet_has_the_schema_headers_in_order_bold_and_frozen(workbook, name):
    object_type = OBJECT_TYPES[name]
    sheet = workbook[object_type.sheet]

    assert [cell.value for cell in sheet[1]] == [column.header for column in object_type.columns]
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.max_row == 1, "the data sheets hold no example (uploading the template must state nothing)"


@pytest.mark.parametrize("name", SHEET_ORDER)
def test_every_header_has_a_comment_explaining_its_column(workbook, name):
    object_type = OBJECT_TYPES[name]
    sheet = workbook[object_type.sheet]

    for cell, column in zip(sheet[1], object_type.columns, strict=True):
        note = cell.comment.text
        assert column.help in note
        if column in object_type.key:
            assert "Required: part of the key" in note
        elif column.required:
            assert f"Required to create a new {object_type.name}" in note
        else:
            assert "Optional." in note
        accepted = f"Accepted values: {', '.join(column.choices)}"
        assert (accepted in note) == bool(column.choices) and ("Accepted values" in note) == bool(column.choices)
        assert ("dd/mm/yyyy" in note) == (column.parse is day), note
        assert all(alias in note for alias in column.aliases), note
        assert ("An empty cell withdraws" in note) == (column not in object_type.key), note


@pytest.mark.parametrize("name", SHEET_ORDER)
def test_enumeration_columns_and_only_they_offer_their_choices_in_a_drop_down(workbook, name):
    object_type = OBJECT_TYPES[name]
    sheet = workbook[object_type.sheet]
    letters = {get_column_letter(index): column for index, column in enumerate(object_type.columns, start=1)}

    validations = {str(validation.sqref): validation for validation in sheet.data_validations.dataValidation}

    expected = {f"{letter}2:{letter}{DATA_ROWS + 1}": column for letter, column in letters.items() if column.choices}
    assert set(validations) == set(expected)
    for cells, column in expected.items():
        validation = validations[cells]
        assert validation.type == "list"
        assert validation.formula1 == '"' + ",".join(column.choices) + '"'
        # A warning only: the reader also accepts French labels the list does not show.
        assert validation.errorStyle == "warning"


def test_date_columns_are_formatted_as_dates(workbook):
    sheet = workbook[OBJECT_TYPES["application"].sheet]

    formats = {cell.value: sheet.column_dimensions[cell.column_letter].number_format for cell in sheet[1]}

    assert {header: formats[header] for header in ("Go-live", "End of support", "Decommission")} == dict.fromkeys(
        ("Go-live", "End of support", "Decommission"), "DD/MM/YYYY"
    )
    assert formats["Name"] == "General"


def test_the_instructions_explain_the_dry_run_precedence_empty_cells_and_snapshots(workbook):
    text = " ".join(str(cell.value) for row in workbook[INSTRUCTIONS].iter_rows() for cell in row if cell.value)

    for words in ("dry run", "precedence", "empty cell", "no longer states", "snapshot", "missing from"):
        assert words in text


@pytest.mark.parametrize("name", SHEET_ORDER)
def test_the_instructions_show_an_example_row_under_the_headers_of_each_sheet(workbook, name):
    object_type = OBJECT_TYPES[name]
    headers = [column.header for column in object_type.columns]
    rows = [[cell.value for cell in row[: len(headers)]] for row in workbook[INSTRUCTIONS].iter_rows()]

    title = next(index for index, row in enumerate(rows) if str(row[0]).startswith(f"Sheet {object_type.sheet}"))

    assert rows[title + 1] == headers
    example = rows[title + 2]
    assert example[0] == EXAMPLES[name][object_type.columns[0].name]
    assert sum(value is not None for value in example) >= len(object_type.key)


def test_the_examples_copied_onto_their_sheets_are_read_without_any_error():
    sheets = {
        OBJECT_TYPES[name].sheet: [
            [column.header for column in OBJECT_TYPES[name].columns],
            [EXAMPLES[name].get(column.name) for column in OBJECT_TYPES[name].columns],
        ]
        for name in SHEET_ORDER
    }

    parsed = read_workbook(workbook_bytes(sheets), max_rows=10)

    assert [statement.object_type for statement in parsed.statements] == list(SHEET_ORDER)
    for statement in parsed.statements:
        statement.normalize()
        assert not statement.errors, statement.object_type
    application = parsed.statements[0]
    assert (application.key, application.values["go_live"]) == (("EXA",), "2021-03-15")


def test_stewards_download_the_template(login_as):
    response = login_as("steward").get("/imports/template.xlsx")

    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in response.headers["Content-Disposition"]
    assert read_workbook(response.data, max_rows=10).statements == []
