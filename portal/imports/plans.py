"""A dry run's plan, kept with its import run so that the apply writes what the steward reviewed.

Reading a large workbook and planning it again costs as much as the dry run itself. When nothing
that a plan depends on has changed since the dry run (`referential_version`), the apply loads the
plan kept here and writes it; otherwise it plans again from the workbook.

The plan is stored as zlib-compressed JSON lines, one per chunk of one part of one object type's
plan (`[type, part, entries]`), the compressed stream cut into pieces of about a megabyte
(`ImportPlanChunk`), so that neither writing nor reading it holds it whole.
It holds only what `Merge.apply` writes: not the diff rows (kept by the dry run) nor the statements.
"""

from __future__ import annotations

import itertools
import json
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import Any, cast

import orjson
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from portal.changes.models import Change
from portal.conflicts.models import Conflict
from portal.imports.merge import Candidate, RecordState, TypePlan
from portal.imports.models import ImportPlanChunk, ImportRun
from portal.imports.schema import OBJECT_TYPES
from portal.imports.visible import Key, Values, VisibleObject
from portal.sources.models import Source

# Entries per line: bounds the text held at once while writing and reading.
LINE_ENTRIES = 5000
# Compressed bytes per stored piece of a kept plan, and pieces an apply reads at once.
PIECE_BYTES = 1 << 20
PIECES_READ_AHEAD = 16
FORMAT = 2  # 2: a creation as the source states it is one `created` entry
KeyTable = dict[Key, Key]


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
    payloads, creates, fingerprints = type_plan.new_payloads, type_plan.creates, type_plan.fingerprints
    # A creation that shows just what the source states (every record of a first import) is written
    # once, as a `created` entry of its key, payload and digest, instead of in three parts.
    created: list[Key] = []
    others: set[Key] = set()
    for key, payload in payloads.items():
        values = creates.get(key)
        (created.append if values is not None and values is payload else others.add)(key)

    def is_other(key: Key) -> bool:
        return key in others or key not in payloads

    yield "created", ([key, payloads[key], fingerprints.get(key)] for key in created)
    yield "new_payloads", ((key, payload) for key, payload in payloads.items() if key in others)
    yield "fingerprints", ((key, digest) for key, digest in fingerprints.items() if is_other(key))
    # Any other creation that shows just the payload is written as null (read back as the payload).
    other_creates = ((key, values) for key, values in creates.items() if is_other(key))
    yield "creates", ((key, None if values is payloads.get(key) else values) for key, values in other_creates)
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


class PlanWriter:
    """Writes a plan one type at a time, as a run plans them (`Merge.plan_by_type`): each type's plan is
    compressed as soon as it is made, and can then be dropped. `sink` takes the compressed stream in
    pieces of about `PIECE_BYTES`."""

    def __init__(self, sink: Callable[[bytes], None]) -> None:
        self.compressor = zlib.compressobj(level=1)  # fast: the plan is written once and read once
        self.sink = sink
        self.pending: list[bytes] = []
        self.pending_bytes = 0

    def _write(self, line: list[Any]) -> None:
        self._keep(self.compressor.compress(orjson.dumps(line) + b"\n"))

    def _keep(self, compressed: bytes) -> None:
        self.pending.append(compressed)
        self.pending_bytes += len(compressed)
        if self.pending_bytes >= PIECE_BYTES:
            self._hand_over()

    def _hand_over(self) -> None:
        if self.pending_bytes:
            self.sink(b"".join(self.pending))
        self.pending, self.pending_bytes = [], 0

    def add(self, type_plan: TypePlan) -> None:
        name = type_plan.object_type.name
        self._write([name, "type", None])
        for part, entries in _parts(type_plan):
            remaining = iter(entries)
            while chunk := list(islice(remaining, LINE_ENTRIES)):
                self._write([name, part, chunk])

    def finish(self) -> None:
        self._keep(self.compressor.flush())
        self._hand_over()


def keep_plan(session: Session, run: ImportRun) -> PlanWriter:
    """A writer of the plan a dry run keeps for its apply, in the run's `ImportPlanChunk`s."""
    positions = itertools.count()

    def store(piece: bytes) -> None:
        session.execute(insert(ImportPlanChunk).values(run_id=run.id, position=next(positions), data=piece))

    return PlanWriter(store)


