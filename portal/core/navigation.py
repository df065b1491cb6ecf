"""The header's navigation: each section appears once its page exists and the user's role allows it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app, request, url_for

from portal.core.access import Role


@dataclass(frozen=True)
class Section:
    label: str
    endpoint: str
    role: Role


SECTIONS = (
    Section("Search", "applications.list_", Role.READER),
    Section("Entities", "entities.list_", Role.READER),
    Section("Imports", "imports.list_", Role.STEWARD),
    Section("Conflicts", "conflicts.list_", Role.STEWARD),
    Section("Sources", "sources.list_", Role.STEWARD),
    Section("Admin", "auth.users", Role.ADMIN),
)


def sections_for(role: Role | None) -> list[tuple[Section, bool]]:
    """The sections to show to `role`, each with whether it is the current one."""
    if role is None:
        return []
    current_blueprint = (request.endpoint or "").split(".")[0]
    return [
        (section, section.endpoint.split(".")[0] == current_blueprint)
        for section in SECTIONS
        if section.endpoint in current_app.view_functions and role >= section.role
    ]


def optional_url(endpoint: str, **values: Any) -> str | None:
    """The URL of `endpoint`, or None while that page does not exist (templates then show plain text)."""
    return url_for(endpoint, **values) if endpoint in current_app.view_functions else None
