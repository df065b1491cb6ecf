"""Create the referential schema and its search index on both engines

Revision ID: 16020c67b134
Revises:
Create Date: 2026-11-26 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "16020c67b134"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "entity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "kind IS NULL OR kind IN ('group', 'division', 'department', 'team')", name=op.f("ck_entity_kind")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["entity.id"], name=op.f("fk_entity_parent_id_entity"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entity")),
        sa.UniqueConstraint("code", name=op.f("uq_entity_code")),
    )
    op.create_index(op.f("ix_entity_parent_id"), "entity", ["parent_id"])

    op.create_table(
        "application",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trigram", sa.String(length=7), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("criticality", sa.String(length=10), nullable=True),
        sa.Column("entity_id", sa.Integer(), nullable=True),
        sa.Column("go_live_date", sa.Date(), nullable=True),
        sa.Column("end_of_support_date", sa.Date(), nullable=True),
        sa.Column("decommission_date", sa.Date(), nullable=True),
        sa.Column("tags", sa.String(length=500), nullable=True),
        sa.Column("documentation_url", sa.String(length=500), nullable=True),
        sa.Column("repository_url", sa.String(length=500), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "criticality IS NULL OR criticality IN ('critical', 'high', 'medium', 'low')",
            name=op.f("ck_application_criticality"),
        ),
        sa.CheckConstraint(
            "status IS NULL OR status IN ('plan', 'build', 'production', 'decommissioning', 'retired')",
            name=op.f("ck_application_status"),
        ),
        sa.CheckConstraint(
            "trigram = upper(trigram) AND length(trigram) BETWEEN 3 AND 7", name=op.f("ck_application_trigram_format")
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"], ["entity.id"], name=op.f("fk_application_entity_id_entity"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application")),
        sa.UniqueConstraint("trigram", name=op.f("uq_application_trigram")),
    )
    op.create_index(op.f("ix_application_entity_id"), "application", ["entity_id"])
    op.create_index(op.f("ix_application_status"), "application", ["status"])
    op.create_index("ix_application_updated_at", "application", ["updated_at"])

    op.create_table(
        "person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("entity_id", sa.Integer(), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("login = lower(login)", name=op.f("ck_person_login_lowercase")),
        sa.ForeignKeyConstraint(
            ["entity_id"], ["entity.id"], name=op.f("fk_person_entity_id_entity"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person")),
        sa.UniqueConstraint("login", name=op.f("uq_person_login")),
    )
    op.create_index(op.f("ix_person_entity_id"), "person", ["entity_id"])

    op.create_table(
        "stakeholder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.CheckConstraint(
            "role IS NULL OR role IN ('owner', 'it_owner', 'business_owner', 'tech_lead', 'support', 'security')",
            name=op.f("ck_stakeholder_role"),
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["application.id"],
            name=op.f("fk_stakeholder_application_id_application"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_stakeholder_person_id_person"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stakeholder")),
        sa.UniqueConstraint(
            "application_id", "person_id", "role", name=op.f("uq_stakeholder_application_id_person_id_role")
        ),
    )
    op.create_index(op.f("ix_stakeholder_person_id"), "stakeholder", ["person_id"])

    op.create_table(
        "environment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "kind IS NULL OR kind IN ('dev', 'uat', 'preprod', 'prod', 'dr')", name=op.f("ck_environment_kind")
        ),
        sa.CheckConstraint(
            "status IS NULL OR status IN ('planned', 'active', 'retired')", name=op.f("ck_environment_status")
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["application.id"],
            name=op.f("fk_environment_application_id_application"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_environment")),
        sa.UniqueConstraint("application_id", "name", name=op.f("uq_environment_application_id_name")),
    )
    op.create_index(op.f("ix_environment_kind"), "environment", ["kind"])

    op.create_table(
        "component",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=True),
        sa.CheckConstraint(
            "kind IS NULL OR kind IN ('server', 'database', 'namespace', 'url', 'queue', 'other')",
            name=op.f("ck_component_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environment.id"],
            name=op.f("fk_component_environment_id_environment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_component")),
        sa.UniqueConstraint("environment_id", "kind", "name", name=op.f("uq_component_environment_id_kind_name")),
    )
    op.create_index(op.f("ix_component_name"), "component", ["name"])

    op.create_table(
        "interface",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_application_id", sa.Integer(), nullable=False),
        sa.Column("target_application_id", sa.Integer(), nullable=False),
        sa.Column("protocol", sa.String(length=40), nullable=False),
        sa.Column("frequency", sa.String(length=40), nullable=True),
        sa.Column("middleware", sa.String(length=80), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("source_application_id <> target_application_id", name=op.f("ck_interface_not_self")),
        sa.ForeignKeyConstraint(
            ["source_application_id"],
            ["application.id"],
            name=op.f("fk_interface_source_application_id_application"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_application_id"],
            ["application.id"],
            name=op.f("fk_interface_target_application_id_application"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interface")),
        sa.UniqueConstraint(
            "source_application_id",
            "target_application_id",
            "protocol",
            name=op.f("uq_interface_source_application_id_target_application_id_protocol"),
        ),
    )
    op.create_index(op.f("ix_interface_target_application_id"), "interface", ["target_application_id"])

    op.create_table(
        "search_document",
        sa.Column("application_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("trigram", sa.String(length=7), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("people", sa.Text(), nullable=False),
        sa.Column("hosts", sa.Text(), nullable=False),
        sa.Column("entities", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["application.id"],
            name=op.f("fk_search_document_application_id_application"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("application_id", name=op.f("pk_search_document")),
    )
    op.create_index(op.f("ix_search_document_trigram"), "search_document", ["trigram"])

    op.create_table(
        "search_term_variant",
        sa.Column("variant", sa.String(length=64), nullable=False),
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("variant", "term", name=op.f("pk_search_term_variant")),
    )

    if op.get_bind().dialect.name == "postgresql":
        _create_postgresql_search()
    else:
        _create_sqlite_search()


# PostgreSQL: a weighted tsvector over unaccented text (A: trigram and name, B: people and hosts,
# C: entities, D: description), a trigram index for substrings of hostnames and URLs, and pattern
# indexes so that `trigram LIKE 'BC%'` uses an index whatever the database collation.
# unaccent() is only STABLE, so an IMMUTABLE wrapper naming its dictionary makes it usable in a
# generated column and an index.
POSTGRESQL_SEARCH = [
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    """
    CREATE OR REPLACE FUNCTION referentiel_unaccent(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$
    """,
    """
    ALTER TABLE search_document ADD COLUMN document tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', referentiel_unaccent(trigram || ' ' || name)), 'A')
        || setweight(to_tsvector('simple',
               regexp_replace(referentiel_unaccent(people || ' ' || hosts), '[^[:alnum:]]+', ' ', 'g')), 'B')
        || setweight(to_tsvector('simple',
               regexp_replace(referentiel_unaccent(entities), '[^[:alnum:]]+', ' ', 'g')), 'C')
        || setweight(to_tsvector('simple', referentiel_unaccent(description)), 'D')
    ) STORED
    """,
    # The trigram and name alone: matches there rank first, so they are looked up on their own.
    """
    ALTER TABLE search_document ADD COLUMN title tsvector GENERATED ALWAYS AS (
        to_tsvector('simple', referentiel_unaccent(trigram || ' ' || name))
    ) STORED
    """,
    # fastupdate off: a GIN pending list left by a large import would slow every search until the next
    # vacuum; writes pay a little more instead.
    "CREATE INDEX ix_search_document_document ON search_document USING gin (document) WITH (fastupdate = off)",
    "CREATE INDEX ix_search_document_title ON search_document USING gin (title) WITH (fastupdate = off)",
    """
    CREATE INDEX ix_search_document_hosts_trgm ON search_document
    USING gin (lower(hosts) gin_trgm_ops) WITH (fastupdate = off)
    """,
    "CREATE INDEX ix_search_document_trigram_pattern ON search_document (trigram varchar_pattern_ops)",
    # A query that is exactly an entity's name is looked up on every search.
    "CREATE INDEX ix_entity_folded_name ON entity (referentiel_unaccent(lower(name)))",
    "CREATE INDEX ix_application_trigram_pattern ON application (trigram varchar_pattern_ops)",
]

# SQLite: FTS5 over the same text, and a second FTS5 table of trigrams over hosts for substring
# matches; both are kept in step with search_document by triggers. The triggers index the text folded
# by referentiel_unaccent (the Python function every connection of the application registers), since
# FTS5's own diacritics removal leaves letters such as ł, ø or œ alone where PostgreSQL's unaccent
# spells them out.
SQLITE_FTS_COLUMNS = "trigram, name, people, hosts, entities, description"


def _folded(prefix: str) -> str:
    return ", ".join(f"referentiel_unaccent({prefix}.{column.strip()})" for column in SQLITE_FTS_COLUMNS.split(","))


SQLITE_SEARCH = [
    f"""
    CREATE VIRTUAL TABLE search_fts USING fts5({SQLITE_FTS_COLUMNS},
        content='search_document', content_rowid='application_id',
        tokenize='unicode61 remove_diacritics 2')
    """,
    """
    CREATE VIRTUAL TABLE search_host_fts USING fts5(hosts,
        content='search_document', content_rowid='application_id', tokenize='trigram')
    """,
    f"""
    CREATE TRIGGER search_fts_after_insert AFTER INSERT ON search_document BEGIN
        INSERT INTO search_fts(rowid, {SQLITE_FTS_COLUMNS}) VALUES (new.application_id, {_folded("new")});
        INSERT INTO search_host_fts(rowid, hosts) VALUES (new.application_id, referentiel_unaccent(new.hosts));
    END
    """,
    f"""
    CREATE TRIGGER search_fts_after_delete AFTER DELETE ON search_document BEGIN
        INSERT INTO search_fts(search_fts, rowid, {SQLITE_FTS_COLUMNS})
        VALUES ('delete', old.application_id, {_folded("old")});
        INSERT INTO search_host_fts(search_host_fts, rowid, hosts)
        VALUES ('delete', old.application_id, referentiel_unaccent(old.hosts));
    END
    """,
    f"""
    CREATE TRIGGER search_fts_after_update AFTER UPDATE ON search_document BEGIN
        INSERT INTO search_fts(search_fts, rowid, {SQLITE_FTS_COLUMNS})
        VALUES ('delete', old.application_id, {_folded("old")});
        INSERT INTO search_host_fts(search_host_fts, rowid, hosts)
        VALUES ('delete', old.application_id, referentiel_unaccent(old.hosts));
        INSERT INTO search_fts(rowid, {SQLITE_FTS_COLUMNS}) VALUES (new.application_id, {_folded("new")});
        INSERT INTO search_host_fts(rowid, hosts) VALUES (new.application_id, referentiel_unaccent(new.hosts));
    END
    """,
]


def _create_postgresql_search() -> None:
    for statement in POSTGRESQL_SEARCH:
        op.execute(statement)


def _create_sqlite_search() -> None:
    for statement in SQLITE_SEARCH:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_application_trigram_pattern")
        op.execute("DROP FUNCTION IF EXISTS referentiel_unaccent(text) CASCADE")
        # The extensions stay: other schemas of the database may use them.
    else:
        for trigger in ("search_fts_after_insert", "search_fts_after_delete", "search_fts_after_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS search_host_fts")
        op.execute("DROP TABLE IF EXISTS search_fts")
    op.drop_table("search_term_variant")
    op.drop_table("search_document")
    op.drop_table("interface")
    op.drop_table("component")
    op.drop_table("environment")
    op.drop_table("stakeholder")
    op.drop_table("person")
    op.drop_table("application")
    op.drop_table("entity")
