"""The workbook reader on real xlsx files: what stewards' workbooks contain is read, what cannot be is refused.

Each workbook is written by openpyxl (tests/unit/imports/workbooks.py) and read by `read_workbook`, as
an upload is. Values come out as the cells hold them; `Statement.normalize()` (what the merge does
first) turns them into canonical text, so the tests that care about a value's final form call it.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from portal.imports.excel import ParsedWorkbook, WorkbookRejected, read_workbook
from portal.imports.merge import Statement
from portal.imports.runs import Actor, execute, open_run
from tests.unit.builders import make_source
from tests.unit.imports.workbooks import TITLE_ROWS, Formula, workbook_bytes

MAX_ROWS = 1000


def read(sheets: dict[str, list[list]], max_rows: int = MAX_ROWS, **options) -> ParsedWorkbook:
    return read_workbook(workbook_bytes(sheets, **options), max_rows)


def normalized(statement: Statement) -> Statement:
    statement.normalize()
    return statement


# Headers: English or French, below a title block, extra columns listed.


def test_english_headers_map_each_column_to_its_field():
    parsed = read({"Applications": [["Trigram", "Name", "Status"], ["BCA", "Billing", "production"]]})

    [statement] = parsed.statements
    assert (statement.object_type, statement.key, statement.values) == (
        "application",
        ("BCA",),
        {"name": "Billing", "status": "production"},
    )
    assert parsed.notes["sheets"]["Applications"]["columns"] == {"trigram": 1, "name": 2, "status": 3}


def test_french_headers_sheet_names_and_values_are_read_as_their_english_fields():
    parsed = read(
        {
            "Applications": [
                ["Trigramme", "Nom", "Statut", "Criticité", "Entité", "Mise en production", "Étiquettes"],
                ["BCA", "Facturation", "En production", "Critique", "DSI-ETU", "15/01/2024", "paie, factures"],
            ],
            "Acteurs": [
                ["Trigramme", "Identifiant", "Rôle", "Nom", "Courriel"],
                ["BCA", "JDoe", "Responsable", "", ""],
            ],
        }
    )

    application, stakeholder = (normalized(statement) for statement in parsed.statements)
    assert not application.errors and not stakeholder.errors
    assert application.values == {
        "name": "Facturation",
        "status": "production",
        "criticality": "critical",
        "entity": "DSI-ETU",
        "go_live": "2024-01-15",
        "tags": "paie, factures",
    }
    assert (stakeholder.object_type, stakeholder.key) == ("stakeholder", ("BCA", "jdoe", "owner"))


def test_the_header_row_is_found_below_a_title_block_and_rows_keep_their_excel_numbers():
    parsed = read({"Applications": [["Trigram", "Name"], ["BCA", "Billing"], ["ZQA", "Zebra"]]}, title="Inventaire")

    assert parsed.notes["sheets"]["Applications"]["header_row"] == TITLE_ROWS + 1
    assert [(statement.row_number, statement.key) for statement in parsed.statements] == [
        (TITLE_ROWS + 2, ("BCA",)),
        (TITLE_ROWS + 3, ("ZQA",)),
    ]


def test_extra_columns_are_ignored_and_listed():
    parsed = read(
        {"Applications": [["Trigram", "Commentaire", "Name", "Owner team"], ["BCA", "à revoir", "Billing", "Payments"]]}
    )

    assert parsed.notes["sheets"]["Applications"]["ignored_columns"] == ["Commentaire", "Owner team"]
    assert parsed.statements[0].values == {"name": "Billing"}


def test_sheets_that_are_not_object_types_are_ignored_and_listed():
    parsed = read({"Lisez-moi": [["Ce classeur..."]], "Applications": [["Trigram"], ["BCA"]]})

    assert parsed.ignored_sheets == ["Lisez-moi"]
    assert [statement.key for statement in parsed.statements] == [("BCA",)]


# Rows: blank ones skipped, numbered as Excel numbers them.


def test_trailing_rows_that_only_look_empty_are_skipped():
    parsed = read({"Applications": [["Trigram", "Name"], ["BCA", "Billing"]]}, trailing_blank_rows=5)

    assert [statement.key for statement in parsed.statements] == [("BCA",)]


def test_a_blank_row_between_data_rows_is_skipped_without_renumbering_the_next():
    parsed = read({"Applications": [["Trigram", "Name"], ["BCA", "Billing"], [None, "  "], ["ZQA", "Zebra"]]})

    assert [(statement.row_number, statement.key) for statement in parsed.statements] == [(2, ("BCA",)), (4, ("ZQA",))]


# Values: dates, trigrams, formulas.


@pytest.mark.parametrize(
    "cell",
    [date(2024, 1, 15), datetime(2024, 1, 15, 0, 0), "15/01/2024", "15/1/2024", "2024-01-15", " 15/01/2024 "],
    ids=["excel-date", "excel-datetime", "dd/mm/yyyy", "d/m/yyyy", "iso", "spaces"],
)
def test_dates_become_iso_whether_real_excel_dates_or_text(cell):
    parsed = read({"Applications": [["Trigram", "Go-live"], ["BCA", cell]]})

    statement = normalized(parsed.statements[0])
    assert not statement.errors
    assert statement.values["go_live"] == "2024-01-15"


def test_a_text_date_that_does_not_exist_is_an_error_naming_its_column():
    parsed = read({"Applications": [["Trigram", "Go-live"], ["BCA", "31/02/2024"]]})

    assert normalized(parsed.statements[0]).errors == [
        {"column": "Go-live", "value": "31/02/2024", "reason": "is not a real date"}
    ]


@pytest.mark.parametrize("cell", ["bca", " BcA ", "b ca", "\tbca  "])
def test_trigrams_are_read_in_any_case_with_stray_spaces(cell):
    parsed = read({"Stakeholders": [["Trigram", "Login", "Role"], [cell, " jdoe ", "owner"]]})

    statement = normalized(parsed.statements[0])
    assert not statement.errors
    assert statement.key == ("BCA", "jdoe", "owner")


def test_formulas_are_read_through_the_value_excel_computed_for_them():
    parsed = read(
        {
            "Applications": [
                ["Trigram", "Name", "Go-live", "Description"],
                [
                    Formula('=UPPER("bca")', "BCA"),
                    Formula('="Bill"&"ing"', "Billing & co"),
                    Formula("=DATE(2024,1,15)", date(2024, 1, 15)),
                    Formula("=6*7", 42),
                ],
            ]
        }
    )

    statement = normalized(parsed.statements[0])
    assert (statement.key, statement.values) == (
        ("BCA",),
        {"name": "Billing & co", "go_live": "2024-01-15", "description": "42"},
    )


def test_a_formula_excel_never_computed_reads_as_an_empty_cell():
    """A limitation, not a wish: a workbook written by a program without a calculation engine (openpyxl,
    most generators) holds no value for its formulas, and python-calamine reads such a cell as empty. In
    a key column that is a "required" error; elsewhere the field is read as empty (the source withdraws
    its statement). Opening the file in Excel and saving it stores the values."""
    parsed = read(
        {"Applications": [["Trigram", "Name"], [Formula('=UPPER("bca")'), "Billing"], ["ZQA", Formula("=A2")]]}
    )

    first, second = (normalized(statement) for statement in parsed.statements)
    assert first.errors == [{"column": "Trigram", "value": None, "reason": "required"}]
    assert (second.key, second.values) == (("ZQA",), {"name": None})


def test_whole_numbers_are_read_without_a_decimal_point():
    parsed = read({"Applications": [["Trigram", "Name"], ["BCA", 2024]]})

    assert normalized(parsed.statements[0]).values == {"name": "2024"}


# Merged cells.


def test_a_title_merged_across_the_columns_and_a_merged_header_cell_are_read():
    """The title (A1) is merged across the table; the Name header is merged over two columns (B4:C4):
    the value sits in its first column, and the second column, without a header, is not read."""
    parsed = read(
        {"Applications": [["Trigram", "Name", None, "Status"], ["BCA", "Billing", "note", "production"]]},
        title="Inventaire des applications",
        merged={"Applications": ["B4:C4"]},
    )

    layout = parsed.notes["sheets"]["Applications"]
    assert (layout["header_row"], layout["columns"]) == (4, {"trigram": 1, "name": 2, "status": 4})
    assert parsed.statements[0].values == {"name": "Billing", "status": "production"}


def test_a_header_on_two_rows_with_merged_cells_is_read_as_one_header():
    """A common layout: group headers merged across their columns (`Dates` over C:D) above sub-headers,
    and the other headers merged down both rows (A2:A3). The sub-header row is part of the header, not
    a row of data, and its columns are read.

    Fails today: the reader takes row 2 alone as the header, so Go-live and End of support are lost and
    row 3 is read as data ("Trigram required"). Proposed fix in the report (excel.py, `_layout`)."""
    parsed = read(
        {
            "Applications": [
                ["Inventaire des applications"],
                ["Trigramme", "Nom", "Dates", None, "Statut"],
                [None, None, "Mise en production", "Fin de support", None],
                ["BCA", "Billing", "15/01/2024", "31/12/2030", "En production"],
            ]
        },
        merged={"Applications": ["A1:E1", "A2:A3", "B2:B3", "C2:D2", "E2:E3"]},
    )

    layout = parsed.notes["sheets"]["Applications"]
    assert layout["header_row"] == 3
    assert layout["columns"] == {"trigram": 1, "name": 2, "go_live": 3, "end_of_support": 4, "status": 5}
    [statement] = parsed.statements
    assert (statement.row_number, statement.key) == (4, ("BCA",))
    assert normalized(statement).values["end_of_support"] == "2030-12-31"


# Refusals: WorkbookRejected with a message that says what to fix.


def test_a_sheet_without_its_key_column_is_refused_naming_the_sheet_and_the_column():
    with pytest.raises(WorkbookRejected) as refused:
        read({"Applications": [["Nom", "Statut"], ["Billing", "production"]]})

    assert str(refused.value) == (
        "Sheet 'Applications': no header row with the required columns (Trigram) in its first 30 rows."
    )


def test_a_sheet_missing_one_of_its_key_columns_is_refused_naming_them_all():
    with pytest.raises(WorkbookRejected) as refused:
        read({"Composants": [["Trigram", "Environment", "Name"], ["BCA", "PROD", "host1"]]})

    assert str(refused.value) == (
        "Sheet 'Composants': no header row with the required columns (Trigram, Environment, Kind, Name) "
        "in its first 30 rows."
    )


def test_a_workbook_without_any_known_sheet_is_refused():
    with pytest.raises(WorkbookRejected) as refused:
        read({"Feuil1": [["Trigram", "Name"], ["BCA", "Billing"]], "Feuil2": [["x"]]})

    assert str(refused.value) == (
        "This workbook has no sheet Referentiel knows (expected sheets such as Applications, Stakeholders, "
        "Environments)."
    )


def test_two_sheets_for_one_object_type_are_refused():
    with pytest.raises(WorkbookRejected) as refused:
        read({"Applications": [["Trigram"], ["BCA"]], "Application": [["Trigram"], ["ZQA"]]})

    assert str(refused.value) == "Sheets 'Applications' and 'Application' both hold Applications."


def test_two_columns_for_one_field_are_refused():
    with pytest.raises(WorkbookRejected) as refused:
        read({"Applications": [["Trigram", "Name", "Nom"], ["BCA", "Billing", "Facturation"]]})

    assert str(refused.value) == "Sheet 'Applications': two columns mean Name (columns 2 and 3); keep one."


def test_more_rows_than_the_limit_in_all_sheets_are_refused():
    sheets = {
        "Applications": [["Trigram"], ["AAA"], ["BBB"]],
        "Stakeholders": [["Trigram", "Login", "Role"], ["AAA", "jdoe", "owner"], ["BBB", "jdoe", "owner"]],
    }

    with pytest.raises(WorkbookRejected) as refused:
        read(sheets, max_rows=3)

    assert str(refused.value) == "This workbook has more than 3 rows, the limit of one import."


def test_rows_up_to_the_limit_are_accepted_and_blank_rows_do_not_count():
    parsed = read({"Applications": [["Trigram"], ["AAA"], ["BBB"], ["CCC"]]}, max_rows=3, trailing_blank_rows=4)

    assert len(parsed.statements) == 3


# Duplicate keys: found by the merge, on the second row, naming the first.


def test_a_key_given_twice_is_an_error_on_the_second_row_naming_the_first(session):
    parsed = read({"Applications": [["Trigram", "Name"], ["BCA", "Billing"], ["ZQA", "Zebra"], [" bca", "Again"]]})
    source = make_source(session, "stewards", kind="excel")
    run = open_run(session, source, "upload", Actor("alice"), mode="dry_run")

    plan = execute(session, run, parsed.statements, dry_run=True)

    assert [outcome.action for outcome in plan.outcomes] == ["create", "create", "error"]
    assert plan.outcomes[2].statement.errors == [
        {"column": "Trigram", "value": "BCA", "reason": "duplicate key: also at Applications row 2"}
    ]
