"""Writes the search index: one `search_document` per application and the typo vocabulary.

Call `refresh_applications` after changing applications (or their people, components, entity) and
`rebuild` after bulk loads; `flask search rebuild` runs the latter.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ARRAY, Row, Text, bindparam, delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from portal.applications.models import Application
from portal.core.bulk import insert_rows, table_of
from portal.core.cache import SEARCH_CHANGED
from portal.entities.models import Entity
from portal.environments.models import Component, Environment
from portal.people.models import Person, Stakeholder
from portal.search.models import SearchDocument, SearchTermVariant
from portal.search.text import FUZZY_MIN_LENGTH, variants, words

log = logging.getLogger(__name__)

BATCH_SIZE = 5000
VARIANT_BATCH_SIZE = 20_000
# From this many documents written, the GIN pending lists are merged at once (see merge_pending_entries).
BULK_REFRESH = 1000
# The GIN indexes of search_document (migrations: a pending list of at most 1 MB each).
GIN_INDEXES = ("ix_search_document_document", "ix_search_document_title", "ix_search_document_hosts_trgm")


def rebuild(session: Session) -> int:
    """Recompute every document and the whole vocabulary; returns the number of documents."""
    session.info[SEARCH_CHANGED] = True
    if session.get_bind().dialect.name == "postgresql":
        # A full rebuild of a large referential takes longer than any request may.
        session.execute(text("SET LOCAL statement_timeout = 0"))
    session.execute(delete(SearchDocument))
    session.execute(delete(SearchTermVariant))
    ids = list(session.scalars(select(Application.id).order_by(Application.id)))
    _write(session, ids)
    merge_pending_entries(session)
    return len(ids)


def refresh_applications(session: Session, application_ids: Iterable[int]) -> None:
    """Recompute the documents of these applications (deleted ones simply lose theirs).

    Their new words join the vocabulary; words no longer used anywhere stay in it, which costs a
    useless typo candidate at worst, until the next `rebuild`.
    """
    ids = sorted(set(application_ids))
    if not ids:
        return
    session.info[SEARCH_CHANGED] = True
    for chunk in (ids[start : start + BATCH_SIZE] for start in range(0, len(ids), BATCH_SIZE)):
        session.execute(delete(SearchDocument).where(SearchDocument.application_id.in_(chunk)))
    _write(session, ids)
    if len(ids) >= BULK_REFRESH:
        merge_pending_entries(session)


def merge_pending_entries(session: Session) -> None:
    """Merge the GIN indexes' pending lists into the indexes (PostgreSQL): every search reads those
    lists whole, so a large import leaves them empty rather than for the next vacuum. Only the
    indexes' owner may do it; for anyone else, autovacuum does it later (the lists stay capped at 1 MB)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    try:
        with session.begin_nested():
            for name in GIN_INDEXES:
                session.execute(text("SELECT gin_clean_pending_list(CAST(:name AS regclass))"), {"name": name})
    except DBAPIError:
        log.warning("could not merge the search indexes' pending lists; autovacuum will", exc_info=True)


def _write(session: Session, ids: list[int]) -> None:
    """Write the documents of these applications, then their words' variants."""
    entity_paths = _entity_paths(session)
    vocabulary: set[str] = set()
    batches = iter([ids[start : start + BATCH_SIZE] for start in range(0, len(ids), BATCH_SIZE)])
    content = _content(session, batch) if (batch := next(batches, None)) else None
    while content is not None:
        documents = list(_documents(content, entity_paths))
        # The next batch is read before this one is written: within `bulk.writing_behind`, the server
        # then inserts these documents while Python builds the next ones.
        content = _content(session, batch) if (batch := next(batches, None)) else None
        insert_rows(session, SearchDocument, documents)
        vocabulary |= _vocabulary(documents)
    _add_variants(session, [(key, word) for word in sorted(vocabulary) for key in sorted(variants(word))])


def _vocabulary(documents: list[dict[str, Any]]) -> set[str]:
    """The words these documents bring to the vocabulary."""
    vocabulary: set[str] = set()
    for document in documents:
        vocabulary.update(words(document["name"]), words(document["description"]), document["entity_words"].split())
        # Hostnames and URLs are mostly codes: of their words (and the people's), keep those that are not the
        # trigram itself.
        trigram = str(document["trigram"]).lower()
        vocabulary.update(word for word in document["related_words"].split() if word != trigram)
    return {word for word in vocabulary if is_vocabulary_word(word)}


