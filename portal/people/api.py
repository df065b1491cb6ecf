"""`/api/v1/people`: people and their roles across applications."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request

from portal.core.access import Role, requires
from portal.core.api import (
    LIST_PARAMETERS,
    detail_fields,
    json_response,
    lowercase_args,
    paginated_json,
    pick,
    reject_unknown,
)
from portal.core.errors import ApiError
from portal.extensions import db
from portal.people.models import Person
from portal.people.queries import PersonFilters, find_person, select_people, select_roles_of

bp = Blueprint("people_api", __name__, url_prefix="/api/v1/people")

PERSON_FIELDS = ("login", "name", "email", "entity")
PERSON_DETAIL_FIELDS = (*PERSON_FIELDS, "roles")


def person_json(person: Person) -> dict[str, Any]:
    return {
        "login": person.login,
        "name": person.display_name,
        "email": person.email,
        "entity": {"code": person.entity.code, "name": person.entity.name} if person.entity else None,
    }


@bp.get("")
@requires(Role.READER)
def list_() -> Response:
    args = lowercase_args(request.args)
    reject_unknown(args, (*PersonFilters.PARAMETERS, *LIST_PARAMETERS))
    return paginated_json(
        db.session,
        select_people(PersonFilters.from_args(args, current_app.config["SEARCH_MAX_QUERY_LENGTH"])),
        args,
        person_json,
        PERSON_FIELDS,
    )


@bp.get("/<login>")
@requires(Role.READER)
def detail(login: str) -> Response:
    """The person and every role they hold, with the application it is held on."""
    fields = detail_fields(PERSON_DETAIL_FIELDS)
    person = find_person(db.session, login)
    if person is None:
        raise ApiError(404, f"No person has the login {login[:64]!r}.")
    body = person_json(person)
    body["roles"] = [
        {
            "role": role,
            "application": {"trigram": application.trigram, "name": application.name, "status": application.status},
            "entity": {"code": entity.code, "name": entity.name} if entity else None,
        }
        for role, application, entity in db.session.execute(select_roles_of(person.id))
    ]
    return json_response(pick(body, fields))
