"""The editor's form on the application page: what changed becomes a statement of the `manual` source.

A manual edit goes through the merge like any source (precedence, conflicts, audit log, provenance).
Emptying a field withdraws the manual statement of it, so the field shows what the other sources say.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.imports.merge import Plan, Statement
from portal.imports.runs import Actor, PlanHasErrors, execute, open_run
from portal.imports.schema import OBJECT_TYPES, InvalidValue
from portal.imports.visible import STORES
from portal.sources.models import MANUAL_SOURCE, Source

APPLICATION = OBJECT_TYPES["application"]
EDITABLE = tuple(column for column in APPLICATION.fields)
# The browser's own widget for the fields that have one (a date picker, URL checks); text otherwise.
INPUT_TYPES = {"go_live": "date", "end_of_support": "date", "decommission": "date", "documentation_url": "url"}


@dataclass
class EditForm:
    """The form's values as typed (canonical text once read) and the errors to show beside each field."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)


def current_values(session: Session, trigram: str) -> dict[str, str]:
    visible = STORES["application"].load(session, [(trigram,)])[(trigram,)]
    return {name: value or "" for name, value in visible.values.items()}


def read_form(form: dict[str, str]) -> EditForm:
    """Each editable field read through the schema; errors name what is wrong, in the field's words."""
    edit = EditForm({column.name: (form.get(column.name) or "").strip() for column in EDITABLE})
    for column in EDITABLE:
        try:
            edit.values[column.name] = column.parse(edit.values[column.name]) or ""
        except InvalidValue as error:
            edit.errors[column.name] = f"{column.header} {error}."
    if not edit.values["name"] and "name" not in edit.errors:
        edit.errors["name"] = "Name is required."
    return edit


def save_edit(session: Session, trigram: str, edit: EditForm, actor: Actor) -> Plan | None:
    """State the changed fields as the manual source; None when nothing changed. Errors go into `edit`."""
    before = current_values(session, trigram)
    changed = {name: (value or None) for name, value in edit.values.items() if value != before.get(name, "")}
    if not changed:
        return None
    manual = session.scalars(select(Source).where(Source.name == MANUAL_SOURCE)).one()
    try:
        with session.begin_nested():  # a refused edit leaves no run behind
            run = open_run(session, manual, "edit", actor)
            return execute(session, run, [Statement("application", (trigram,), changed, 0)])
    except PlanHasErrors as refused:
        names = {column.header: column.name for column in APPLICATION.columns}
        for error in refused.plan.outcomes[0].statement.errors:
            edit.errors[names.get(error["column"], "name")] = f"{error['column']}: {error['reason']}."
        return None
