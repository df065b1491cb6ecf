"""The OpenAPI document as the tests read it (unit tests and the schemathesis fuzz alike)."""

from __future__ import annotations

from typing import Any

from portal.openapi.document import UNLESS_FIELDS


def without_fields(document: Any) -> Any:
    """The document for answers to requests without `fields=`: each object whose members `fields=` selects
    then holds every one that `x-required-unless-fields` names, so they become `required`."""
    if isinstance(document, list):
        return [without_fields(item) for item in document]
    if not isinstance(document, dict):
        return document
    strict = {name: without_fields(value) for name, value in document.items()}
    if UNLESS_FIELDS in document:
        strict["required"] = document[UNLESS_FIELDS]
    return strict
