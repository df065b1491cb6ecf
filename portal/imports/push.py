"""Reading pushed batches (NiFi and other pushers): a JSON array or NDJSON of typed records, into statements.

Each record is an object with `type` (application, stakeholder, environment, component, interface,
entity or person) and the fields of the workbook format under their snake_case names (the key fields
included): `{"type": "application", "trigram": "BCA", "name": "Banque", "status": "production"}`.
A field set to null withdraws that source's statement of it; a field left out keeps it.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from portal.imports.merge import Statement
from portal.imports.schema import OBJECT_TYPES

NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines", "application/ndjson")
# json.loads recurses once per nesting level; a record needs two. Deeper bodies are refused outright.
MAX_NESTING = 20
# A `\ud800`-`\udfff` escape: valid in pairs (an emoji), not alone.
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class BatchRejected(ValueError):
    """The body as a whole cannot be read: `status` is the HTTP status to answer (400 or 413)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def batch_fingerprint(body: bytes, mode: str, partial: bool, snapshot: int | None) -> str:
    """Identifies a batch: its content and how it was to be applied, so that an Idempotency-Key used again
    for another body, another mode or another snapshot is refused rather than answered from the first."""
    digest = hashlib.sha256(body)
    digest.update(f"|{mode}|{partial}|{snapshot}".encode())
    return digest.hexdigest()


def parse_batch(body: bytes, content_type: str, max_records: int) -> list[Any]:
    """The records of a body, as decoded JSON values (not yet checked). Raises `BatchRejected`."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BatchRejected("The body is not valid UTF-8.") from None
    if _nesting_depth(text) > MAX_NESTING:
        raise BatchRejected(f"The body is nested deeper than {MAX_NESTING} levels; records are flat objects.")
    if content_type.split(";")[0].strip().lower() in NDJSON_TYPES:
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                records.append(_loads(line, f"line {number}"))
                if len(records) > max_records:
                    break
    else:
        records = _loads(text, "the body")
        if not isinstance(records, list):
            raise BatchRejected("The body must be a JSON array of records (or NDJSON, one record per line).")
    if len(records) > max_records:
        raise BatchRejected(f"A batch holds at most {max_records:,} records; split it.", status=413)
    if not records:
        raise BatchRejected("The batch holds no record.")
    return records


def _loads(text: str, where: str) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        message = f"{where[0].upper()}{where[1:]} is not valid JSON: {error.msg} at position {error.pos}."
        raise BatchRejected(message) from None
    if SURROGATE_ESCAPE.search(text):
        # JSON lets `\ud800` stand alone, but it is half of a character: no database can store it.
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            message = f"{where[0].upper()}{where[1:]} holds a \\u escape of half a character (a lone surrogate)."
            raise BatchRejected(message) from None
    return value


def _nesting_depth(text: str) -> int:
    """The deepest bracket nesting outside strings, without parsing (so a hostile body costs one pass)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def statements_from_records(records: list[Any]) -> list[Statement]:
    """One statement per record; a record that is not an object of a known type becomes a statement in error."""
    statements: list[Statement] = []
    for index, record in enumerate(records):
        statements.append(_statement(index, record))
    return statements


def _statement(index: int, record: Any) -> Statement:
    if not isinstance(record, dict):
        return _refused(index, "record", None, "a record must be a JSON object")
    kind = record.get("type")
    object_type = OBJECT_TYPES.get(kind) if isinstance(kind, str) else None
    if object_type is None:
        sent = str(kind) if kind is not None else "record"
        return _refused(index, sent, kind, f"type must be one of {', '.join(OBJECT_TYPES)}")
    key_names = {column.name for column in object_type.key}
    # Raw JSON values: `Statement.normalize` checks and converts them like any reader's.
    key: Any = tuple(record.get(column.name) for column in object_type.key)
    values = {name: value for name, value in record.items() if name != "type" and name not in key_names}
    return Statement(object_type.name, key, values, index)


def _refused(index: int, type_sent: str, value: Any, reason: str) -> Statement:
    """A record that is not one: its statement only carries the error (its key is never read)."""
    statement = Statement(type_sent[:20], ("",), {}, index)
    statement.error("type", value, reason)
    return statement