def kept_plan(session: Session, run: ImportRun) -> Iterator[bytes]:
    """The pieces of the plan a run's dry run kept (none when it kept no plan), in order.

    They are read `PIECES_READ_AHEAD` at a time: a statement on the session waits for the writes in flight
    (`bulk.writing_behind`), so reading each piece when its turn comes would leave the server idle while
    the next type's plan is decoded. The plan of a workbook of 20,000 applications is read in one go
    (some 15 MB compressed); a larger one holds no more than that at once. Each piece is let go once read.
    """
    positions = session.scalars(
        select(ImportPlanChunk.position).where(ImportPlanChunk.run_id == run.id).order_by(ImportPlanChunk.position)
    ).all()
    for start in range(0, len(positions), PIECES_READ_AHEAD):
        wanted = positions[start : start + PIECES_READ_AHEAD]
        pieces = list(
            session.scalars(
                select(ImportPlanChunk.data)
                .where(ImportPlanChunk.run_id == run.id, ImportPlanChunk.position.in_(wanted))
                .order_by(ImportPlanChunk.position.desc())
            )
        )
        while pieces:
            yield pieces.pop()


def has_kept_plan(session: Session, run: ImportRun) -> bool:
    return session.scalar(select(ImportPlanChunk.position).where(ImportPlanChunk.run_id == run.id).limit(1)) is not None


def drop_workbook_and_plan(session: Session, run: ImportRun) -> None:
    """Once a run is applied, cancelled or failed, its workbook and plan (tens of megabytes) are of no more use."""
    run.file_data = None
    drop_kept_plans(session, [run.id])


def drop_kept_plans(session: Session, run_ids: list[int]) -> None:
    session.execute(delete(ImportPlanChunk).where(ImportPlanChunk.run_id.in_(run_ids)))


def _lines(pieces: Iterable[bytes]) -> Iterator[list[Any]]:
    decompressor = zlib.decompressobj()
    pending = b""
    for piece in pieces:
        pending += decompressor.decompress(piece)
        *complete, pending = pending.split(b"\n")
        yield from (orjson.loads(line) for line in complete)
    pending += decompressor.flush()
    yield from (orjson.loads(line) for line in pending.split(b"\n") if line)


def read_type_plans(pieces: Iterable[bytes], sources: dict[int, Source]) -> Iterator[TypePlan]:
    """Each type's plan that `PlanWriter` wrote, in the order it was written, one at a time: an apply
    writes one before the next is read. `sources` names the sources of its conflicts' candidates."""
    current: TypePlan | None = None
    keys: KeyTable = {}
    for name, part, entries in _lines(pieces):
        if part == "type":
            if current is not None:
                yield current
            current, keys = TypePlan(OBJECT_TYPES[name]), {}
        elif current is not None:
            _load_part(current, part, entries, sources, keys)
    if current is not None:
        yield current


def _load_part(type_plan: TypePlan, part: str, entries: list[Any], sources: dict[int, Source], keys: KeyTable) -> None:
    """Read one line of a type's plan into it; `keys` holds one copy of each key the type's plan names
    (each part names the same keys again: a large plan would hold several copies of each)."""

    def key_of(entry: list[str]) -> Key:
        key = tuple(entry)
        found = keys.get(key)
        if found is None:  # one copy of each key part too, as reading a workbook keeps them (`Statement.normalize`)
            found = keys[key] = tuple(sys.intern(part) for part in entry)
        return found

    if part in ("missing", "present"):
        getattr(type_plan, part).extend(key_of(key) for key in entries)
    elif part == "confirmed":
        type_plan.confirmed.extend(entries)
    elif part == "mine":
        for key, (id_, source_id, payload, field_runs, missing, fingerprint) in entries:
            missing_since = datetime.fromisoformat(missing) if missing else None
            type_plan.mine[key_of(key)] = RecordState(id_, source_id, payload, field_runs, missing_since, fingerprint)
    elif part == "updates":
        # Only the object's id is written back: its other values are the plan's `old_values`.
        type_plan.updates.update({key_of(key): (VisibleObject(id_, {}), values) for key, (id_, values) in entries})
    elif part == "contested":
        type_plan.contested.update(
            {
                key_of(key): {
                    name: [Candidate(sources[source_id], value, precedence) for source_id, value, precedence in found]
                    for name, found in fields.items()
                }
                for key, fields in entries
            }
        )
    elif part == "settled":
        type_plan.settled.update({key_of(key): set(names) for key, names in entries})
    elif part == "created":
        for entry, payload, digest in entries:
            key = key_of(entry)
            type_plan.new_payloads[key] = type_plan.creates[key] = payload
            type_plan.fingerprints[key] = digest
    elif part == "creates":  # after new_payloads: a null is a creation showing the payload as it is
        for entry, values in entries:
            key = key_of(entry)
            type_plan.creates[key] = cast(Values, type_plan.new_payloads[key]) if values is None else values
    else:  # new_payloads, fingerprints, old_values: {key: value}
        getattr(type_plan, part).update({key_of(key): value for key, value in entries})
