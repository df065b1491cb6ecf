"""The merge engine: precedence per field, conflicts, snapshots, errors and the audit log, on both engines."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from portal.applications.models import Application
from portal.changes.models import Change
from portal.conflicts.models import Conflict
from portal.core.models import utcnow
from portal.imports.merge import READING_ORDER, Merge, Statement
from portal.imports.runs import Actor, PlanHasErrors, execute, open_run
from portal.imports.schema import OBJECT_TYPES
from portal.people.models import Person, Stakeholder
from portal.sources.models import Source, SourceConfirmation, SourceRecord
from tests.unit.builders import make_application, make_entity, make_source, manual_source

ALICE = Actor("alice", None, None)


def push(session: Session, source: Source, *statements: Statement, **options) -> object:
    run = open_run(session, source, "push", ALICE)
    plan = execute(session, run, list(statements), **options)
    session.flush()
    return plan


def app_statement(trigram: str, position: int = 0, **values: str | None) -> Statement:
    return Statement("application", (trigram,), values, position)


def visible(session: Session, trigram: str) -> Application:
    session.expire_all()
    return session.scalars(select(Application).where(Application.trigram == trigram)).one()


def changes_of(session: Session, natural_key: str) -> list[tuple[str, str | None, str | None, str | None]]:
    rows = session.execute(
        select(Change.operation, Change.field, Change.old_value, Change.new_value)
        .where(Change.natural_key == natural_key)
        .order_by(Change.id)
    )
    return [tuple(row) for row in rows]


def test_a_new_application_is_created_with_its_record_and_one_audit_row(session):
    cmdb = make_source(session, "cmdb")

    plan = push(session, cmdb, app_statement("zqa", name="Zebra", status="build"))

    assert [outcome.action for outcome in plan.outcomes] == ["create"]
    assert (visible(session, "ZQA").name, visible(session, "ZQA").status) == ("Zebra", "build")
    record = session.scalars(select(SourceRecord).where(SourceRecord.natural_key == "ZQA")).one()
    assert record.payload == {"name": "Zebra", "status": "build"}
    [(operation, field, old, new)] = changes_of(session, "ZQA")
    assert (operation, field, old) == ("create", None, None)
    assert json.loads(new) == {"name": "Zebra", "status": "build"}


def test_sending_the_same_statement_again_changes_nothing(session):
    cmdb = make_source(session, "cmdb")
    push(session, cmdb, app_statement("ZQA", name="Zebra"))

    plan = push(session, cmdb, app_statement("ZQA", name="Zebra"))

    assert [outcome.action for outcome in plan.outcomes] == ["unchanged"]
    assert len(changes_of(session, "ZQA")) == 1


def test_an_update_writes_one_audit_row_per_changed_field(session):
    make_application(session, "ZQA", "Zebra", description="Old")
    cmdb = make_source(session, "cmdb")

    push(session, cmdb, app_statement("ZQA", name="Zebra", description="New", criticality="high"))

    assert visible(session, "ZQA").description == "New"
    assert sorted(changes_of(session, "ZQA")) == [
        ("update", "criticality", None, "high"),
        ("update", "description", "Old", "New"),
    ]


def test_a_lower_precedence_source_never_overwrites_a_higher_one_and_a_conflict_opens(session):
    manual = manual_source(session)
    cmdb = make_source(session, "cmdb", precedence=50)
    push(session, manual, app_statement("ZQA", name="Zebra by hand"))

    plan = push(session, cmdb, app_statement("ZQA", name="Zebra from the CMDB"))

    assert visible(session, "ZQA").name == "Zebra by hand"
    assert plan.outcomes[0].action == "conflict"
    conflict = session.scalars(select(Conflict)).one()
    assert (conflict.natural_key, conflict.field, conflict.status) == ("ZQA", "name", "open")
    assert [(c["source"], c["value"]) for c in conflict.candidates] == [
        ("manual", "Zebra by hand"),
        ("cmdb", "Zebra from the CMDB"),
    ]


def test_a_higher_precedence_source_arriving_later_wins(session):
    low = make_source(session, "low", precedence=10)
    high = make_source(session, "high", precedence=90)
    push(session, low, app_statement("ZQA", name="Low name"))

    push(session, high, app_statement("ZQA", name="High name"))

    assert visible(session, "ZQA").name == "High name"
    assert ("update", "name", "Low name", "High name") in changes_of(session, "ZQA")


def test_a_per_field_override_makes_a_source_win_that_field_only(session):
    cmdb = make_source(session, "cmdb", precedence=60)
    monitoring = make_source(session, "monitoring", precedence=40, field_precedence={"application.status": 90})
    push(session, cmdb, app_statement("ZQA", name="CMDB name", status="build"))

    push(session, monitoring, app_statement("ZQA", name="Monitoring name", status="production"))

    application = visible(session, "ZQA")
    assert (application.name, application.status) == ("CMDB name", "production")


def test_equal_precedence_is_won_by_the_source_registered_first(session):
    first = make_source(session, "first")
    second = make_source(session, "second")
    push(session, second, app_statement("ZQA", name="Second"))

    push(session, first, app_statement("ZQA", name="First"))

    assert visible(session, "ZQA").name == "First"


def test_a_withdrawn_statement_falls_back_to_the_next_source(session):
    high = make_source(session, "high", precedence=90)
    low = make_source(session, "low", precedence=10)
    push(session, low, app_statement("ZQA", name="Zebra", description="Low description"))
    push(session, high, app_statement("ZQA", name="Zebra", description="High description"))

    push(session, high, app_statement("ZQA", description=None))

    assert visible(session, "ZQA").description == "Low description"


def test_a_withdrawn_statement_nobody_else_makes_clears_the_field_but_never_a_required_one(session):
    cmdb = make_source(session, "cmdb")
    push(session, cmdb, app_statement("ZQA", name="Zebra", description="Something"))

    push(session, cmdb, app_statement("ZQA", name=None, description=None))

    application = visible(session, "ZQA")
    assert (application.name, application.description) == ("Zebra", None)


def test_a_field_no_source_ever_stated_keeps_its_value(session):
    make_application(session, "ZQA", "Zebra", description="Typed in before sources existed")
    cmdb = make_source(session, "cmdb")

    push(session, cmdb, app_statement("ZQA", status="build"))

    assert visible(session, "ZQA").description == "Typed in before sources existed"


def test_sources_that_come_to_agree_close_their_conflict(session):
    cmdb = make_source(session, "cmdb", precedence=60)
    ldap = make_source(session, "ldap", precedence=40)
    push(session, cmdb, app_statement("ZQA", name="Zebra"))
    push(session, ldap, app_statement("ZQA", name="Zebre"))

    push(session, ldap, app_statement("ZQA", name="Zebra"))

    conflict = session.scalars(select(Conflict)).one()
    assert (conflict.status, conflict.resolution) == ("resolved", "agreed")


def test_a_conflict_is_kept_up_to_date_rather_than_duplicated(session):
    cmdb = make_source(session, "cmdb", precedence=60)
    ldap = make_source(session, "ldap", precedence=40)
    push(session, cmdb, app_statement("ZQA", name="Zebra"))
    push(session, ldap, app_statement("ZQA", name="Zebre"))

    push(session, ldap, app_statement("ZQA", name="Zebro"))

    conflict = session.scalars(select(Conflict)).one()
    assert conflict.status == "open"
    assert [c["value"] for c in conflict.candidates] == ["Zebra", "Zebro"]


def test_a_snapshot_marks_what_it_no_longer_mentions_as_missing_and_deletes_nothing(session):
    cmdb = make_source(session, "cmdb")
    push(session, cmdb, app_statement("ZQA", name="Zebra"), app_statement("ZQB", 1, name="Zebu"), snapshot=True)

    plan = push(session, cmdb, app_statement("ZQA", name="Zebra"), snapshot=True)

    assert plan.counts["missing"] == 1
    record = session.scalars(select(SourceRecord).where(SourceRecord.natural_key == "ZQB")).one()
    assert record.missing_since is not None
    assert visible(session, "ZQB").name == "Zebu"
    assert changes_of(session, "ZQB")[-1][0] == "missing"


def test_a_missing_record_mentioned_again_is_present(session):
    cmdb = make_source(session, "cmdb")
    push(session, cmdb, app_statement("ZQA", name="Zebra"), app_statement("ZQB", 1, name="Zebu"), snapshot=True)
    push(session, cmdb, app_statement("ZQA", name="Zebra"), snapshot=True)

    push(session, cmdb, app_statement("ZQB", name="Zebu"))

    record = session.scalars(select(SourceRecord).where(SourceRecord.natural_key == "ZQB")).one()
    assert record.missing_since is None
    assert changes_of(session, "ZQB")[-1][0] == "present"


def test_a_delta_marks_nothing_missing(session):
    cmdb = make_source(session, "cmdb")
    push(session, cmdb, app_statement("ZQA", name="Zebra"), app_statement("ZQB", 1, name="Zebu"))

    plan = push(session, cmdb, app_statement("ZQA", name="Zebra"))

    assert plan.counts["missing"] == 0


def test_records_with_errors_apply_nothing_unless_partial(session):
    cmdb = make_source(session, "cmdb")
    statements = [app_statement("ZQA", name="Zebra"), app_statement("ZQB", 1, name="Zebu", entity="NOPE")]

    with pytest.raises(PlanHasErrors):
        push(session, cmdb, *statements)

    assert session.scalar(select(func.count()).select_from(Application).where(Application.trigram == "ZQA")) == 0
    assert session.scalar(select(func.count()).select_from(Change)) == 0


def test_partial_applies_only_the_valid_records(session):
    cmdb = make_source(session, "cmdb")

    statements = [app_statement("ZQA", name="Zebra"), app_statement("ZQB", 1, name="Zebu", entity="NOPE")]

    plan = push(session, cmdb, *statements, partial=True)

    assert [outcome.action for outcome in plan.outcomes] == ["create", "error"]
    assert plan.outcomes[1].statement.errors == [{"column": "Entity", "value": "NOPE", "reason": "unknown entity NOPE"}]
    assert visible(session, "ZQA").name == "Zebra"
    assert session.scalar(select(func.count()).select_from(Application).where(Application.trigram == "ZQB")) == 0


def test_a_new_object_needs_its_required_fields(session):
    cmdb = make_source(session, "cmdb")

    plan = push(session, cmdb, app_statement("ZQA", status="build"), partial=True)

    assert plan.outcomes[0].action == "error"
    assert plan.outcomes[0].statement.errors[0]["reason"] == "required to create this application"
    assert session.scalar(select(func.count()).select_from(SourceRecord)) == 0


def test_a_key_twice_in_one_run_is_an_error_on_the_second(session):
    cmdb = make_source(session, "cmdb")

    plan = push(session, cmdb, app_statement("ZQA", name="One"), app_statement("ZQA", 1, name="Two"), partial=True)

    assert [outcome.action for outcome in plan.outcomes] == ["create", "error"]
    assert "duplicate key" in plan.outcomes[1].statement.errors[0]["reason"]


def test_children_refer_to_parents_created_by_the_same_run(session):
    cmdb = make_source(session, "cmdb")

    plan = push(
        session,
        cmdb,
        Statement("entity", ("DSI",), {"name": "DSI", "kind": "division"}, 0),
        Statement("entity", ("DSI-ETU",), {"name": "Etudes", "kind": "team", "parent": "DSI"}, 1),
        app_statement("ZQA", 2, name="Zebra", entity="DSI-ETU"),
        Statement("environment", ("ZQA", "prod"), {"kind": "prod", "url": "https://zqa.bank.example"}, 3),
        Statement("component", ("ZQA", "prod", "server", "srv-zqa-01"), {"details": "os=RHEL 9"}, 4),
        Statement("stakeholder", ("ZQA", "jdoe", "owner"), {"name": "Jane Doe", "email": "jane@bank.example"}, 5),
    )

    assert {outcome.action for outcome in plan.outcomes} == {"create"}
    application = visible(session, "ZQA")
    assert application.entity.code == "DSI-ETU" and application.entity.parent.code == "DSI"
    assert [(e.name, e.kind) for e in application.environments] == [("prod", "prod")]
    assert application.environments[0].components[0].attributes == {"os": "RHEL 9"}
    person = session.scalars(select(Person).where(Person.login == "jdoe")).one()
    assert (person.display_name, person.email) == ("Jane Doe", "jane@bank.example")
    assert session.scalar(select(func.count()).select_from(Stakeholder).where(Stakeholder.person_id == person.id)) == 1


def test_a_stakeholder_row_sent_again_is_read_only_when_it_names_the_person(session):
    make_application(session, "ZQA")
    cmdb = make_source(session, "cmdb")

    def stakeholders() -> list[Statement]:
        return [
            Statement("stakeholder", ("ZQA", "jdoe", "owner"), {"name": "Jane Doe"}, 0),
            Statement("stakeholder", ("ZQA", "jdoe", "support"), {"name": " ", "email": None}, 1),
        ]

    push(session, cmdb, *stakeholders())
    plan = push(session, cmdb, *stakeholders())

    # The row naming Jane is read again (what it says about her still counts); the other is confirmed unread.
    stakeholder = plan.types["stakeholder"]
    assert list(stakeholder.new_payloads) == [("ZQA", "jdoe", "owner")] and len(stakeholder.confirmed) == 1
    assert {outcome.action for outcome in plan.outcomes} == {"unchanged"}
    assert session.scalars(select(Person.display_name).where(Person.login == "jdoe")).one() == "Jane Doe"


def test_a_stakeholder_of_an_unknown_person_without_a_name_is_refused(session):
    make_application(session, "ZQA")
    cmdb = make_source(session, "cmdb")

    plan = push(session, cmdb, Statement("stakeholder", ("ZQA", "ghost", "owner"), {}, 0), partial=True)

    assert plan.outcomes[0].statement.errors[0]["reason"] == "unknown person ghost: give their Name"


def test_a_component_of_an_unknown_environment_is_refused(session):
    make_application(session, "ZQA")
    cmdb = make_source(session, "cmdb")

    plan = push(session, cmdb, Statement("component", ("ZQA", "prod", "server", "srv1"), {}, 0), partial=True)

    assert plan.outcomes[0].statement.errors[0]["reason"] == "ZQA has no environment prod"


def test_an_entity_cannot_be_its_own_parent(session):
    cmdb = make_source(session, "cmdb")

    own_parent = Statement("entity", ("X",), {"name": "X", "kind": "team", "parent": "X"}, 0)

    plan = push(session, cmdb, own_parent, partial=True)

    assert plan.outcomes[0].action == "error"


def test_a_dry_run_writes_no_value_record_or_audit_row(session):
    make_entity(session, "DSI")
    cmdb = make_source(session, "cmdb")

    plan = push(session, cmdb, app_statement("ZQA", name="Zebra", entity="DSI"), dry_run=True)

    assert plan.outcomes[0].action == "create"
    assert session.scalar(select(func.count()).select_from(Application).where(Application.trigram == "ZQA")) == 0
    assert session.scalar(select(func.count()).select_from(SourceRecord)) == 0
    assert session.scalar(select(func.count()).select_from(Change)) == 0


def test_audit_rows_are_written_in_the_same_transaction_as_the_values(session):
    cmdb = make_source(session, "cmdb")
    savepoint = session.begin_nested()
    push(session, cmdb, app_statement("ZQA", name="Zebra"))
    assert session.scalar(select(func.count()).select_from(Change)) == 1

    savepoint.rollback()

    assert session.scalar(select(func.count()).select_from(Change)) == 0
    assert session.scalar(select(func.count()).select_from(Application).where(Application.trigram == "ZQA")) == 0


@pytest.mark.parametrize("statement", ["UPDATE change SET actor = 'mallory'", "DELETE FROM change"])
def test_the_audit_log_refuses_updates_and_deletes(session, statement):
    cmdb = make_source(session, "cmdb")
    push(session, cmdb, app_statement("ZQA", name="Zebra"))
    savepoint = session.begin_nested()

    with pytest.raises((DBAPIError, IntegrityError), match="append-only"):
        session.execute(text(statement))

    savepoint.rollback()


def test_the_search_finds_what_a_source_created(session):
    from portal.applications.queries import ApplicationFilters
    from portal.applications.search import search_applications
    from portal.core.pagination import PageRequest

    cmdb = make_source(session, "cmdb")
    push(session, cmdb, app_statement("ZQA", name="Zanzibar ledger"))

    page = search_applications(session, ApplicationFilters(q="zanzibar"), PageRequest(1, 10))

    assert [row["trigram"] for row in page.results] == ["ZQA"]


def test_a_large_run_keeps_every_character_of_every_value(session):
    """Past a few hundred rows PostgreSQL is written with COPY: tabs, newlines and backslashes must survive."""
    cmdb = make_source(session, "cmdb")
    tricky = 'Tab\there, new\nline, back\\slash \\N, "quotes", accents é, emoji 🦓'
    statements = [
        app_statement(f"ZQA{index:03d}", index, name=f"App {index}", description=tricky) for index in range(300)
    ]
    statements += [
        Statement("environment", (f"ZQA{index:03d}", "prod"), {"kind": "prod"}, 300 + index) for index in range(300)
    ]
    statements += [
        Statement("component", (f"ZQA{index:03d}", "prod", "server", f"srv-{index}"), {}, 600 + index)
        for index in range(300)
    ]

    plan = push(session, cmdb, *statements)

    assert plan.counts["create"] == 900
    session.expire_all()
    application = session.scalars(select(Application).where(Application.trigram == "ZQA123")).one()
    assert [component.name for component in application.environments[0].components] == ["srv-123"]
    descriptions = set(session.scalars(select(Application.description).where(Application.name.like("App %"))))
    assert descriptions == {tricky}
    payloads = session.scalars(
        select(SourceRecord.payload).where(SourceRecord.source_id == cmdb.id, SourceRecord.object_type == "application")
    ).all()
    assert len(payloads) == 300 and all(payload["description"] == tricky for payload in payloads)
    created = session.scalars(
        select(Change.new_value).where(Change.operation == "create", Change.object_type == "application")
    ).all()
    assert len(created) == 300 and all(json.loads(value)["description"] == tricky for value in created)


def test_a_statement_sent_again_unchanged_is_confirmed_without_being_read(session):
    cmdb = make_source(session, "cmdb")
    push(session, cmdb, app_statement(" zqa", name="Zebra"), app_statement("ZQB", 1, name="Zebu"))
    before = session.scalar(select(SourceRecord.last_confirmed_at).where(SourceRecord.natural_key == "ZQA"))

    plan = push(session, cmdb, app_statement(" zqa", name="Zebra"), app_statement("ZQB", 1, name="Zebu"), snapshot=True)

    assert [(o.statement.key, o.action) for o in plan.outcomes] == [(("ZQA",), "unchanged"), (("ZQB",), "unchanged")]
    assert plan.types["application"].confirmed and not plan.types["application"].new_payloads
    assert plan.counts["missing"] == 0
    session.expire_all()
    assert session.scalar(select(SourceRecord.last_confirmed_at).where(SourceRecord.natural_key == "ZQA")) > before


def confirmed_at(session: Session, natural_key: str) -> tuple[datetime, datetime]:
    """A record's own `last_seen_at` and its last confirmation."""
    session.expire_all()
    record = session.scalars(select(SourceRecord).where(SourceRecord.natural_key == natural_key)).one()
    return record.last_seen_at, record.last_confirmed_at


