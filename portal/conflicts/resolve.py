"""Resolving a conflict: keep the winner, choose another source's value, or pin a new value.

Choosing or pinning is a statement of the `manual` source (the highest precedence by default), made
through the merge like any portal edit, so the value is audited and its provenance reads "manual". The
conflict then records who resolved it, how, and the set of statements it settled (its fingerprint):
it stays resolved until one of the sources says something new.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from portal.changes.models import Change
from portal.conflicts.models import Conflict
from portal.core.models import utcnow
from portal.imports.merge import Statement
from portal.imports.runs import Actor, PlanHasErrors, execute, open_run
from portal.imports.schema import OBJECT_TYPES
from portal.sources.models import MANUAL_SOURCE, Source


class ResolutionError(ValueError):
    """The resolution cannot be applied; the message says why (a value the field refuses, a stale choice)."""


@dataclass(frozen=True)
class Resolution:
    """What the steward chose: `kept` (the winner), `chose` (the value of `source`) or `pinned` (`value`)."""

    how: str
    source: str | None = None
    value: str | None = None
    note: str | None = None


def resolve(session: Session, conflict: Conflict, resolution: Resolution, actor: Actor) -> None:
    """Apply `resolution` in the caller's transaction. Raises `ResolutionError`, writing nothing."""
    if conflict.status != "open":
        raise ResolutionError("This conflict is already resolved.")
    winner = conflict.candidates[0]
    value, how = _chosen_value(conflict, resolution)
    if how != "kept":
        _state_manually(session, conflict, value, actor)
    now = utcnow()
    conflict.status = "resolved"
    conflict.resolution = how
    conflict.resolution_value = value if how != "kept" else winner["value"]
    conflict.resolved_by = actor.label
    conflict.resolved_at = now
    conflict.updated_at = now
    conflict.note = (resolution.note or "").strip()[:2000] or None
    session.execute(
        insert(Change).values(
            at=now,
            actor=actor.label,
            user_id=actor.user_id,
            token_id=actor.token_id,
            object_type=conflict.object_type,
            natural_key=conflict.natural_key,
            application=conflict.application,
            field=conflict.field,
            operation="resolve",
            old_value=None,
            new_value=f"{how}: {conflict.resolution_value}",
        )
    )


def _chosen_value(conflict: Conflict, resolution: Resolution) -> tuple[str, str]:
    winner = conflict.candidates[0]
    if resolution.how == "kept":
        return winner["value"], "kept"
    if resolution.how == "chose":
        chosen = next((c for c in conflict.candidates if c["source"] == resolution.source), None)
        if chosen is None:
            raise ResolutionError(f"Source {resolution.source!r} takes no part in this conflict (any more).")
        return chosen["value"], "kept" if chosen is winner else "chose"
    if resolution.how == "pinned":
        column = next(c for c in OBJECT_TYPES[conflict.object_type].fields if c.name == conflict.field)
        if not (resolution.value or "").strip():
            raise ResolutionError("Type the value to pin.")
        try:
            value = column.parse(resolution.value)
        except ValueError as error:
            raise ResolutionError(f"{column.header} {error}.") from None
        return value or "", "pinned"
    raise ResolutionError(f"Unknown resolution {resolution.how!r}.")


def _state_manually(session: Session, conflict: Conflict, value: str, actor: Actor) -> None:
    """The manual source states `value` for the conflict's field, through the merge (audited, with provenance)."""
    manual = session.scalars(select(Source).where(Source.name == MANUAL_SOURCE)).one()
    object_type = OBJECT_TYPES[conflict.object_type]
    run = open_run(session, manual, "resolution", actor)
    statement = Statement(object_type.name, object_type.split_key(conflict.natural_key), {conflict.field: value}, 0)
    try:
        execute(session, run, [statement])
    except PlanHasErrors as error:
        reasons = "; ".join(e["reason"] for outcome in error.plan.outcomes for e in outcome.statement.errors)
        raise ResolutionError(f"The value cannot be applied: {reasons}.") from None
