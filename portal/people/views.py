"""Portal pages for people: one person, their entity and the roles they hold across applications."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template

from portal.core.access import Role, requires
from portal.entities.queries import get_ancestors
from portal.extensions import db
from portal.people.models import ROLE_LABELS, normalize_login
from portal.people.queries import find_person, get_roles_by_role, suggest_people

bp = Blueprint("people", __name__)


@bp.get("/people/<login>")
@requires(Role.READER)
def detail(login: str) -> Response:
    """The person (login in any case), where they sit in the organisation, and their roles grouped by role."""
    person = find_person(db.session, login)
    if person is None:
        return not_found(normalize_login(login)[:64])
    held = get_roles_by_role(db.session, person.id)
    html = render_template(
        "people/detail.html",
        person=person,
        entity_path=get_ancestors(person.entity) if person.entity else [],
        roles=[(role, ROLE_LABELS.get(role, role), applications) for role, applications in held.items()],
        role_total=sum(len(applications) for applications in held.values()),
        application_count=len({application.trigram for applications in held.values() for application in applications}),
    )
    return current_app.make_response(html)


def not_found(login: str) -> Response:
    """A 404 page naming the login, with people whose name or login look like it."""
    html = render_template("people/not_found.html", login=login, suggestions=suggest_people(db.session, login))
    return current_app.make_response((html, 404))