def test_a_run_stating_every_record_of_its_source_confirms_them_all_with_one_row(session):
    cmdb = make_source(session, "cmdb")
    push(session, cmdb, app_statement("ZQA", name="Zebra"), app_statement("ZQB", 1, name="Zebu"))
    seen, _ = confirmed_at(session, "ZQA")

    push(session, cmdb, app_statement("ZQA", name="Zebra"), app_statement("ZQB", 1, name="Zebu"))

    confirmation = session.scalars(select(SourceConfirmation)).one()
    assert (confirmation.source_id, confirmation.object_type) == (cmdb.id, "application")
    assert confirmed_at(session, "ZQA") == (seen, confirmation.confirmed_at)  # the record itself was not rewritten
    assert confirmation.confirmed_at > seen


def test_a_run_stating_some_records_confirms_only_those(session):
    cmdb = make_source(session, "cmdb")
    push(session, cmdb, app_statement("ZQA", name="Zebra"), app_statement("ZQB", 1, name="Zebu"))
    seen_b, _ = confirmed_at(session, "ZQB")

    push(session, cmdb, app_statement("ZQA", name="Zebra"))

    assert session.scalar(select(func.count()).select_from(SourceConfirmation)) == 0
    assert confirmed_at(session, "ZQA")[1] > seen_b
    assert confirmed_at(session, "ZQB") == (seen_b, seen_b)


