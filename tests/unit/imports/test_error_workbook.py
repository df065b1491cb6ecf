"""The error workbook: the uploaded workbook with exactly its bad cells marked, an Errors sheet, the rest untouched.

The workbooks look like stewards' files (a title block, French headers, a formula, merged cells), and
the errors point at them as the run's rows do: the schema's English header, the row as Excel numbers it.
"""

from __future__ import annotations

import io
import zipfile
from datetime import date

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.packaging.relationship import Relationship
from openpyxl.workbook.external_link.external import ExternalBook, ExternalLink

from portal.imports.error_workbook import ERRORS_HEADERS, ERRORS_SHEET, build_error_workbook, column_index
from portal.imports.excel import WorkbookRejected, read_workbook
from tests.unit.builders import make_source
from tests.unit.conftest import CSRF_TOKEN
from tests.unit.imports.workbooks import Formula, part_names, read_part, workbook_bytes

RED = "FFFFC7CE"
STATUS_REASON = "is not one of plan, build, production, decommissioning, retired"
# Below a title block of 3 rows, the header is row 4 and the data starts at row 5.
APPLICATIONS = [
    ["Trigramme", "Nom", "Statut", "Mise en production", "Commentaire"],
    ["BCA", "Billing", "production", date(2024, 1, 15), "ok"],
    ["ZQA", Formula('="Ze"&"bra"', "Zebra"), "unknown", "31/02/2024", "+33 1 23 45 67 89"],
    ["bca", "Billing again", "build", None, None],
]


def steward_workbook() -> bytes:
    return workbook_bytes({"Applications": APPLICATIONS}, title="Inventaire des applications")


def notes_of(data: bytes) -> dict:
    return read_workbook(data, max_rows=100).notes


def marked(data: bytes, errors: list[tuple[str, int, str | None, str]]) -> Workbook:
    """The error workbook of `data`, loaded back with openpyxl."""
    return load_workbook(io.BytesIO(build_error_workbook(data, notes_of(data), errors)))


def red_cells(workbook: Workbook) -> dict[str, str]:
    """{`Sheet!A1`: comment} for every cell filled red, in every sheet but Errors."""
    return {
        f"{sheet.title}!{cell.coordinate}": cell.comment.text if cell.comment else ""
        for sheet in workbook.worksheets
        if sheet.title != ERRORS_SHEET
        for row in sheet.iter_rows()
        for cell in row
        if cell.fill.fgColor.rgb == RED
    }


def listed(workbook: Workbook) -> list[tuple]:
    rows = workbook[ERRORS_SHEET].iter_rows(values_only=True)
    assert next(rows) == ERRORS_HEADERS
    return list(rows)


# Marking the cells.


def test_each_bad_cell_is_filled_and_commented_with_its_reasons_and_no_other():
    workbook = marked(
        steward_workbook(),
        [
            ("Applications", 6, "Status", STATUS_REASON),
            ("Applications", 6, "Go-live", "is not a real date"),
            ("Applications", 7, "Trigram", "duplicate key: also at Applications row 5"),
        ],
    )

    assert red_cells(workbook) == {
        "Applications!C6": STATUS_REASON,
        "Applications!D6": "is not a real date",
        "Applications!A7": "duplicate key: also at Applications row 5",
    }


def test_several_errors_on_one_cell_share_its_comment_one_reason_a_line():
    workbook = marked(
        steward_workbook(),
        [
            ("Applications", 6, "Go-live", "is not a real date"),
            ("Applications", 6, "Go-live", "must come before End of support"),
            ("Applications", 6, "Go-live", "is not a real date"),
        ],
    )

    assert red_cells(workbook) == {"Applications!D6": "is not a real date\nmust come before End of support"}


@pytest.mark.parametrize("column", [None, "Owner team", ""], ids=["none", "unknown", "empty"])
def test_an_error_without_a_known_column_marks_the_key_cell_of_its_row(column):
    workbook = marked(steward_workbook(), [("Applications", 5, column, "unknown entity DSI-XX")])

    assert red_cells(workbook) == {"Applications!A5": "unknown entity DSI-XX"}


