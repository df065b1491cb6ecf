"""A dry run's plan, kept on its import run so that the apply writes what the steward reviewed.

Reading a large workbook and planning it again costs as much as the dry run itself. When nothing
that a plan depends on has changed since the dry run (`referential_version`), the apply loads the
plan kept here and writes it; otherwise it plans again from the workbook.

The plan is stored as zlib-compressed JSON lines, one per chunk of one part of one object type's
plan (`[type, part, entries]`), so that neither writing nor reading it builds one huge string.
It holds only what `Merge.apply` writes: not the diff rows (kept by the dry run) nor the statements.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.changes.models import Change
from portal.conflicts.models import Conflict
from portal.imports.merge import Candidate, Plan, RecordState, TypePlan
from portal.imports.models import ImportRun
from portal.imports.schema import OBJECT_TYPES
from portal.imports.visible import Key, VisibleObject
from portal.sources.models import Source

# Entries per line: bounds the text held at once while writing and reading.
LINE_ENTRIES = 5000
FORMAT = 1


def referential_version(session: Session, run: ImportRun) -> str:
    """What a plan depends on, summarised: any run, change, conflict or source written since alters it.

    Every write to source records or visible values goes through a run (push, sync, upload, edit,
    resolution, recompute), which opens an import run and audits its changes, so the newest run and
    change ids, the latest finish, and the conflicts' and sources' last updates cover them all.
    """
    others = ImportRun.id != run.id
    row = session.execute(
        select(
            select(func.max(ImportRun.id)).where(others).scalar_subquery(),
            select(func.max(ImportRun.finished_at)).where(others).scalar_subquery(),
            select(func.max(Change.id)).scalar_subquery(),
            select(func.count(Conflict.id)).scalar_subquery(),
            select(func.max(Conflict.updated_at)).scalar_subquery(),
            select(func.count(Source.id)).scalar_subquery(),
            select(func.max(Source.updated_at)).scalar_subquery(),
        )
    ).one()
    return json.dumps([FORMAT, *(value.isoformat() if isinstance(value, datetime) else value for value in row)])


def _keyed(items: dict[Key, Any], encode: Callable[[Any], Any] | None = None) -> Iterable[Any]:
    """`[key, value]` entries (JSON writes the key tuples as arrays)."""
    return items.items() if encode is None else ((key, encode(value)) for key, value in items.items())


def _record(record: RecordState) -> list[Any]:
    missing = record.missing_since.isoformat() if record.missing_since else None
    return [record.id, record.source_id, record.payload, record.field_runs, missing, record.fingerprint]


def _parts(type_plan: TypePlan) -> Iterator[tuple[str, Iterable[Any]]]:
    """Each part of a type's plan as JSON-ready entries; `mine` only for the records the plan rewrites."""
    mine = {key: type_plan.mine[key] for key in type_plan.new_payloads if key in type_plan.mine}
    yield "mine", _keyed(mine, _record)
    yield "new_payloads", _keyed(type_plan.new_payloads)
    yield "fingerprints", _keyed(type_plan.fingerprints)
    yield "creates", _keyed(type_plan.creates)
    yield "updates", _keyed(type_plan.updates, lambda pair: [pair[0].id, pair[1]])
    yield "old_values", _keyed(type_plan.old_values)
    contested = {
        key: {name: [[c.source.id, c.value, c.precedence] for c in found] for name, found in fields.items()}
        for key, fields in type_plan.contested.items()
    }
    yield "contested", _keyed(contested)
    yield "settled", _keyed(type_plan.settled, sorted)
    yield "missing", type_plan.missing
    yield "present", type_plan.present
    yield "confirmed", type_plan.confirmed


def dump_plan(plan: Plan) -> bytes:
    """The plan's writes as compressed JSON lines."""
    compressor = zlib.compressobj(level=1)  # fast: the plan is written once and read once
    pieces = [compressor.compress(json.dumps(["plan", plan.snapshot, None]).encode() + b"\n")]
    for name, type_plan in plan.types.items():
        pieces.append(compressor.compress(json.dumps([name, "type", None]).encode() + b"\n"))
        for part, entries in _parts(type_plan):
            remaining = iter(entries)
            while chunk := list(islice(remaining, LINE_ENTRIES)):
                pieces.append(compressor.compress(json.dumps([name, part, chunk]).encode() + b"\n"))
    pieces.append(compressor.flush())
    return b"".join(pieces)


def _lines(data: bytes) -> Iterator[list[Any]]:
    decompressor = zlib.decompressobj()
    pending = b""
    for start in range(0, len(data), 1 << 20):
        pending += decompressor.decompress(data[start : start + (1 << 20)])
        *complete, pending = pending.split(b"\n")
        yield from (json.loads(line) for line in complete)
    pending += decompressor.flush()
    yield from (json.loads(line) for line in pending.split(b"\n") if line)


def load_plan(data: bytes, source: Source, sources: dict[int, Source], counts: dict[str, int]) -> Plan:
    """The plan `dump_plan` wrote; `sources` names the sources of its conflicts' candidates, `counts` are the
    dry run's (the plan keeps no outcomes to count)."""
    types: dict[str, TypePlan] = {}
    snapshot = False
    for name, part, entries in _lines(data):
        if name == "plan":
            snapshot = bool(part)
            continue
        if part == "type":
            types[name] = TypePlan(OBJECT_TYPES[name])
            continue
        _load_part(types[name], part, entries, sources)
    return Plan(source, [], types, snapshot, known_counts=counts)


def _load_part(type_plan: TypePlan, part: str, entries: list[Any], sources: dict[int, Source]) -> None:
    if part in ("missing", "present"):
        getattr(type_plan, part).extend(tuple(key) for key in entries)
    elif part == "confirmed":
        type_plan.confirmed.extend(entries)
    elif part == "mine":
        for key, (id_, source_id, payload, field_runs, missing, fingerprint) in entries:
            missing_since = datetime.fromisoformat(missing) if missing else None
            type_plan.mine[tuple(key)] = RecordState(id_, source_id, payload, field_runs, missing_since, fingerprint)
    elif part == "updates":
        # Only the object's id is written back: its other values are the plan's `old_values`.
        type_plan.updates.update({tuple(key): (VisibleObject(id_, {}), values) for key, (id_, values) in entries})
    elif part == "contested":
        type_plan.contested.update(
            {
                tuple(key): {
                    name: [Candidate(sources[source_id], value, precedence) for source_id, value, precedence in found]
                    for name, found in fields.items()
                }
                for key, fields in entries
            }
        )
    elif part == "settled":
        type_plan.settled.update({tuple(key): set(names) for key, names in entries})
    else:  # new_payloads, fingerprints, creates, old_values: {key: value}
        getattr(type_plan, part).update({tuple(key): value for key, value in entries})