def test_a_confirmation_of_every_record_skips_those_missing_or_created_after_it(session):
    cmdb = make_source(session, "cmdb")
    push(session, cmdb, app_statement("ZQA", name="Zebra"), app_statement("ZQB", 1, name="Zebu"))
    push(session, cmdb, app_statement("ZQA", name="Zebra"), snapshot=True)  # ZQB goes missing, ZQA confirmed
    confirmation = session.scalars(select(SourceConfirmation)).one()
    missing_seen, _ = confirmed_at(session, "ZQB")

    push(session, cmdb, app_statement("ZQC", 2, name="Zorro"))

    assert confirmed_at(session, "ZQA")[1] == confirmation.confirmed_at
    assert confirmed_at(session, "ZQB") == (missing_seen, missing_seen)
    own, last = confirmed_at(session, "ZQC")
    assert own == last and own > confirmation.confirmed_at


def test_a_snapshot_over_several_batches_marks_nothing_missing_once_a_batch_confirmed_every_record(session):
    cmdb = make_source(session, "cmdb")
    push(session, cmdb, app_statement("ZQA", name="Zebra"), app_statement("ZQB", 1, name="Zebu"))
    began = utcnow()

    push(session, cmdb, app_statement("ZQA", name="Zebra"), app_statement("ZQB", 1, name="Zebu"))

    assert Merge(session, cmdb, actor="test").mark_missing("application", began) == 0
    assert session.scalar(select(func.count()).where(SourceRecord.missing_since.is_not(None))) == 0