def test_english_headers_find_french_columns_through_the_schema():
    notes = notes_of(steward_workbook())["sheets"]["Applications"]

    assert [column_index(notes, header) for header in ("Trigram", "Name", "Status", "Go-live")] == [1, 2, 3, 4]
    assert [column_index(notes, header) for header in ("Statut", "go_live", "Description", None)] == [3, 4, 1, 1]


def test_a_cell_inside_a_merged_range_is_marked_on_the_first_cell_of_the_range():
    """Stewards merge a trigram down the rows of its stakeholders: the rows below read no trigram."""
    data = workbook_bytes(
        {
            "Stakeholders": [
                ["Trigram", "Login", "Role"],
                ["BCA", "jdoe", "owner"],
                [None, "asmith", "support"],
            ]
        },
        merged={"Stakeholders": ["A2:A3"]},
    )

    workbook = marked(data, [("Stakeholders", 3, "Trigram", "required")])

    assert red_cells(workbook) == {"Stakeholders!A2": "required"}
    assert [str(cells) for cells in workbook["Stakeholders"].merged_cells.ranges] == ["A2:A3"]


def test_a_comment_the_steward_wrote_on_a_bad_cell_is_kept_below_the_reasons():
    source = load_workbook(io.BytesIO(steward_workbook()))
    source["Applications"]["C6"].comment = Comment("to check with Paul", "Jane")
    buffer = io.BytesIO()
    source.save(buffer)

    workbook = marked(buffer.getvalue(), [("Applications", 6, "Status", STATUS_REASON)])

    assert red_cells(workbook) == {"Applications!C6": f"{STATUS_REASON}\n\nto check with Paul"}


# The rest of the workbook.


def test_every_other_cell_keeps_its_value_style_and_merges():
    data = steward_workbook()
    original = load_workbook(io.BytesIO(data))["Applications"]

    copy = marked(data, [("Applications", 6, "Status", STATUS_REASON)])["Applications"]

    def cells(sheet) -> dict:
        return {
            cell.coordinate: (cell.value, cell.number_format, cell.font.bold, cell.fill.fgColor.rgb)
            for row in sheet.iter_rows()
            for cell in row
            if cell.coordinate != "C6"
        }

    assert cells(copy) == cells(original)
    assert copy.merged_cells.ranges == original.merged_cells.ranges
    assert copy["B6"].value == '="Ze"&"bra"', "formulas stay formulas"


def test_the_errors_sheet_comes_first_and_lists_every_error_with_its_cell_and_value():
    workbook = marked(
        steward_workbook(),
        [
            ("Applications", 6, "Status", STATUS_REASON),
            ("Applications", 5, None, "unknown entity DSI-XX"),
            ("Applications", 6, "Commentaire", "a reason"),
            ("Interfaces", 3, "Target", "unknown application ZZZ"),
        ],
    )

    assert workbook.sheetnames[0] == ERRORS_SHEET and workbook.active.title == ERRORS_SHEET
    assert listed(workbook) == [
        ("Applications", 6, "Status", "C6", "unknown", STATUS_REASON),
        ("Applications", 5, None, "A5", "BCA", "unknown entity DSI-XX"),
        ("Applications", 6, "Commentaire", "A6", "ZQA", "a reason"),
        # A sheet the workbook does not have is listed, without a cell.
        ("Interfaces", 3, "Target", None, None, "unknown application ZZZ"),
    ]
    link = workbook[ERRORS_SHEET]["D2"].hyperlink
    assert link.location == "'Applications'!C6"
    assert [sheet.sheet_view.tabSelected for sheet in workbook.worksheets] == [True, False]


def test_text_a_spreadsheet_would_run_is_neutralised_in_the_errors_sheet_and_control_characters_dropped():
    workbook = marked(steward_workbook(), [("Applications", 6, "Commentaire", '=HYPERLINK("x")\x07')])

    [row] = listed(workbook)
    assert row[3:] == ("A6", "ZQA", '\'=HYPERLINK("x")')