def is_vocabulary_word(word: str) -> bool:
    """Words worth matching with a typo: long enough, and letters only. Codes with digits (p01, bca2)
    and the trigrams inside hostnames are identifiers, which a typo should not reach."""
    return len(word) >= FUZZY_MIN_LENGTH and word.isalpha()


def _add_variants(session: Session, rows: list[tuple[str, str]]) -> None:
    """Add these (variant, term) rows to the vocabulary, skipping those it has (another run may have
    added them since this one read it)."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        one_by_one = sqlite.insert(SearchTermVariant).on_conflict_do_nothing()
        session.execute(one_by_one, [{"variant": variant, "term": term} for variant, term in rows])
        return
    # One statement per batch, its rows as two arrays: psycopg2 sends an `ON CONFLICT` insert given many
    # rows as one statement per row (5.6 s for the 28,000 rows of a first import of 20,000 applications).
    from_arrays = (
        postgresql.insert(table_of(SearchTermVariant))  # a Core insert: the ORM's bulk insert takes no SELECT
        .from_select(
            ["variant", "term"],
            select(
                func.unnest(bindparam("variants", type_=ARRAY(Text))),
                func.unnest(bindparam("terms", type_=ARRAY(Text))),
            ),
        )
        .on_conflict_do_nothing()
    )
    for start in range(0, len(rows), VARIANT_BATCH_SIZE):
        batch = rows[start : start + VARIANT_BATCH_SIZE]
        session.execute(from_arrays, {"variants": [row[0] for row in batch], "terms": [row[1] for row in batch]})


@dataclass
class _Content:
    """What the documents of some applications are made of, as read from the database."""

    applications: Sequence[Row[int, str, str, str | None, int | None]]  # id, trigram, name, description, entity
    people: dict[int, list[str]]
    hosts: dict[int, list[str]]


def _content(session: Session, ids: list[int]) -> _Content:
    people: dict[int, list[str]] = defaultdict(list)
    for application_id, display_name, login in session.execute(
        select(Stakeholder.application_id, Person.display_name, Person.login)
        .join(Person, Person.id == Stakeholder.person_id)
        .where(Stakeholder.application_id.in_(ids))
    ):
        people[application_id].extend((display_name, login))
    hosts: dict[int, list[str]] = defaultdict(list)
    for application_id, url, component in session.execute(
        select(Environment.application_id, Environment.url, Component.name)
        .outerjoin(Component, Component.environment_id == Environment.id)
        .where(Environment.application_id.in_(ids))
    ):
        hosts[application_id].extend(value for value in (url, component) if value)
    applications = session.execute(
        select(
            Application.id, Application.trigram, Application.name, Application.description, Application.entity_id
        ).where(Application.id.in_(ids))
    )
    return _Content(applications.all(), people, hosts)


def _documents(content: _Content, entity_paths: dict[int, tuple[str, str]]) -> Iterator[dict[str, Any]]:
    """Each application's document, its texts as written and their words (see `SearchDocument`)."""
    for application_id, trigram, name, description, entity_id in content.applications:
        people = " ".join(dict.fromkeys(content.people[application_id]))
        hosts = " ".join(dict.fromkeys(content.hosts[application_id]))
        entities, entity_words = entity_paths.get(entity_id, ("", "")) if entity_id else ("", "")
        yield {
            "application_id": application_id,
            "trigram": trigram,
            "name": name,
            "description": description or "",
            "people": people,
            "hosts": hosts,
            "entities": entities,
            "related_words": " ".join(words(f"{people} {hosts}")),
            "entity_words": entity_words,
        }


def _entity_paths(session: Session) -> dict[int, tuple[str, str]]:
    """For each entity, the codes and names of itself and all its ancestors, as written and as words (cut
    once per entity, not per application): searching a division's name finds the applications of every
    team below it."""
    rows = {
        entity_id: (code, name, parent_id)
        for entity_id, code, name, parent_id in session.execute(
            select(Entity.id, Entity.code, Entity.name, Entity.parent_id)
        )
    }
    paths: dict[int, tuple[str, str]] = {}
    for entity_id in rows:
        parts: list[str] = []
        current: int | None = entity_id
        seen: set[int] = set()
        while current is not None and current in rows and current not in seen:
            seen.add(current)
            code, name, parent_id = rows[current]
            parts.extend((code, name))
            current = parent_id
        path = " ".join(parts)
        paths[entity_id] = (path, " ".join(words(path)))
    return paths