def test_a_row_repeated_unchanged_in_one_file_is_still_a_duplicate_key(session):
    cmdb = make_source(session, "cmdb")
    push(session, cmdb, app_statement("ZQA", name="Zebra"))

    plan = push(session, cmdb, app_statement("ZQA", name="Zebra"), app_statement("ZQA", 1, name="Zebra"), partial=True)

    assert [outcome.action for outcome in plan.outcomes] == ["unchanged", "error"]
    assert "duplicate key" in plan.outcomes[1].statement.errors[0]["reason"]


def test_a_record_changed_since_by_another_statement_is_read_again(session):
    cmdb = make_source(session, "cmdb")
    push(session, cmdb, app_statement("ZQA", name="Zebra", status="build"))
    push(session, cmdb, app_statement("ZQA", status="production"))

    plan = push(session, cmdb, app_statement("ZQA", name="Zebra", status="build"))

    assert plan.outcomes[0].action == "update"
    assert visible(session, "ZQA").status == "build"


def test_a_statements_digest_ignores_the_order_of_its_fields():
    key = ("BCA", "prod", "server", "h1")
    first = Statement("component", key, {"name": "h1", "details": {"os": "linux", "cpu": 4}}, 0)
    second = Statement("component", key, {"details": {"cpu": 4, "os": "linux"}, "name": "h1"}, 9)

    assert first.raw_fingerprint() == second.raw_fingerprint()


