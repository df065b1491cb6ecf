"""Every model, imported in dependency order so that `Base.metadata` is complete (Alembic, tests)."""

from portal.applications.models import Application
from portal.auth.models import ApiToken, LoginSession, User
from portal.core.models import Base
from portal.entities.models import Entity
from portal.environments.models import Component, Environment
from portal.interfaces.models import Interface
from portal.people.models import Person, Stakeholder
from portal.search.models import SearchDocument, SearchTermVariant

__all__ = [
    "ApiToken",
    "Application",
    "Base",
    "Component",
    "Entity",
    "Environment",
    "Interface",
    "LoginSession",
    "Person",
    "SearchDocument",
    "SearchTermVariant",
    "Stakeholder",
    "User",
]