def test_a_bad_value_that_starts_like_a_formula_is_listed_as_text():
    data = workbook_bytes({"Applications": [["Trigram", "Name"], ["BCA", "+33 1 23 45 67 89"]]})

    workbook = marked(data, [("Applications", 2, "Name", "not a name")])

    assert listed(workbook) == [("Applications", 2, "Name", "B2", "'+33 1 23 45 67 89", "not a name")]


def test_external_links_are_neither_followed_nor_kept():
    source = load_workbook(io.BytesIO(steward_workbook()))
    link = ExternalLink(externalBook=ExternalBook(id="rId1"))
    link.file_link = Relationship(
        type="externalLinkPath", Target="file:///C:/secret/budget.xlsx", TargetMode="External", Id="rId1"
    )
    source._external_links.append(link)
    buffer = io.BytesIO()
    source.save(buffer)
    assert any(name.startswith("xl/externalLinks/") for name in part_names(buffer.getvalue()))

    data = build_error_workbook(buffer.getvalue(), notes_of(buffer.getvalue()), [("Applications", 6, "Status", "x")])

    assert not any(name.startswith("xl/externalLinks/") for name in part_names(data))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert not any(b"budget.xlsx" in archive.read(name) for name in archive.namelist())


# Uploading the error workbook again.


def test_the_error_workbook_uploaded_again_reads_as_the_original_but_for_formulas():
    """openpyxl writes formulas without the values Excel computed (it has no calculation engine), and
    marks the workbook to be recalculated when opened (`fullCalcOnLoad`): once a steward has opened and
    saved it, it reads as the original. Uploaded again untouched, its formula cells read as empty."""
    data = steward_workbook()
    again = build_error_workbook(data, notes_of(data), [("Applications", 6, "Status", STATUS_REASON)])

    original, copy = read_workbook(data, 100), read_workbook(again, 100)

    assert copy.ignored_sheets == [ERRORS_SHEET]
    expected = [(s.row_number, s.key, s.values) for s in original.statements]
    expected[1][2]["name"] = None  # B6, the formula ="Ze"&"bra"
    assert [(s.row_number, s.key, s.values) for s in copy.statements] == expected
    assert b'fullCalcOnLoad="1"' in read_part(again, "xl/workbook.xml")


def test_marks_of_an_earlier_error_workbook_are_replaced_by_the_new_ones():
    data = steward_workbook()
    first = build_error_workbook(data, notes_of(data), [("Applications", 6, "Status", STATUS_REASON)])

    workbook = marked(first, [("Applications", 6, "Go-live", "is not a real date")])

    assert red_cells(workbook) == {"Applications!D6": "is not a real date"}
    assert workbook.sheetnames.count(ERRORS_SHEET) == 1 and len(listed(workbook)) == 1


def test_a_file_openpyxl_cannot_load_is_refused_with_a_clear_message():
    with pytest.raises(WorkbookRejected) as refused:
        build_error_workbook(b"PK\x03\x04 not really a zip", {"sheets": {}}, [])

    assert str(refused.value).startswith("This workbook cannot be copied with its errors marked (")


# The page: a steward downloads the error workbook of a dry run.


def test_stewards_download_the_error_workbook_of_a_dry_run(login_as, session):
    make_source(session, "stewards", kind="excel")
    steward = login_as("steward")
    form = {"source": "stewards", "csrf_token": CSRF_TOKEN, "file": (io.BytesIO(steward_workbook()), "inv.xlsx")}
    detail = steward.post("/imports", data=form, content_type="multipart/form-data")
    assert detail.status_code == 303

    response = steward.get(detail.headers["Location"].rstrip("/") + "/errors.xlsx")

    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.data))
    cells = red_cells(workbook)
    assert set(cells) == {"Applications!C6", "Applications!D6", "Applications!A7"}
    assert STATUS_REASON in cells["Applications!C6"]
    assert "duplicate key: also at Applications row 5" in cells["Applications!A7"]
