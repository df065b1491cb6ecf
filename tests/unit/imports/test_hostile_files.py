"""Hostile and broken files: each is refused with its exact message, and nothing is written.

The corpus is generated here, from a small valid workbook, so that every case says how it was made.
Each case is tested twice: against the functions (`check_file`, then `read_workbook`, as an upload
goes through them) for its exact message, and through the upload page, where the file must be refused
(400, or 413 past the size limit) with the same message and every table left as it was.

Files the reader refuses after the upload was accepted (too many rows, missing key columns, a sheet
that cannot be parsed) become a failed run with that message: the run is recorded, nothing else is.
A key given twice is an error row of the dry run, and the referential is left as it was.
"""

from __future__ import annotations

import binascii
import html
import io
import random
import re
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.imports.excel import OLE2_MAGIC, WorkbookRejected, check_file, read_workbook
from portal.imports.models import ImportRow, ImportRun
from tests.unit.builders import make_source
from tests.unit.checksums import table_checksums
from tests.unit.conftest import CSRF_TOKEN
from tests.unit.imports.workbooks import read_part, replace_part, with_part, workbook_bytes

MIB = 1024 * 1024
SHEET = "xl/worksheets/sheet1.xml"
# What a run records of itself, whatever its outcome: its row, the plan a dry run keeps for its apply,
# and when its source last ran (and so was last updated).
RUN_RECORD = ("import_run", "import_plan_chunk", "source.last_run_at", "source.updated_at")
# Limits small enough to keep every case fast; a case may lower one of them.
LIMITS = {"IMPORT_MAX_BYTES": MIB, "IMPORT_MAX_UNZIPPED_BYTES": 64 * MIB, "IMPORT_MAX_ROWS": 100}
DTD = b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
NOT_XLSX = "This file is not an Excel workbook (.xlsx): it looks like "
DAMAGED = "This workbook is damaged (its zip structure is corrupted). Save it again."
ENTITIES = (
    "Part {part} of this workbook declares XML entities (a DTD), which no spreadsheet needs and which can be "
    "used to attack the server: refused."
)


def valid_workbook() -> bytes:
    return workbook_bytes({"Applications": [["Trigram", "Name"], ["BCA", "Billing"], ["ZQA", "Zebra"]]})


# The corpus: how each file is made.


def renamed_csv() -> bytes:
    return "Trigramme;Nom\nBCA;Facturation\nZQA;Zèbre\n".encode()


def renamed_pdf() -> bytes:
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"


def html_saved_as_xls() -> bytes:
    """What old web applications export as `.xls`: an HTML table."""
    return b"<html><body><table><tr><td>Trigram</td></tr><tr><td>BCA</td></tr></table></body></html>"


def random_bytes() -> bytes:
    data = random.Random(5).randbytes(4096)
    assert not data.startswith((b"PK", OLE2_MAGIC, b"%PDF", b"<"))
    return data


def password_protected() -> bytes:
    """Excel saves a workbook with a password as an OLE2 compound file (holding `EncryptionInfo` and
    `EncryptedPackage` streams), not as a zip: such a file starts with the 8-byte OLE2 signature. The
    signature followed by junk is what the check sees of it."""
    return OLE2_MAGIC + random.Random(8).randbytes(4088)


def truncated() -> bytes:
    """A download or a copy cut short: the zip's central directory, at its end, is gone."""
    data = valid_workbook()
    return data[: len(data) // 2]


def flipped_bytes() -> bytes:
    """Bytes flipped inside the compressed sheet: the zip's directory is intact, the sheet's data is not."""
    data = bytearray(valid_workbook())
    start = _data_offset(bytes(data), SHEET)
    for offset in range(start + 20, start + 36):
        data[offset] ^= 0xFF
    return bytes(data)


def not_a_workbook_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "Trigram,Name\nBCA,Billing\n")
    return buffer.getvalue()


def encrypted_zip_entry() -> bytes:
    """A zip whose sheet is flagged as encrypted with a zip password (not how Excel encrypts)."""
    return _patch_entry(valid_workbook(), SHEET, flags=0x1)


def unknown_compression() -> bytes:
    """A sheet compressed by a method no reader knows (99 is the AES marker of WinZip)."""
    return _patch_entry(valid_workbook(), SHEET, method=99)


