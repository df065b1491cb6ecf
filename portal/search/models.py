"""The search index: one denormalised document per application, plus a vocabulary for typo tolerance."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.models import Base


class SearchDocument(Base):
    """Everything a search may match for one application, as text per field.

    The engine-specific index is built on top of this table by the migrations: on PostgreSQL a weighted
    `tsvector` generated column with a GIN index and a trigram index on `hosts`; on SQLite two FTS5
    tables (words, and trigrams of `hosts`) kept in step by triggers. The text itself is written by
    `portal.search.index`, which is the only writer.

    `people`, `hosts` and `entities` are shown as written (a hit's highlights; substrings of `hosts`).
    `related_words` (those of `people` and `hosts`) and `entity_words` hold their words as search cuts them
    (`search.text.words`), which PostgreSQL's `tsvector` takes as they are: cutting them in the database
    with regular expressions cost it more than the rest of the document.
    """

    __tablename__ = "search_document"

    application_id: Mapped[int] = mapped_column(
        ForeignKey("application.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    trigram: Mapped[str] = mapped_column(String(7), index=True)
    name: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    people: Mapped[str] = mapped_column(Text, default="")
    hosts: Mapped[str] = mapped_column(Text, default="")
    entities: Mapped[str] = mapped_column(Text, default="")
    related_words: Mapped[str] = mapped_column(Text, default="", server_default="")
    entity_words: Mapped[str] = mapped_column(Text, default="", server_default="")


class SearchTermVariant(Base):
    """Each indexed word of 4 letters or more, under itself and under each one-letter deletion of it.

    A query word and an indexed word within one edit of each other share at least one variant
    (the symmetric-delete method), so typo candidates come from one indexed lookup on either engine.
    """

    __tablename__ = "search_term_variant"

    variant: Mapped[str] = mapped_column(String(64), primary_key=True)
    term: Mapped[str] = mapped_column(String(64), primary_key=True)
