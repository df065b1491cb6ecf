"""Running Alembic from the application (CLI, readiness probe, tests) without an ini file in the way."""

from __future__ import annotations

from functools import cache

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from portal.config import ROOT

# Search structures that only one engine has (FTS5 tables, a tsvector column, pattern indexes) are built
# by the migrations and invisible to the models, so autogenerate must not see them as differences.
ENGINE_SPECIFIC_PREFIXES = ("search_fts", "search_host_fts", "ix_search_document_document", "ix_search_document_hosts")
ENGINE_SPECIFIC_NAMES = {
    "document",
    "title",
    "ix_search_document_title",
    "ix_application_trigram_pattern",
    "ix_entity_folded_name",
    "ix_component_name_lower",
    "ix_entity_lower_code",
    "ix_application_trigram_c",
    "ix_search_document_trigram_pattern",
}


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    if name is None:
        return True
    return not (name.startswith(ENGINE_SPECIFIC_PREFIXES) or name in ENGINE_SPECIFIC_NAMES)


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), revision)


@cache  # the migrations shipped with the code do not change while it runs
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@cache
def known_revisions() -> frozenset[str]:
    """Every revision the migrations shipped with this code know."""
    return frozenset(script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions())


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()