def oversized() -> bytes:
    """A real workbook over the limit, for a picture that does not compress."""
    return with_part(valid_workbook(), "xl/media/image1.png", random.Random(1).randbytes(MIB), zipfile.ZIP_STORED)


def padded(spaces: int) -> bytes:
    """A valid workbook whose sheet holds `spaces` spaces (legal XML whitespace): it compresses ~1000 times."""
    return replace_part(
        valid_workbook(), SHEET, lambda xml: xml.replace(b"<sheetData>", b"<sheetData>" + b" " * spaces)
    )


def forged_sizes() -> bytes:
    """A zip bomb that lies: the sheet expands to 8 MiB, but its headers declare 1,000 bytes and the CRC of
    those first 1,000 bytes, so that a reader trusting the headers sees a small, sound part."""
    data = padded(8 * MIB)
    head = read_part(data, SHEET)[:1000]
    return _patch_entry(data, SHEET, size=len(head), crc=binascii.crc32(head))


def external_entity(encoding: str = "utf-8", rename: str | None = None) -> bytes:
    """A valid workbook whose sheet declares an external entity and uses it in a cell (XXE)."""

    def declare(xml: bytes) -> bytes:
        text = DTD.decode().replace("UTF-8", encoding.upper()) + xml.decode().replace("Billing", "&xxe;")
        return text.encode(encoding)

    return replace_part(valid_workbook(), SHEET, declare, rename=rename)


