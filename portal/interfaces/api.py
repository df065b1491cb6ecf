"""`/api/v1/interfaces`: flows between applications."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from portal.core.access import Role, requires
from portal.core.api import LIST_PARAMETERS, lowercase_args, paginated_json, reject_unknown
from portal.extensions import db
from portal.interfaces.models import Interface
from portal.interfaces.queries import InterfaceFilters, select_interfaces

bp = Blueprint("interfaces_api", __name__, url_prefix="/api/v1/interfaces")

INTERFACE_FIELDS = ("source", "target", "protocol", "frequency", "middleware", "description")


def interface_json(interface: Interface) -> dict[str, Any]:
    return {
        "source": {"trigram": interface.source.trigram, "name": interface.source.name},
        "target": {"trigram": interface.target.trigram, "name": interface.target.name},
        "protocol": interface.protocol,
        "frequency": interface.frequency,
        "middleware": interface.middleware,
        "description": interface.description,
    }


@bp.get("")
@requires(Role.READER)
def list_() -> Response:
    args = lowercase_args(request.args)
    reject_unknown(args, (*InterfaceFilters.PARAMETERS, *LIST_PARAMETERS))
    statement = select_interfaces(InterfaceFilters.from_args(args))
    return paginated_json(db.session, statement, args, interface_json, INTERFACE_FIELDS)
