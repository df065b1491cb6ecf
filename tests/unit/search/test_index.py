"""Writing the search index: the typo vocabulary, and bulk refreshes leaving PostgreSQL's GIN pending lists empty."""

from __future__ import annotations

from sqlalchemy import select, text

from portal.search import index
from portal.search.index import GIN_INDEXES, merge_pending_entries, refresh_applications
from portal.search.models import SearchDocument, SearchTermVariant
from tests.unit.builders import add_stakeholder, make_application, make_entity, make_environment, make_person


def pending_pages(session, name: str) -> int:
    """Pages still in an index's pending list (merging them is what gin_clean_pending_list returns)."""
    with session.begin_nested() as savepoint:
        pages = session.scalar(text("SELECT gin_clean_pending_list(CAST(:name AS regclass))"), {"name": name})
        savepoint.rollback()
    return pages


def test_a_bulk_refresh_leaves_no_pending_entries_in_the_search_indexes(session, monkeypatch):
    applications = [make_application(session, f"BK{n:02d}", f"Bulk application {n}") for n in range(12)]
    session.flush()
    monkeypatch.setattr(index, "BULK_REFRESH", 10)

    refresh_applications(session, [application.id for application in applications])

    if session.get_bind().dialect.name == "postgresql":
        assert all(pending_pages(session, name) == 0 for name in GIN_INDEXES)
    found = session.scalar(text("SELECT count(*) FROM search_document WHERE trigram LIKE 'BK%'"))
    assert found == 12


def test_a_small_refresh_leaves_its_entries_pending_for_autovacuum(session):
    application = make_application(session, "SML", "Small change")
    session.flush()

    refresh_applications(session, [application.id])

    assert session.scalar(text("SELECT count(*) FROM search_document WHERE trigram = 'SML'")) == 1
    if session.get_bind().dialect.name == "postgresql":  # SQLite's full-text tables have no pending list
        assert any(pending_pages(session, name) > 0 for name in GIN_INDEXES)


def test_merging_pending_entries_without_the_right_to_keeps_the_transaction_usable(session, monkeypatch):
    """Only an index's owner may merge its pending list: anyone else leaves it to autovacuum."""
    monkeypatch.setattr(index, "GIN_INDEXES", ("no_such_index",))
    application = make_application(session, "OWN", "Owner check")
    session.flush()

    merge_pending_entries(session)

    assert session.scalar(text("SELECT trigram FROM application WHERE id = :id"), {"id": application.id}) == "OWN"


def test_a_refresh_adds_new_words_to_the_vocabulary_beside_those_it_had(session, monkeypatch):
    monkeypatch.setattr(index, "VARIANT_BATCH_SIZE", 3)  # several batches
    first = make_application(session, "VCA", "Warehouse ledger")
    second = make_application(session, "VCB", "Ledger warehouse forecasting")
    session.flush()
    refresh_applications(session, [first.id])

    refresh_applications(session, [first.id, second.id])

    rows = session.execute(
        select(SearchTermVariant.variant, SearchTermVariant.term).where(
            SearchTermVariant.term.in_(["warehouse", "ledger", "forecasting"])
        )
    ).all()
    assert {term for _, term in rows} == {"warehouse", "ledger", "forecasting"}
    assert ("ldger", "ledger") in rows and ("forecasting", "forecasting") in rows


# How the generated column cut people, hosts and entities into words before the application wrote them itself.
CUT_IN_THE_DATABASE = """
    SELECT
        to_tsvector('simple', regexp_replace(referentiel_unaccent(people || ' ' || hosts), '[^[:alnum:]]+', ' ', 'g')),
        to_tsvector('simple', regexp_replace(referentiel_unaccent(entities), '[^[:alnum:]]+', ' ', 'g')),
        to_tsvector('simple', related_words), to_tsvector('simple', entity_words)
    FROM search_document WHERE trigram = 'WRD'
"""


def test_the_document_holds_the_words_of_its_people_hosts_and_entities_as_search_cuts_them(session):
    division = make_entity(session, "DSI-ÉCO", "Économie & Œuvres sociales", kind="division")
    team = make_entity(session, "ÉQ_Ærø", "Équipe Łódź/Paiements", parent=division)
    application = make_application(session, "WRD", "Words", entity=team)
    url = "https://pay-gw.bank.example:8443/Élan_v2?x=1&y=ça"
    make_environment(session, application, url=url, servers=("srv_wrd-01.intra",))
    add_stakeholder(session, application, make_person(session, "h.dupont-martin", "Hélène Dupont-Martin"))

    refresh_applications(session, [application.id])

    related, entities = session.execute(
        select(SearchDocument.related_words, SearchDocument.entity_words).where(SearchDocument.trigram == "WRD")
    ).one()
    assert set(related.split()) == {
        *("helene", "dupont", "martin", "h"),
        *("https", "pay", "gw", "bank", "example", "8443", "elan", "v2", "x", "1", "y", "ca"),
        *("srv", "wrd", "01", "intra"),
    }
    assert entities.split() == [
        "eq",
        "aero",
        "equipe",
        "lodz",
        "paiements",
        "dsi",
        "eco",
        "economie",
        "oeuvres",
        "sociales",
    ]
    if session.get_bind().dialect.name == "postgresql":
        # The very tokens, positions included, that the generated column cut from the texts as written.
        cut_related, cut_entities, written_related, written_entities = session.execute(text(CUT_IN_THE_DATABASE)).one()
        assert (written_related, written_entities) == (cut_related, cut_entities)
