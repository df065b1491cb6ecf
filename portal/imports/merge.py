"""The merge engine: what a source says becomes source records, and the visible referential follows by precedence.

A run hands the engine `Statement`s (one per workbook row, pushed record or pulled item) and gets a
`Plan` back, computed without writing anything: for each statement its action (create, update,
unchanged, conflict or error) and the values it would change. A dry run stops there. `apply` writes
the plan in the caller's transaction:

1. the source's own records: what it states now replaces what it stated before (an empty value
   withdraws a statement; a field it does not mention keeps its earlier statement);
2. for every field whose statements changed, the visible value is recomputed: among every source
   that states a value, the one with the highest precedence for that field wins (ties: the source
   registered first). A field nobody states any more is cleared, unless the object needs it;
3. where sources state different non-empty values, a conflict is opened (or kept up to date);
4. every visible value that changes gets an audit row (`Change`) in the same transaction.

A snapshot also marks the source's records it no longer mentions as missing; nothing is deleted.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import orjson
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from portal.applications.models import Application
from portal.changes.models import Change
from portal.conflicts.models import Conflict
from portal.core.bulk import insert_rows, reserving_ids, update_rows
from portal.core.models import utcnow
from portal.imports.models import ImportRun
from portal.imports.schema import KEY_SEPARATOR, OBJECT_TYPES, InvalidValue, ObjectType, owning_application
from portal.imports.visible import STORES, Key, References, Values, VisibleObject, chunks
from portal.people.models import Stakeholder
from portal.search.index import refresh_applications
from portal.sources.models import Source, SourceConfirmation, SourceRecord

Progress = Callable[[str, int, int], None]
# What a run asks for each object type's statements (a workbook reads the sheet then).
StatementsOf = Callable[[str], list["Statement"]]
# Rows built and written at a time by the bulk writes.
WRITE_CHUNK = 10_000
# The types other objects refer to: the objects a run creates of these are valid references for the next types.
REFERENCED_TYPES = ("entity", "person", "application", "environment")
# How an error message writes a composite key it refers to (`BCA/prod`).
KEY_TEXT = "/"
# The order in which `Merge.plan_by_type` asks for each type's statements: the types in the order they
# are planned, and the stakeholder rows a first time with the people.
READING_ORDER = (
    "entity",
    "person",
    "stakeholder",  # for the people its rows name
    "application",
    "environment",
    "component",
    "stakeholder",
    "interface",
)


def no_progress(phase: str, done: int, total: int) -> None:
    return None


@dataclass(slots=True)
class Statement:
    """What a source says about one object: its key and the fields it states (None: states nothing there).

    `position` orders statements within a run; `sheet` and `row_number` point at a workbook row.
    `errors` are the problems the reader found (each `{"column", "value", "reason"}`).
    """

    object_type: str
    key: Key  # as the reader found them until `normalize` makes them canonical text
    values: Values
    position: int
    sheet: str | None = None
    row_number: int | None = None
    # No list until the first error: an import holds a whole sheet of statements, nearly all without any.
    errors: Sequence[dict[str, Any]] = ()
    derived: bool = False  # produced from another statement's fields (a stakeholder row's person)
    # Identifies the statement as the reader gave it (see `raw_fingerprint`); None for derived ones.
    fingerprint: str | None = None

    def raw_fingerprint(self) -> str:
        """A digest of the statement before it is read through the schema. A source record remembers the
        digest of the statement last applied to it: the same statement again cannot change it (applying a
        statement twice gives what applying it once gave), so a re-import skips it unread.

        orjson tells the reader's types apart (1, 1.0, "1", a date and a datetime) as `repr` did, in a
        third of its time; what it cannot write (a Decimal, a timedelta) is written as its text."""
        data = orjson.dumps((self.object_type, self.key, self.values), default=str, option=orjson.OPT_SORT_KEYS)
        return hashlib.blake2b(data, digest_size=16).hexdigest()

    @property
    def natural_key(self) -> str:
        return KEY_SEPARATOR.join(self.key)

    @property
    def describes_another_object(self) -> bool:
        """Whether a field of this statement is about another object (a stakeholder row's Name and Email)."""
        foreign = OBJECT_TYPES[self.object_type].foreign_fields
        return any(str(self.values[name]).strip() for name in foreign if self.values.get(name) is not None)

    @property
    def location(self) -> str:
        return f"{self.sheet} row {self.row_number}" if self.sheet else f"record {self.position}"

    def error(self, column: str, value: Any, reason: str) -> None:
        """Refuse this statement: `column` is the workbook header of the field at fault."""
        shown = None if value is None else str(value)[:200]
        self.errors = [*self.errors, {"column": column, "value": shown, "reason": reason}]

    def normalize(self) -> None:
        """Read every key part and value through the schema (canonical text), collecting what is refused.

        Readers hand over values as they found them (Excel dates, numbers, JSON lists); this is the
        one place where they are checked, whatever the source.
        """
        object_type = OBJECT_TYPES[self.object_type]
        values: Values = {}
        for name, raw in self.values.items():
            column = object_type.field_by_name.get(name)
            if column is None:
                self.error(name, raw, f"unknown field for {object_type.name}")
                continue
            if raw is None:  # an empty cell, as every reader reads it
                values[name] = None
                continue
            try:
                values[name] = column.parse(raw)
            except InvalidValue as error:
                self.error(column.header, raw, str(error))
        key: list[str] = []
        for column, raw in zip(object_type.key, self.key, strict=False):
            try:
                part = column.parse(raw)
            except InvalidValue as error:
                self.error(column.header, raw, str(error))
                part = None
            # An environment without a name is named after its kind ("prod").
            if part is None and object_type.name == "environment" and column.name == "name":
                part = values.get("kind")
            if part is None and not any(e["column"] == column.header for e in self.errors):
                self.error(column.header, None, "required")
            # One copy of each key part (a trigram, `prod`, `server`): thousands of keys repeat them.
            key.append(sys.intern(part) if part else "")
        if len(self.key) != len(object_type.key):
            self.error(object_type.key[0].header, None, "incomplete key")
        self.key = tuple(key)
        self.values = values


@dataclass(slots=True)
class Outcome:
    """What one statement came to: its action, the visible changes, the conflicts it meets."""

    statement: Statement
    action: str = "unchanged"
    # The visible values after the run and, for an update, before it: shared with the plan, not copied,
    # because a first import creates hundreds of thousands of objects.
    after: Values | None = None
    before: Values | None = None
    conflicts: dict[str, list[dict[str, Any]]] | None = None

    @property
    def changes(self) -> dict[str, list[str | None]]:
        """Each changed field's [before, after]; a creation lists the fields it gives a value."""
        if self.after is None:
            return {}
        if self.before is None:
            return {name: [None, value] for name, value in self.after.items() if value is not None}
        return {name: [self.before.get(name), value] for name, value in self.after.items()}

    def as_result(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "type": self.statement.object_type,
            "key": self.statement.natural_key,
            "action": self.action,
        }
        if changes := self.changes:
            result["changes"] = {name: {"before": pair[0], "after": pair[1]} for name, pair in changes.items()}
        if self.conflicts:
            result["conflicts"] = self.conflicts
        if self.statement.errors:
            result["errors"] = self.statement.errors
        return result


@dataclass(slots=True)
class Candidate:
    source: Source
    value: str
    precedence: int


@dataclass(slots=True)
class RecordState:
    """One source record as the merge works on it (plain values, not an ORM object)."""

    id: int | None
    source_id: int
    payload: dict[str, str]
    field_runs: dict[str, int]
    missing_since: datetime | None = None
    fingerprint: str | None = None


@dataclass
class TypePlan:
    """The plan for one object type: the decisions `apply` writes."""

    object_type: ObjectType
    mine: dict[Key, RecordState] = field(default_factory=dict)
    new_payloads: dict[Key, dict[str, str]] = field(default_factory=dict)
    creates: dict[Key, Values] = field(default_factory=dict)
    updates: dict[Key, tuple[VisibleObject, Values]] = field(default_factory=dict)
    old_values: dict[Key, Values] = field(default_factory=dict)
    # Fields recomputed per key, with their candidates (winner first): conflicts are maintained from these.
    contested: dict[Key, dict[str, list[Candidate]]] = field(default_factory=dict)
    # The keys with an open conflict, and those of their fields now decided without disagreement.
    open_conflicts: set[Key] = field(default_factory=set)
    settled: dict[Key, set[str]] = field(default_factory=dict)
    missing: list[Key] = field(default_factory=list)
    present: list[Key] = field(default_factory=list)
    # Records confirmed unread (their statement came again, unchanged), and each key's statement digest.
    confirmed: list[int] = field(default_factory=list)
    fingerprints: dict[Key, str | None] = field(default_factory=dict)


@dataclass
class PlanPart:
    """The plan of one object type and the outcomes of its statements (the people stakeholder rows name
    included), as `Merge.plan_by_type` gives them one after the other."""

    type_plan: TypePlan
    outcomes: list[Outcome]


@dataclass
class Plan:
    """Everything a run would do. `outcomes` follow the statements' order."""

    source: Source
    outcomes: list[Outcome]
    types: dict[str, TypePlan]
    snapshot: bool
    # The counts of a plan kept by a dry run and loaded again (portal/imports/plans.py), which has no outcomes.
    known_counts: dict[str, int] | None = None

    @property
    def counts(self) -> dict[str, int]:
        if self.known_counts is not None:
            return dict(self.known_counts)
        counts = {action: 0 for action in ("create", "update", "unchanged", "conflict", "error")}
        for outcome in self.outcomes:
            if not outcome.statement.derived:
                counts[outcome.action] += 1
        counts["missing"] = sum(len(type_plan.missing) for type_plan in self.types.values())
        return counts

    @property
    def has_errors(self) -> bool:
        if self.known_counts is not None:
            return self.known_counts.get("error", 0) > 0
        return any(outcome.action == "error" for outcome in self.outcomes)


def records_of(type_plan: TypePlan) -> int:
    """The records a type's plan writes or confirms (what the progress of writing counts)."""
    return len(type_plan.new_payloads) + len(type_plan.confirmed)


def changed_fields(before: dict[str, str], after: dict[str, str]) -> frozenset[str]:
    """The fields whose statement differs between two payloads (added, changed or withdrawn)."""
    return frozenset(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


def fingerprint(candidates: list[Candidate]) -> str:
    """Identifies who says what: the same statements give the same fingerprint, whatever their order."""
    pairs = sorted((candidate.source.name, candidate.value) for candidate in candidates)
    return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()


class Merge:
    """Plans and applies one run of one source. `actor` names who acts: a login or `token <id>`."""

    def __init__(
        self,
        session: Session,
        source: Source,
        run: ImportRun | None = None,
        actor: str = "system",
        user_id: int | None = None,
        token_id: int | None = None,
        progress: Progress = no_progress,
    ) -> None:
        self.session = session
        self.source = source
        self.run = run
        self.actor = actor
        self.user_id = user_id
        self.token_id = token_id
        self.progress = progress
        self.sources = {each.id: each for each in session.scalars(select(Source))}
        self.ranks: dict[tuple[int, str, str], tuple[int, tuple[int, int]]] = {}
        self.refs = References(session)
        # Objects this run creates, by type: valid references for the types planned after them.
        self.planned: dict[str, set[Key]] = {}
        self.written = 0
        self.touched_applications: set[str] = set()
        self.touched_people: set[int] = set()
        self.touched_entities = False
        self.pending_audit: list[dict[str, Any]] = []
        # Records written so far and to write in all (for progress; a plan applied by parts may not know it).
        self.records_written = 0
        self.to_write = 0
        self.applied_at: datetime | None = None

    # --- planning ------------------------------------------------------------------------------------

    def plan(self, statements: list[Statement], snapshot: bool = False) -> Plan:
        """Plan statements of any types at once (a push, a pull, an edit): outcomes in the statements' order."""
        # A pushed record of no known type is refused as it is: there is nothing to read in it.
        unknown = [Outcome(statement, "error") for statement in statements if statement.object_type not in OBJECT_TYPES]
        by_type: dict[str, list[Statement]] = defaultdict(list)
        for statement in statements:
            if statement.object_type in OBJECT_TYPES:
                by_type[statement.object_type].append(statement)
        parts = list(self.plan_by_type(lambda name: by_type.get(name, []), snapshot))
        outcomes = [outcome for part in parts for outcome in part.outcomes] + unknown
        ordered = sorted(outcomes, key=lambda outcome: (outcome.statement.derived, outcome.statement.position))
        return Plan(self.source, ordered, {part.type_plan.object_type.name: part.type_plan for part in parts}, snapshot)

    def plan_by_type(self, statements_of: StatementsOf, snapshot: bool = False) -> Iterator[PlanPart]:
        """Plan one object type after the other, in dependency order (parents first), each one's statements
        asked of `statements_of` when its turn comes: a workbook is read and planned a sheet at a time, so
        that a large one never holds every sheet's statements at once. A part may be applied before the
        next is planned: what a type refers to is planned, or written, before it.

        The people that stakeholder rows name (their Name and Email) are planned with the people, so the
        stakeholder statements are asked for twice: their first copy is only read for those people.
        (Keeping that copy until the stakeholders' turn saves reading the sheet again, but raised the
        peak memory of an import of 20,000 applications by 15 to 25 MB.)
        """
        for name in OBJECT_TYPES:
            part = self._plan_part(name, statements_of, snapshot)
            if part is not None:
                yield part
                del part  # before the next sheet is read: a part holds a whole sheet's statements

    def _plan_part(self, name: str, statements_of: StatementsOf, snapshot: bool) -> PlanPart | None:
        """Plan the statements of one type (none: no part); those stated unchanged since are not read."""
        object_type = OBJECT_TYPES[name]
        statements = statements_of(name)
        type_plan = TypePlan(object_type)
        unread = self._skip_repeated(statements, type_plan)
        for statement in statements:
            if id(statement) not in unread:
                statement.fingerprint = statement.raw_fingerprint()
                statement.normalize()
            self._trim_foreign_fields(statement)
        if name == "person":
            explicit = {statement.key for statement in statements}
            statements = [*statements, *self._people_named_by(statements_of("stakeholder"), explicit)]
        if not statements:
            return None
        self.progress(f"checking {object_type.sheet}", 0, len(statements))
        outcomes = {id(statement): Outcome(statement) for statement in statements}
        read = [statement for statement in statements if id(statement) not in unread]
        self._plan_type(type_plan, read, outcomes, {s.key for s in statements if id(s) in unread})
        if snapshot:
            self._plan_missing(type_plan, {statement.key for statement in statements})
        self.progress(f"checking {object_type.sheet}", len(statements), len(statements))
        return PlanPart(type_plan, list(outcomes.values()))

    def _skip_repeated(self, statements: list[Statement], type_plan: TypePlan) -> set[int]:
        """Statements identical to the one last applied to their record: confirmed without being read.

        Returns their ids (`id()`); each gets its record's key, and its record is confirmed by `apply`.
        Rows that also describe another object (a stakeholder row giving the person's name) are always
        read, so that what they say about that object is still counted.
        """
        candidates = [s for s in statements if not s.describes_another_object and not s.errors]
        known = self._load_fingerprints(type_plan.object_type.name) if candidates else {}
        unread: set[int] = set()
        if not known:
            return unread
        used: set[str] = set()
        for statement in candidates:
            fingerprint = statement.raw_fingerprint()
            found = known.get(fingerprint)
            if found is None or fingerprint in used:  # a repeated row goes the long way: a duplicate key
                continue
            used.add(fingerprint)
            record_id, natural_key = found
            statement.key = type_plan.object_type.split_key(natural_key)
            statement.fingerprint = fingerprint
            type_plan.confirmed.append(record_id)
            unread.add(id(statement))
        return unread

    def _load_fingerprints(self, object_type: str) -> dict[str, tuple[int, str]]:
        """This source's records of one type that are not missing, by the digest of their last statement."""
        rows = self.session.execute(
            select(SourceRecord.fingerprint, SourceRecord.id, SourceRecord.natural_key).where(
                SourceRecord.source_id == self.source.id,
                SourceRecord.object_type == object_type,
                SourceRecord.missing_since.is_(None),
                SourceRecord.fingerprint.is_not(None),
            )
        )
        return {fingerprint: (id_, natural_key) for fingerprint, id_, natural_key in rows if fingerprint}

    @staticmethod
    def _trim_foreign_fields(statement: Statement) -> None:
        """A stakeholder row keeps only what is about the link: its Name and Email are about the person.
        Changed in place: the run knows its statements by identity (those confirmed unread among them)."""
        foreign = OBJECT_TYPES[statement.object_type].foreign_fields
        if foreign and not statement.errors:
            statement.values = {name: value for name, value in statement.values.items() if name not in foreign}

    def _people_named_by(self, stakeholders: list[Statement], explicit: set[Key]) -> list[Statement]:
        """The people whose Name or Email stakeholder rows give, unless the run states them itself
        (`explicit`): derived statements, read from a copy of each row (the rows are planned later)."""
        derived: dict[Key, Statement] = {}
        for row in stakeholders:
            if not row.describes_another_object:
                continue
            statement = Statement(row.object_type, row.key, dict(row.values), row.position, row.sheet, row.row_number)
            statement.normalize()
            if statement.errors:
                continue
            object_type = OBJECT_TYPES[statement.object_type]
            values = {
                target_field: statement.values[name]
                for name, (_, target_field) in object_type.foreign_fields.items()
                if statement.values.get(name)
            }
            key = (statement.key[1],)
            if not values or key in explicit:
                continue
            if key in derived:  # the first row that gives a value wins
                existing = derived[key]
                existing.values = {**values, **{k: v for k, v in existing.values.items() if v}}
                continue
            derived[key] = Statement(
                "person", key, values, statement.position, statement.sheet, statement.row_number, (), True
            )
        return list(derived.values())

    def _plan_type(
        self, type_plan: TypePlan, statements: list[Statement], outcomes: dict[int, Outcome], unread: set[Key]
    ) -> None:
        """Plan the statements of one type that were read (`unread` holds the keys confirmed unread)."""
        object_type = type_plan.object_type
        store = STORES[object_type.name]
        seen: dict[Key, Statement] = {}
        valid: list[Statement] = []
        for statement in statements:
            if statement.key in unread and not statement.errors:
                statement.error(object_type.key[0].header, statement.natural_key, "duplicate key: also in this file")
            elif statement.key in seen and not statement.errors:
                first = seen[statement.key]
                statement.error(
                    object_type.key[0].header, statement.natural_key, f"duplicate key: also at {first.location}"
                )
            if not statement.errors:
                seen[statement.key] = statement
                valid.append(statement)
        keys = [statement.key for statement in valid]
        type_plan.mine = self._load_mine(object_type, keys)
        type_plan.open_conflicts = self._load_open_conflicts(object_type)
        self._check_references(object_type, valid)
        for statement in valid:
            if statement.errors:
                continue
            mine = type_plan.mine.get(statement.key)
            type_plan.new_payloads[statement.key] = self._new_payload(mine, statement.values)
            type_plan.fingerprints[statement.key] = statement.fingerprint
            if mine and mine.missing_since is not None:
                type_plan.present.append(statement.key)
        # The fields each statement changes. Records share one set per combination of fields: most rows
        # of a sheet change the same ones, and a set for each of a hundred thousand rows adds up.
        shapes: dict[frozenset[str], frozenset[str]] = {}
        affected: dict[Key, frozenset[str]] = {}
        for key, payload in type_plan.new_payloads.items():
            names = changed_fields(type_plan.mine[key].payload if key in type_plan.mine else {}, payload)
            affected[key] = shapes.setdefault(names, names)
        # A record the source had already, saying the same: the visible object exists and stays as it is.
        recompute = [key for key, names in affected.items() if names or key not in type_plan.mine]
        visible = store.load(self.session, recompute) if recompute else {}
        others = self._load_others(object_type, recompute)
        for statement in valid:
            if statement.errors:
                continue
            outcome = outcomes[id(statement)]
            key = statement.key
            if key not in affected or (not affected[key] and key in type_plan.mine):
                continue
            self._decide(type_plan, outcome, visible.get(key), affected[key], others.get(key, []))
        for statement in statements:
            if statement.errors:
                outcomes[id(statement)].action = "error"
        self._register_planned(object_type.name, type_plan)

    @staticmethod
    def _new_payload(mine: RecordState | None, stated: Values) -> dict[str, str]:
        """What the source's record says once this statement is applied: an empty value withdraws a field,
        a field not mentioned keeps what the record said."""
        if mine is None and None not in stated.values():
            # A new record says just what the row says: the statement's own values, not a copy (a first
            # import holds hundreds of thousands of them). Neither is changed once planned.
            return cast(dict[str, str], stated)
        payload = dict(mine.payload) if mine else {}
        for name, value in stated.items():
            if value is None:
                payload.pop(name, None)
            else:
                payload[name] = value
        return payload

    def _decide(
        self,
        type_plan: TypePlan,
        outcome: Outcome,
        current: VisibleObject | None,
        affected: AbstractSet[str],
        others: list[RecordState],
    ) -> None:
        """Recompute the affected fields of one object and record what would change."""
        object_type = type_plan.object_type
        key = outcome.statement.key
        payload = type_plan.new_payloads[key]
        names = [column.name for column in object_type.own_fields]
        if current is None:
            affected = set(names)
        if others:
            records = [RecordState(None, self.source.id, payload, {}), *others]
            candidates_by_field = {name: self._candidates(object_type, name, records) for name in sorted(affected)}
            winners: Values = {name: (found[0].value if found else None) for name, found in candidates_by_field.items()}
        else:  # the usual case: this source alone describes the object, so what it states is shown
            candidates_by_field = {}
            winners = {name: payload.get(name) or None for name in sorted(affected)}
        if current is None:
            missing = [column for column in object_type.own_fields if column.required and not winners.get(column.name)]
            for column in missing:
                outcome.statement.error(column.header, None, f"required to create this {object_type.name}")
            if missing:
                outcome.action = "error"
                del type_plan.new_payloads[key]
                return
        for name, candidates in candidates_by_field.items():
            if len({candidate.value for candidate in candidates}) > 1:
                type_plan.contested.setdefault(key, {})[name] = candidates
                outcome.conflicts = outcome.conflicts or {}
                outcome.conflicts[name] = [
                    {"source": c.source.name, "value": c.value, "precedence": c.precedence} for c in candidates
                ]
        # The fields decided without disagreement close the open conflicts they had, if any.
        if key in type_plan.open_conflicts:
            type_plan.settled[key] = {name for name in affected if name not in type_plan.contested.get(key, {})}
        if current is None:
            # Usually the new object shows just what the source states: one dict for both (a first
            # import creates hundreds of thousands of objects). Neither is changed once planned.
            type_plan.creates[key] = cast(Values, payload) if winners == payload else winners
            outcome.action = "create"
            outcome.after = winners
        else:
            required = {column.name for column in object_type.own_fields if column.required}
            changed = {
                name: value
                for name, value in winners.items()
                if value != current.values.get(name) and not (value is None and name in required)
            }
            if changed:
                type_plan.updates[key] = (current, changed)
                type_plan.old_values[key] = {name: current.values.get(name) for name in changed}
                outcome.action = "update"
                outcome.after, outcome.before = changed, type_plan.old_values[key]
        # This source's statement loses to, or disagrees with, another source's: a steward should look.
        if outcome.conflicts and outcome.action != "create":
            outcome.action = "conflict"

    def _candidates(self, object_type: ObjectType, name: str, records: list[RecordState]) -> list[Candidate]:
        candidates = [
            Candidate(
                self.sources[record.source_id], record.payload[name], self._rank(record.source_id, object_type, name)[0]
            )
            for record in records
            if record.payload.get(name)
        ]
        candidates.sort(key=lambda candidate: self._rank(candidate.source.id, object_type, name)[1])
        return candidates

    def _rank(self, source_id: int, object_type: ObjectType, name: str) -> tuple[int, tuple[int, int]]:
        """A source's precedence for one field and its rank (`Source.rank_for`), worked out once per run."""
        found = self.ranks.get((source_id, object_type.name, name))
        if found is None:
            source = self.sources[source_id]
            found = (source.precedence_of(object_type.name, name), source.rank_for(object_type.name, name))
            self.ranks[(source_id, object_type.name, name)] = found
        return found

    def _load_mine(self, object_type: ObjectType, keys: list[Key]) -> dict[Key, RecordState]:
        mine: dict[Key, RecordState] = {}
        names = [object_type.natural_key(key) for key in keys]
        query = select(
            SourceRecord.natural_key,
            SourceRecord.id,
            SourceRecord.payload,
            SourceRecord.field_runs,
            SourceRecord.missing_since,
            SourceRecord.fingerprint,
        ).where(SourceRecord.source_id == self.source.id, SourceRecord.object_type == object_type.name)
        statements = (
            [query] if len(names) > 5000 else [query.where(SourceRecord.natural_key.in_(c)) for c in chunks(names)]
        )
        wanted = set(names)
        for statement in statements:
            for natural_key, id_, payload, field_runs, missing_since, fingerprint in self.session.execute(statement):
                if natural_key in wanted:
                    mine[object_type.split_key(natural_key)] = RecordState(
                        id_, self.source.id, payload or {}, field_runs or {}, missing_since, fingerprint
                    )
        return mine

    def _load_open_conflicts(self, object_type: ObjectType) -> set[Key]:
        """The objects of this type with an open conflict (stewards keep them few)."""
        rows = self.session.scalars(
            select(Conflict.natural_key)
            .where(Conflict.object_type == object_type.name, Conflict.status == "open")
            .distinct()
        )
        return {object_type.split_key(natural_key) for natural_key in rows}

    def _load_others(self, object_type: ObjectType, keys: list[Key]) -> dict[Key, list[RecordState]]:
        """Other sources' records of these objects (skipped entirely when no other source describes this type)."""
        others: dict[Key, list[RecordState]] = defaultdict(list)
        base = select(SourceRecord.natural_key, SourceRecord.source_id, SourceRecord.payload).where(
            SourceRecord.object_type == object_type.name, SourceRecord.source_id != self.source.id
        )
        if not keys or self.session.execute(base.limit(1)).first() is None:
            return others
        for chunk in chunks([object_type.natural_key(key) for key in keys]):
            for natural_key, source_id, payload in self.session.execute(
                base.where(SourceRecord.natural_key.in_(chunk))
            ):
                others[object_type.split_key(natural_key)].append(RecordState(None, source_id, payload or {}, {}))
        return others

    def _plan_missing(self, type_plan: TypePlan, mentioned: set[Key]) -> None:
        object_type = type_plan.object_type
        rows = self.session.execute(
            select(SourceRecord.natural_key).where(
                SourceRecord.source_id == self.source.id,
                SourceRecord.object_type == object_type.name,
                SourceRecord.missing_since.is_(None),
            )
        )
        type_plan.missing = sorted(
            key for (natural_key,) in rows if (key := object_type.split_key(natural_key)) not in mentioned
        )

    # --- references ---------------------------------------------------------------------------------

    def _register_planned(self, name: str, type_plan: TypePlan) -> None:
        if name in REFERENCED_TYPES:  # nothing refers to components, stakeholders or interfaces
            self.planned.setdefault(name, set()).update(type_plan.creates)

    def _exists(self, object_type: str, key: Key) -> bool:
        if key in self.planned.get(object_type, set()):
            return True
        if object_type == "entity":
            return key[0] in self.refs.entities
        if object_type == "person":
            return key[0] in self.refs.people
        if object_type == "application":
            return key[0] in self.refs.applications
        return (key[0], key[1]) in self.refs.environments

    def _check_references(self, object_type: ObjectType, statements: list[Statement]) -> None:
        """Every code, login, trigram and environment a statement names must exist (or be created before it)."""
        name = object_type.name
        self._load_references(name, [statement.key for statement in statements])
        if name == "entity":
            # A parent may come in the same run, in any order (a row further down the sheet).
            self.planned.setdefault("entity", set()).update(s.key for s in statements)
        for statement in statements:
            self._check_statement_references(object_type, statement)

    def _load_references(self, object_type: str, keys: list[Key]) -> None:
        """The ids of the applications, people and environments these keys name (entities are all loaded)."""
        if object_type in ("environment", "component", "stakeholder", "interface"):
            targets = {key[1] for key in keys} if object_type == "interface" else set()
            self.refs.load_applications({key[0] for key in keys} | targets)
        if object_type == "stakeholder":
            self.refs.load_people(key[1] for key in keys)
        if object_type == "component":
            self.refs.load_environments((key[0], key[1]) for key in keys)

    def _check_statement_references(self, object_type: ObjectType, statement: Statement) -> None:
        key, values = statement.key, statement.values
        checks: list[tuple[str, str, Key, str]] = []  # (column header, object type, key, what)
        for name in ("entity", "parent"):
            if values.get(name) and name in {column.name for column in object_type.fields}:
                code = values[name] or ""
                checks.append((object_type.column(name).header, "entity", (code,), f"unknown entity {code}"))
        if object_type.name == "entity" and values.get("parent") == key[0]:
            statement.error("Parent", key[0], "an entity cannot be its own parent")
        if object_type.name in ("environment", "component", "stakeholder"):
            checks.append(("Trigram", "application", (key[0],), f"unknown application {key[0]}"))
        if object_type.name == "component":
            checks.append(("Environment", "environment", (key[0], key[1]), f"{key[0]} has no environment {key[1]}"))
        if object_type.name == "stakeholder":
            checks.append(("Login", "person", (key[1],), f"unknown person {key[1]}: give their Name"))
        if object_type.name == "interface":
            checks.append(("Source", "application", (key[0],), f"unknown application {key[0]}"))
            checks.append(("Target", "application", (key[1],), f"unknown application {key[1]}"))
            if key[0] == key[1]:
                statement.error("Target", key[1], "an application cannot be its own target")
        for header, target_type, target_key, reason in checks:
            if not self._exists(target_type, target_key):
                statement.error(header, KEY_TEXT.join(target_key), reason)

    # --- applying -----------------------------------------------------------------------------------

    def load_references(self, type_plan: TypePlan) -> None:
        """Load the ids of the objects a type's plan points at, as planning does (`_check_references`):
        for a plan kept by a dry run and read again, which this merge did not make."""
        self._load_references(type_plan.object_type.name, [*type_plan.creates, *type_plan.updates])

    def apply(self, plan: Plan, partial: bool = False, statements_made: bool = True) -> int:
        """Write the plan (skipping records in error, which `partial` must allow); returns the audit rows written.

        `statements_made=False` is for a recomputation: the source said nothing new, so its records
        are neither changed nor confirmed; only the visible values and the conflicts follow.
        """
        if plan.has_errors and not partial:
            raise ValueError("the plan has errors; apply it with partial=True to skip them")
        self.to_write = sum(records_of(type_plan) for type_plan in plan.types.values())
        for type_plan in plan.types.values():
            self.apply_type(type_plan, statements_made)
        return self.finish_apply()

    def apply_type(self, type_plan: TypePlan, statements_made: bool = True) -> None:
        """Write one type's plan (`apply` writes each, in dependency order); `finish_apply` must follow the last."""
        # Every write of one run carries the same time, whichever type it belongs to.
        now = self.applied_at = self.applied_at or utcnow()
        self._write_visible(type_plan, now)
        if statements_made:
            self._write_records(type_plan, now)
        self._write_conflicts(type_plan, now)
        self._write_missing(type_plan, now)
        self.records_written += records_of(type_plan)
        self.progress("writing", self.records_written, max(self.to_write, self.records_written))

    def finish_apply(self) -> int:
        """After the last type: the audit rows still pending, and the search documents of what changed.
        Returns the audit rows of visible values the run wrote."""
        self._refresh_search()
        return self.written

    def _write_records(self, type_plan: TypePlan, now: datetime) -> None:
        object_type = type_plan.object_type
        run_id = self.run.id if self.run else None
        inserts: list[dict[str, Any]] = []
        # What every new record of this type has in common, written once per chunk.
        shared = {
            "source_id": self.source.id,
            "object_type": object_type.name,
            "first_seen_at": now,
            "last_seen_at": now,
            "last_run_id": run_id,
        }
        changed: list[dict[str, Any]] = []
        confirmed: list[int] = []
        for key, payload in type_plan.new_payloads.items():
            mine = type_plan.mine.get(key)
            if len(inserts) >= WRITE_CHUNK:  # rows are written as they are built: memory stays flat
                insert_rows(self.session, SourceRecord, inserts, shared=shared)
                inserts = []
            if mine is None:
                inserts.append(
                    {
                        "natural_key": object_type.natural_key(key),
                        "payload": payload,
                        "field_runs": dict.fromkeys(payload, run_id),
                        "fingerprint": type_plan.fingerprints.get(key),
                    }
                )
            elif (
                payload != mine.payload
                or mine.missing_since is not None
                or mine.fingerprint != type_plan.fingerprints.get(key)
            ):
                runs = {
                    name: (mine.field_runs.get(name) if mine.payload.get(name) == value else run_id)
                    for name, value in payload.items()
                }
                changed.append(
                    {
                        "id": mine.id,
                        "payload": payload,
                        "field_runs": runs,
                        "last_seen_at": now,
                        "last_run_id": run_id,
                        "missing_since": None,
                        "fingerprint": type_plan.fingerprints.get(key),
                    }
                )
            else:
                confirmed.append(mine.id)  # type: ignore[arg-type]
        insert_rows(self.session, SourceRecord, inserts, shared=shared)
        update_rows(self.session, SourceRecord, changed)
        unchanged = [*confirmed, *type_plan.confirmed]
        if unchanged and self._stated_every_record(type_plan):
            self._confirm_every_record(object_type, now)
            unchanged = []
        for chunk in chunks(unchanged, 10_000):
            self.session.execute(
                update(SourceRecord)
                .where(SourceRecord.id.in_(chunk))
                .values(last_seen_at=now)
                .execution_options(synchronize_session=False)
            )
        for key in type_plan.present:
            self._audit(object_type.name, key, None, "present", None, None, now)

    def _stated_every_record(self, type_plan: TypePlan) -> bool:
        """Whether this run stated every record of the type its source has (those it marks missing aside)."""
        present = self.session.scalar(
            select(func.count()).where(
                SourceRecord.source_id == self.source.id,
                SourceRecord.object_type == type_plan.object_type.name,
                SourceRecord.missing_since.is_(None),
            )
        )
        return (present or 0) - len(type_plan.missing) == len(type_plan.new_payloads) + len(type_plan.confirmed)

    def _confirm_every_record(self, object_type: ObjectType, now: datetime) -> None:
        """One row confirms them all (`SourceConfirmation`): rewriting each record's `last_seen_at` cost
        an unchanged re-import of a large workbook several seconds."""
        confirmation = self.session.scalar(
            select(SourceConfirmation).where(
                SourceConfirmation.source_id == self.source.id, SourceConfirmation.object_type == object_type.name
            )
        )
        if confirmation is None:
            confirmation = SourceConfirmation(source_id=self.source.id, object_type=object_type.name)
            self.session.add(confirmation)
        confirmation.confirmed_at = now
        confirmation.run_id = self.run.id if self.run else None
        self.session.flush()

    def _write_visible(self, type_plan: TypePlan, now: datetime) -> None:
        object_type = type_plan.object_type
        store = STORES[object_type.name]
        if type_plan.creates:
            items = list(type_plan.creates.items())
            # Entities refer to each other (parents): they are created together, and they are few.
            size = len(items) if object_type.name == "entity" else WRITE_CHUNK
            # The ids of every chunk at once: a statement per chunk would wait for the writes behind.
            with reserving_ids(self.session, store.model, len(items)):
                for chunk in chunks(items, size):
                    store.create(self.session, self.refs, chunk)
                    # Audited while the server writes them (`bulk.writing_behind`).
                    for key, values in chunk:
                        stated = {name: value for name, value in values.items() if value is not None}
                        stated_json = orjson.dumps(stated, option=orjson.OPT_SORT_KEYS).decode()
                        self._audit(object_type.name, key, None, "create", None, stated_json, now)
                        self._touch(object_type.name, key)
        if type_plan.updates:
            store.update(
                self.session,
                self.refs,
                [(current.id, key, values) for key, (current, values) in type_plan.updates.items()],
            )
            for key, (current, values) in type_plan.updates.items():
                for name, value in values.items():
                    self._audit(object_type.name, key, name, "update", type_plan.old_values[key][name], value, now)
                self._touch(object_type.name, key, current.id)

    def _touch(self, object_type: str, key: Key, id_: int | None = None) -> None:
        if trigram := owning_application(object_type, key):
            self.touched_applications.add(trigram)
        if object_type == "interface":
            self.touched_applications.add(key[1])
        if object_type == "person" and id_ is not None:
            self.touched_people.add(id_)
        if object_type == "entity":
            self.touched_entities = True

    def _write_conflicts(self, type_plan: TypePlan, now: datetime) -> None:
        object_type = type_plan.object_type
        keys = set(type_plan.contested) | set(type_plan.settled)
        if not keys:
            return
        latest: dict[tuple[str, str], Conflict] = {}
        names = sorted({object_type.natural_key(key) for key in keys})
        for chunk in chunks(names):
            rows = self.session.scalars(
                select(Conflict)
                .where(Conflict.object_type == object_type.name, Conflict.natural_key.in_(chunk))
                .order_by(Conflict.id)
            )
            for conflict in rows:
                latest[(conflict.natural_key, conflict.field)] = conflict
        for key, contested in type_plan.contested.items():
            natural_key = object_type.natural_key(key)
            for name, candidates in contested.items():
                self._record_conflict(object_type, key, name, candidates, latest.get((natural_key, name)), now)
        for key, settled in type_plan.settled.items():
            natural_key = object_type.natural_key(key)
            for name in settled:
                existing = latest.get((natural_key, name))
                if existing is not None and existing.status == "open":
                    existing.status = "resolved"
                    existing.resolution = "agreed"
                    existing.resolved_at = now
                    existing.resolved_by = self.actor
                    existing.updated_at = now

    def _record_conflict(
        self,
        object_type: ObjectType,
        key: Key,
        name: str,
        candidates: list[Candidate],
        existing: Conflict | None,
        now: datetime,
    ) -> None:
        print_ = fingerprint(candidates)
        listed = [{"source": c.source.name, "value": c.value, "precedence": c.precedence} for c in candidates]
        if existing is not None and existing.status == "open":
            existing.candidates = listed
            existing.fingerprint = print_
            existing.winning_source_id = candidates[0].source.id
            existing.updated_at = now
            return
        if existing is not None and existing.fingerprint == print_:
            return  # resolved, and nobody changed their statement since
        self.session.add(
            Conflict(
                object_type=object_type.name,
                natural_key=object_type.natural_key(key),
                application=owning_application(object_type.name, key),
                field=name,
                status="open",
                candidates=listed,
                fingerprint=print_,
                winning_source_id=candidates[0].source.id,
                opened_at=now,
                updated_at=now,
            )
        )

    def recompute(self) -> Plan:
        """Every field this source states, decided again (after its precedence changed): the visible
        values and the conflicts follow the new order. Nothing the source said is changed."""
        outcomes: list[Outcome] = []
        types: dict[str, TypePlan] = {}
        for name, object_type in OBJECT_TYPES.items():
            type_plan = TypePlan(object_type)
            type_plan.mine = self._load_mine_all(object_type)
            type_plan.open_conflicts = self._load_open_conflicts(object_type)
            if not type_plan.mine:
                continue
            keys = list(type_plan.mine)
            visible = STORES[name].load(self.session, keys)
            others = self._load_others(object_type, keys)
            for position, key in enumerate(keys):
                payload = type_plan.mine[key].payload
                if key not in visible or not payload:
                    continue
                outcome = Outcome(Statement(name, key, dict(payload), position))
                type_plan.new_payloads[key] = payload
                self._decide(type_plan, outcome, visible[key], set(payload), others.get(key, []))
                outcomes.append(outcome)
            types[name] = type_plan
        return Plan(self.source, outcomes, types, snapshot=False)

    def _load_mine_all(self, object_type: ObjectType) -> dict[Key, RecordState]:
        rows = self.session.execute(
            select(SourceRecord.natural_key, SourceRecord.id, SourceRecord.payload, SourceRecord.field_runs).where(
                SourceRecord.source_id == self.source.id, SourceRecord.object_type == object_type.name
            )
        )
        return {
            object_type.split_key(natural_key): RecordState(id_, self.source.id, payload or {}, field_runs or {})
            for natural_key, id_, payload, field_runs in rows
        }

    def mark_missing(self, object_type: str, seen_before: datetime) -> int:
        """Mark missing this source's records of `object_type` not seen since `seen_before` (a snapshot
        spanning several batches began then); returns how many, each with its audit row."""
        type_plan = TypePlan(OBJECT_TYPES[object_type])
        confirmed_since = self.session.scalar(
            select(SourceConfirmation.id).where(
                SourceConfirmation.source_id == self.source.id,
                SourceConfirmation.object_type == object_type,
                SourceConfirmation.confirmed_at >= seen_before,
            )
        )
        if confirmed_since is not None:  # one batch of the snapshot stated every record of this type
            return 0
        rows = self.session.scalars(
            select(SourceRecord.natural_key).where(
                SourceRecord.source_id == self.source.id,
                SourceRecord.object_type == object_type,
                SourceRecord.last_seen_at < seen_before,
                SourceRecord.missing_since.is_(None),
            )
        )
        type_plan.missing = [type_plan.object_type.split_key(natural_key) for natural_key in rows]
        self._write_missing(type_plan, utcnow())
        self.flush_audit()
        return len(type_plan.missing)

    def _write_missing(self, type_plan: TypePlan, now: datetime) -> None:
        object_type = type_plan.object_type
        names = [object_type.natural_key(key) for key in type_plan.missing]
        for chunk in chunks(names):
            self.session.execute(
                update(SourceRecord)
                .where(
                    SourceRecord.source_id == self.source.id,
                    SourceRecord.object_type == object_type.name,
                    SourceRecord.natural_key.in_(chunk),
                )
                .values(missing_since=now)
                .execution_options(synchronize_session=False)
            )
        for key in type_plan.missing:
            self._audit(object_type.name, key, None, "missing", None, None, now)

    def _audit(
        self,
        object_type: str,
        key: Key,
        name: str | None,
        operation: str,
        old: str | None,
        new: str | None,
        now: datetime,
    ) -> None:
        self.pending_audit.append(
            {
                "at": now,
                "object_type": object_type,
                "natural_key": OBJECT_TYPES[object_type].natural_key(key),
                "application": owning_application(object_type, key),
                "field": name,
                "operation": operation,
                "old_value": old,
                "new_value": new,
            }
        )
        if len(self.pending_audit) >= 5000:
            self.flush_audit()

    def flush_audit(self) -> None:
        if self.pending_audit:
            shared = {
                "actor": self.actor,
                "user_id": self.user_id,
                "token_id": self.token_id,
                "source_id": self.source.id,
                "run_id": self.run.id if self.run else None,
            }
            insert_rows(self.session, Change, self.pending_audit, shared=shared)
            self.written += sum(1 for row in self.pending_audit if row["operation"] in ("create", "update"))
            self.pending_audit = []

    def _refresh_search(self) -> None:
        self.flush_audit()
        trigrams = set(self.touched_applications)
        ids = set(self.refs.applications[t] for t in trigrams if t in self.refs.applications)
        self.refs.load_applications(t for t in trigrams if t not in self.refs.applications)
        ids |= {self.refs.applications[t] for t in trigrams if t in self.refs.applications}
        if self.touched_people:
            for chunk in chunks(sorted(self.touched_people)):
                ids.update(
                    self.session.scalars(select(Stakeholder.application_id).where(Stakeholder.person_id.in_(chunk)))
                )
        if self.touched_entities:
            ids.update(self.session.scalars(select(Application.id).where(Application.entity_id.is_not(None))))
        refresh_applications(self.session, ids)