@pytest.mark.parametrize(
    "one, other",
    [
        (1, "1"),
        (1, 1.0),
        (True, 1),
        (date(2026, 1, 2), datetime(2026, 1, 2)),
        ("", None),
        (Decimal("1.5"), Decimal("1.50")),
        (timedelta(days=1), timedelta(days=2)),
    ],
)
def test_a_statements_digest_tells_apart_what_the_reader_gave(one, other):
    """A cell's type is part of what the source said: a re-import reads such a statement again."""
    digests = {Statement("application", ("BCA",), {"name": value}, 0).raw_fingerprint() for value in (one, other)}

    assert len(digests) == 2


def test_the_statements_of_each_type_are_asked_for_in_reading_order(session):
    """A workbook loads the next sheet while the current one is planned: in the order the merge asks."""
    asked: list[str] = []

    def statements_of(name: str) -> list[Statement]:
        asked.append(name)
        return []

    list(Merge(session, make_source(session, "cmdb"), actor="test").plan_by_type(statements_of))

    assert asked == list(READING_ORDER)


@pytest.mark.parametrize("object_type", OBJECT_TYPES.values(), ids=lambda object_type: object_type.name)
def test_every_reader_reads_an_empty_value_as_nothing(object_type):
    """`Statement.normalize` does not call the readers on empty values: it relies on this."""
    columns = (*object_type.key, *object_type.fields)

    assert [column.parse(None) for column in columns] == [None] * len(columns)