def broken_sheet_xml() -> bytes:
    """A sound zip whose sheet XML stops in the middle of an element."""
    return replace_part(valid_workbook(), SHEET, lambda xml: xml[: len(xml) // 2])


def too_many_rows() -> bytes:
    rows = [["Trigram", "Name"], *([f"ZZZ{index}", "Name"] for index in range(101))]
    return workbook_bytes({"Applications": rows})


def missing_key_column() -> bytes:
    return workbook_bytes({"Applications": [["Nom", "Statut"], ["Facturation", "production"]]})


def duplicate_keys() -> bytes:
    return workbook_bytes({"Applications": [["Trigram", "Name"], ["BCA", "Billing"], ["bca ", "Billing again"]]})


# Zip surgery: the fields of an entry's local header and central directory record.


def _data_offset(data: bytes, name: str) -> int:
    """Where the compressed data of part `name` starts (after its local header)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        entry = archive.getinfo(name)
    name_length, extra_length = struct.unpack_from("<HH", data, entry.header_offset + 26)
    return entry.header_offset + 30 + name_length + extra_length


def _patch_entry(
    data: bytes,
    name: str,
    *,
    flags: int = 0,
    method: int | None = None,
    size: int | None = None,
    crc: int | None = None,
) -> bytes:
    """`data` with part `name`'s two headers changed alike: flag bits added, compression method, declared
    (uncompressed) size, CRC."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        local = archive.getinfo(name).header_offset
    central = _central_record(data, name)
    patched = bytearray(data)
    for offset in (local + 6, central + 8):
        (current,) = struct.unpack_from("<H", patched, offset)
        struct.pack_into("<H", patched, offset, current | flags)
    # Each field's offset in the local header and in the central directory record.
    for value, local_at, central_at, form in ((method, 8, 10, "<H"), (crc, 14, 16, "<I"), (size, 22, 24, "<I")):
        if value is not None:
            struct.pack_into(form, patched, local + local_at, value)
            struct.pack_into(form, patched, central + central_at, value)
    return bytes(patched)


def _central_record(data: bytes, name: str) -> int:
    """The offset of part `name`'s record in the zip's central directory."""
    offset = data.index(b"PK\x01\x02")
    while True:
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", data, offset + 28)
        if data[offset + 46 : offset + 46 + name_length] == name.encode():
            return offset
        offset += 46 + name_length + extra_length + comment_length


# The cases: the file, its exact message (or a pattern when it quotes a library), and its limits.


@dataclass(frozen=True)
class Hostile:
    id: str
    build: Callable[[], bytes]
    message: str | re.Pattern[str]
    limits: dict[str, int] = field(default_factory=dict)

    def config(self) -> dict[str, int]:
        return {**LIMITS, **self.limits}


def _ratio_message() -> str:
    with zipfile.ZipFile(io.BytesIO(padded(8 * MIB))) as archive:
        entry = archive.getinfo(SHEET)
    return f"Part {SHEET} of this workbook expands {entry.file_size // entry.compress_size} times: a zip bomb, refused."


# Refused by `check_file`, before anything is kept: the page answers 400 (413 for the size).
REFUSED_AT_ONCE = [
    Hostile("renamed-csv", renamed_csv, NOT_XLSX + "a text (CSV) file."),
    Hostile("renamed-pdf", renamed_pdf, NOT_XLSX + "a PDF document."),
    Hostile("html-as-xls", html_saved_as_xls, NOT_XLSX + "an HTML or XML document."),
    Hostile("random-bytes", random_bytes, NOT_XLSX + "a binary file."),
    Hostile("empty-file", lambda: b"", NOT_XLSX + "an empty file."),
    Hostile(
        "password-protected",
        password_protected,
        "This workbook is password-protected (or an old .xls file). Remove the password, or save it as .xlsx, "
        "and upload it again.",
    ),
    Hostile("truncated-zip", truncated, DAMAGED),
    Hostile("flipped-bytes", flipped_bytes, DAMAGED),
    Hostile("encrypted-zip-entry", encrypted_zip_entry, DAMAGED),
    Hostile("unknown-compression", unknown_compression, DAMAGED),
    Hostile(
        "zip-without-workbook",
        not_a_workbook_zip,
        "This zip file is not an Excel workbook (.xlsx): it has no workbook inside.",
    ),
    Hostile("over-the-size-limit", oversized, "The file is larger than the limit of 1 MB."),
    Hostile(
        "zip-bomb-total",
        lambda: padded(2 * MIB),
        "This workbook would expand to 2.02 MB, beyond the limit of 1 MB (a zip bomb, or far too much data for one "
        "import).",
        {"IMPORT_MAX_UNZIPPED_BYTES": MIB},
    ),
    Hostile("zip-bomb-ratio", lambda: padded(8 * MIB), _ratio_message()),
    Hostile("external-entity", external_entity, ENTITIES.format(part=SHEET)),
    Hostile("external-entity-utf16", lambda: external_entity("utf-16"), ENTITIES.format(part=SHEET)),
    Hostile(
        "external-entity-in-a-part-not-named-xml",
        lambda: external_entity(rename="xl/worksheets/sheet1.dat"),
        ENTITIES.format(part="xl/worksheets/sheet1.dat"),
    ),
]
# Accepted by `check_file`, refused by `read_workbook`: the upload becomes a failed run with the message.
REFUSED_BY_THE_READER = [
    Hostile("zip-bomb-forged-sizes", forged_sizes, re.compile(r"^This workbook cannot be read \(.*declared.*\)\.")),
    Hostile(
        "broken-sheet-xml", broken_sheet_xml, re.compile(r"^This workbook cannot be read \(.+\)\. Open it in Excel")
    ),
    Hostile(
        "more-rows-than-the-limit", too_many_rows, "This workbook has more than 100 rows, the limit of one import."
    ),
    Hostile(
        "missing-key-column",
        missing_key_column,
        "Sheet 'Applications': no header row with the required columns (Trigram) in its first 30 rows.",
    ),
]

# Read, then refused row by row by the merge: the dry run shows the error, nothing is applied.
DUPLICATES = Hostile("duplicate-keys", duplicate_keys, "duplicate key: also at Applications row 2")


def rejection(data: bytes, limits: dict[str, int]) -> str:
    """The message the upload's checks give `data`, in their order (fails the test when none refuses it)."""
    with pytest.raises(WorkbookRejected) as refused:
        check_file(data, limits["IMPORT_MAX_BYTES"], limits["IMPORT_MAX_UNZIPPED_BYTES"])
        read_workbook(data, limits["IMPORT_MAX_ROWS"])
    return str(refused.value)


def assert_message(actual: str, expected: str | re.Pattern[str]) -> None:
    if isinstance(expected, str):
        assert actual == expected
    else:
        assert expected.search(actual), actual


# Function level: the exact message.


@pytest.mark.parametrize("case", REFUSED_AT_ONCE, ids=lambda case: case.id)
def test_check_file_refuses_a_hostile_file_with_its_message(case: Hostile):
    data = case.build()
    limits = case.config()

    with pytest.raises(WorkbookRejected) as refused:
        check_file(data, limits["IMPORT_MAX_BYTES"], limits["IMPORT_MAX_UNZIPPED_BYTES"])

    assert_message(str(refused.value), case.message)


@pytest.mark.parametrize("case", REFUSED_BY_THE_READER, ids=lambda case: case.id)
def test_the_reader_refuses_a_file_check_file_accepts_with_its_message(case: Hostile):
    data = case.build()
    limits = case.config()
    check_file(data, limits["IMPORT_MAX_BYTES"], limits["IMPORT_MAX_UNZIPPED_BYTES"])

    assert_message(rejection(data, limits), case.message)


def test_the_valid_workbook_the_corpus_starts_from_is_accepted():
    data = valid_workbook()
    check_file(data, LIMITS["IMPORT_MAX_BYTES"], LIMITS["IMPORT_MAX_UNZIPPED_BYTES"])

    assert [statement.key for statement in read_workbook(data, 100).statements] == [("BCA",), ("ZQA",)]


def test_a_file_exactly_at_the_size_limit_is_accepted():
    data = valid_workbook()

    check_file(data, max_bytes=len(data), max_unzipped_bytes=LIMITS["IMPORT_MAX_UNZIPPED_BYTES"])


# Page level: the upload answers with the message and writes nothing.


@pytest.fixture
def steward(login_as, session: Session):
    make_source(session, "stewards", kind="excel")
    return login_as("steward")


@pytest.fixture
def limits(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Callable[[Hostile], None]:
    def apply(case: Hostile) -> None:
        for name, value in case.config().items():
            monkeypatch.setitem(app.config, name, value)

    return apply


def upload(client, data: bytes, filename: str = "referentiel.xlsx"):
    form = {"source": "stewards", "csrf_token": CSRF_TOKEN, "file": (io.BytesIO(data), filename)}
    return client.post("/imports", data=form, content_type="multipart/form-data", follow_redirects=True)


def latest_run(session: Session) -> ImportRun:
    run = session.scalars(select(ImportRun).order_by(ImportRun.id.desc())).first()
    assert run is not None, "no import run was recorded"
    return run


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.mark.parametrize("case", REFUSED_AT_ONCE, ids=lambda case: case.id)
def test_the_upload_page_refuses_a_hostile_file_and_writes_nothing(case: Hostile, steward, limits, session):
    limits(case)
    data = case.build()
    before = table_checksums(session)

    response = upload(steward, data, filename="inventaire.xlsx")

    assert response.status_code == (413 if case.id == "over-the-size-limit" else 400)
    message = re.search(r"inventaire\.xlsx: ([^<]*)", page_text(response))
    assert message, "the page does not show the message"
    assert_message(message.group(1).strip(), case.message)
    assert table_checksums(session) == before


@pytest.mark.parametrize("case", REFUSED_BY_THE_READER, ids=lambda case: case.id)
def test_a_file_the_reader_refuses_becomes_a_failed_run_and_nothing_else(case: Hostile, steward, limits, session):
    limits(case)
    before = table_checksums(session, skip=RUN_RECORD)

    response = upload(steward, case.build())

    assert response.status_code == 200
    run = latest_run(session)
    assert run.status == "failed"
    assert_message(run.error or "", case.message)
    assert (run.error or "") in page_text(response)
    assert table_checksums(session, skip=RUN_RECORD) == before


def test_a_key_given_twice_is_an_error_row_of_the_dry_run_and_the_referential_is_unchanged(steward, limits, session):
    limits(DUPLICATES)
    before = table_checksums(session, skip=(*RUN_RECORD, "import_row"))

    response = upload(steward, DUPLICATES.build())

    assert response.status_code == 200
    run = latest_run(session)
    assert (run.status, run.counts["create"], run.counts["error"]) == ("ready", 1, 1)
    [row] = session.scalars(select(ImportRow).where(ImportRow.run_id == run.id, ImportRow.action == "error"))
    assert (row.sheet, row.row_number, row.errors) == (
        "Applications",
        3,
        [{"column": "Trigram", "value": "BCA", "reason": DUPLICATES.message}],
    )
    assert table_checksums(session, skip=(*RUN_RECORD, "import_row")) == before
