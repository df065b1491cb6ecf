"""A test helper: make a source say something, through the same path as every real source."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from portal.imports.merge import Plan, Statement
from portal.imports.runs import Actor, execute, open_run
from portal.sources.models import Source


def state(session: Session, source: Source, object_type: str, key: tuple[str, ...], **values: Any) -> Plan:
    """`source` states `values` about one object (applied, in the test's transaction)."""
    run = open_run(session, source, "push", Actor("test-pusher"))
    plan = execute(session, run, [Statement(object_type, key, values, 0)])
    session.flush()
    return plan
