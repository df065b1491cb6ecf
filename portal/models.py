"""Every model, imported in dependency order so that `Base.metadata` is complete (Alembic, tests)."""

from portal.applications.models import Application
from portal.auth.models import ApiToken, LoginSession, User
from portal.changes.models import Change
from portal.conflicts.models import Conflict
from portal.core.models import Base
from portal.entities.models import Entity
from portal.environments.models import Component, Environment
from portal.imports.models import ImportRow, ImportRun
from portal.interfaces.models import Interface
from portal.people.models import Person, Stakeholder
from portal.search.models import SearchDocument, SearchTermVariant
from portal.sources.models import Source, SourceRecord

__all__ = [
    "ApiToken",
    "Application",
    "Base",
    "Change",
    "Component",
    "Conflict",
    "Entity",
    "Environment",
    "ImportRow",
    "ImportRun",
    "Interface",
    "LoginSession",
    "Person",
    "SearchDocument",
    "SearchTermVariant",
    "Source",
    "SourceRecord",
    "Stakeholder",
    "User",
]
