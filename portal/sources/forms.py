"""Reading a source's settings as people type them (the Sources page and `flask sources`)."""

from __future__ import annotations

import json
from typing import Any

from portal.imports.pull import PullConfig
from portal.imports.schema import OBJECT_TYPES

MAX_PRECEDENCE = 1000


def parse_precedence(raw: str, what: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError(f"{what} must be a whole number, got {raw.strip()[:20]!r}") from None
    if not 0 <= value <= MAX_PRECEDENCE:
        raise ValueError(f"{what} must be between 0 and {MAX_PRECEDENCE}")
    return value


def parse_configuration(raw: str) -> dict[str, Any]:
    """An API source's configuration: JSON, checked as the sync will read it (errors name the bad key)."""
    try:
        configuration = json.loads(raw.strip() or "{}")
    except json.JSONDecodeError as error:
        raise ValueError(f"the configuration is not valid JSON ({error.msg}, line {error.lineno})") from None
    if not isinstance(configuration, dict):
        raise ValueError("the configuration must be a JSON object")
    PullConfig.parse(configuration)
    return configuration


def parse_field_precedence(raw: str) -> dict[str, int]:
    """`application.status = 90` lines (blank lines ignored) as {"application.status": 90}."""
    known = {f"{name}.{column.name}" for name, object_type in OBJECT_TYPES.items() for column in object_type.fields}
    result: dict[str, int] = {}
    for line in raw.splitlines():
        if not line.strip():
            continue
        field, separator, value = line.partition("=")
        field = field.strip().lower()
        if not separator or field not in known:
            raise ValueError(f"{line.strip()[:60]!r} is not `<object type>.<field> = <precedence>` for a known field")
        result[field] = parse_precedence(value, field)
    return result
