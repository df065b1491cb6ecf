"""Migrations build exactly the models' schema on both engines, and undo it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from portal.extensions import build_engine
from portal.migrate import downgrade, head_revision, include_name, upgrade
from portal.models import Base
from tests.unit.conftest import ENGINES, empty_database

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations" / "versions"


@pytest.fixture(params=ENGINES)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new empty database for each test: migrations must start from nothing."""
    with empty_database(request.param, tmp_path) as url:
        yield url


# SQLite's reflection cannot read expression indexes; they are engine-specific and left out of the comparison.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_upgrade_to_head_matches_the_models(empty_database_url):
    engine = build_engine(empty_database_url)
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": include_name, "compare_type": True})
        differences = compare_metadata(context, Base.metadata)
        assert context.get_current_revision() == head_revision()
    engine.dispose()
    assert differences == []


def test_downgrade_to_base_removes_everything(empty_database_url):
    engine = build_engine(empty_database_url)
    upgrade(engine)
    downgrade(engine, "base")
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert tables <= {"alembic_version"}


def test_upgrade_after_downgrade_works_again(empty_database_url):
    engine = build_engine(empty_database_url)
    upgrade(engine)
    downgrade(engine, "base")
    upgrade(engine)
    assert "search_document" in inspect(engine).get_table_names()
    engine.dispose()


def test_migration_files_are_date_prefixed_with_a_real_slug():
    for path in MIGRATIONS.glob("*.py"):
        date, time, revision, slug = path.stem.split("_", 3)
        assert len(date) == 10 and len(time) == 4 and len(revision) == 12, path.name
        assert len(slug) > 5, f"{path.name} needs a descriptive message"


def test_every_migration_has_a_real_downgrade():
    for path in MIGRATIONS.glob("*.py"):
        body = path.read_text().split("def downgrade() -> None:", 1)[1]
        assert body.strip() not in {"pass", ""}, f"{path.name} has an empty downgrade"
