"""Write the search document's words from the application, not with regular expressions in the database

Revision ID: b7d3e5a1c924
Revises: 4f6a2c9e8d17
Create Date: 2026-11-27 12:00:00
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7d3e5a1c924"
down_revision: str | None = "4f6a2c9e8d17"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WORD_COLUMNS = ("related_words", "entity_words")
# The words of a text as the old generated column cut them: accents folded, anything but letters and digits
# a separator. On the rows written so far, the new column gives the very tokens the old one gave.
AS_WORDS = "lower(regexp_replace(referentiel_unaccent({}), '[^[:alnum:]]+', ' ', 'g'))"

NEW_DOCUMENT = """
    setweight(to_tsvector('simple', referentiel_unaccent(trigram || ' ' || name)), 'A')
    || setweight(to_tsvector('simple', related_words), 'B')
    || setweight(to_tsvector('simple', entity_words), 'C')
    || setweight(to_tsvector('simple', referentiel_unaccent(description)), 'D')
"""
OLD_DOCUMENT = """
    setweight(to_tsvector('simple', referentiel_unaccent(trigram || ' ' || name)), 'A')
    || setweight(to_tsvector('simple',
           regexp_replace(referentiel_unaccent(people || ' ' || hosts), '[^[:alnum:]]+', ' ', 'g')), 'B')
    || setweight(to_tsvector('simple',
           regexp_replace(referentiel_unaccent(entities), '[^[:alnum:]]+', ' ', 'g')), 'C')
    || setweight(to_tsvector('simple', referentiel_unaccent(description)), 'D')
"""


def upgrade() -> None:
    # `related_words` holds the words of `people` and `hosts`, `entity_words` those of `entities`, as search
    # cuts them (`search.text.words`). The regular expressions and unaccent() that cut them in the generated
    # column cost PostgreSQL about 1 s per 20,000 documents written (a first import), the longest part of
    # computing a document. SQLite's FTS5 tables cut the texts themselves and do not read these columns.
    for name in WORD_COLUMNS:
        op.add_column("search_document", sa.Column(name, sa.Text(), nullable=False, server_default=""))
    if op.get_bind().dialect.name == "postgresql":
        _replace_document(NEW_DOCUMENT, before_adding=_write_words)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _replace_document(OLD_DOCUMENT)
    for name in WORD_COLUMNS:
        # Not a batch operation: on SQLite it would copy the table, and lose the triggers of its FTS5 tables.
        op.execute(f"ALTER TABLE search_document DROP COLUMN {name}")


def _write_words() -> None:
    related, entities = AS_WORDS.format("people || ' ' || hosts"), AS_WORDS.format("entities")
    op.execute(f"UPDATE search_document SET related_words = {related}, entity_words = {entities}")


def _replace_document(expression: str, before_adding: Callable[[], None] | None = None) -> None:
    """A generated column cannot be altered: drop it (and its index), then add it computed by `expression`."""
    op.execute("DROP INDEX ix_search_document_document")
    op.execute("ALTER TABLE search_document DROP COLUMN document")
    if before_adding is not None:
        before_adding()  # with the column gone, rewriting the rows does not compute it
    op.execute(f"ALTER TABLE search_document ADD COLUMN document tsvector GENERATED ALWAYS AS ({expression}) STORED")
    op.execute(
        "CREATE INDEX ix_search_document_document ON search_document USING gin (document)"
        " WITH (fastupdate = on, gin_pending_list_limit = 1024)"
    )
