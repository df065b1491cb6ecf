"""What sources say about an application: the records the application page reads its provenance from."""

from __future__ import annotations

from portal.sources.queries import get_records_of, select_records_of
from tests.unit.builders import make_source
from tests.unit.imports.runs import state
from tests.unit.statements import reads_through_an_index


def test_an_applications_records_are_its_own_and_those_of_what_it_owns(session):
    cmdb = make_source(session, "cmdb")
    ldap = make_source(session, "ldap", precedence=80)
    state(session, cmdb, "entity", ("ZQA",), name="A team called like the application", kind="team")
    state(session, cmdb, "application", ("ZQA",), name="Zebra", entity="ZQA")
    state(session, ldap, "application", ("ZQA",), name="Zebra Bank")
    state(session, cmdb, "environment", ("ZQA", "prod"), kind="PROD")
    state(session, cmdb, "component", ("ZQA", "prod", "server", "zqa-01"), details="os=linux")
    state(session, cmdb, "person", ("jdoe",), name="Jane Doe")
    state(session, cmdb, "stakeholder", ("ZQA", "jdoe", "owner"))
    # Another application whose trigram starts with the same letters, and its parts.
    state(session, cmdb, "application", ("ZQAB",), name="Zebra B")
    state(session, cmdb, "environment", ("ZQAB", "prod"), kind="PROD")
    state(session, cmdb, "interface", ("ZQA", "ZQAB", "HTTPS"), frequency="daily")

    records = get_records_of(session, "ZQA")

    assert [(source.name, record.object_type, record.natural_key) for record, source in records] == [
        ("ldap", "application", "ZQA"),
        ("cmdb", "application", "ZQA"),
        ("cmdb", "component", "ZQA|prod|server|zqa-01"),
        ("cmdb", "environment", "ZQA|prod"),
        ("cmdb", "interface", "ZQA|ZQAB|HTTPS"),
        ("cmdb", "stakeholder", "ZQA|jdoe|owner"),
    ]


def test_an_applications_records_are_read_through_an_index(session):
    """Every first import adds a record per object: the application page may not read all of them."""
    assert reads_through_an_index(session, select_records_of("ZQA"), "source_record", ("natural_key",))
