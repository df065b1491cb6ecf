"""View models of the readable API page, built from the OpenAPI document."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from markupsafe import Markup, escape

from portal.openapi.document import NO_CONTROL_CHARACTERS, UNLESS_FIELDS


def rich_text(text: str) -> Markup:
    """The small Markdown subset the descriptions use: paragraphs, `- ` bullet lists and `code` spans."""

    def inline(line: str) -> Markup:
        pieces = line.split("`")
        # Odd pieces sat between backticks.
        return Markup("").join(
            Markup("<code>%s</code>") % piece if index % 2 else escape(piece) for index, piece in enumerate(pieces)
        )

    blocks: list[Markup] = []
    items: list[Markup] = []
    paragraph: list[str] = []

    def close_paragraph() -> None:
        if paragraph:
            blocks.append(Markup("<p>%s</p>") % inline(" ".join(paragraph)))
            paragraph.clear()

    def close_list() -> None:
        if items:
            blocks.append(Markup("<ul>%s</ul>") % Markup("").join(Markup("<li>%s</li>") % item for item in items))
            items.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("- "):
            close_paragraph()
            items.append(inline(stripped[2:]))
        elif not stripped:
            close_paragraph()
            close_list()
        elif items and line.startswith(" "):
            items[-1] = items[-1] + Markup(" ") + inline(stripped)  # a bullet continued on the next line
        else:
            close_list()
            paragraph.append(stripped)
    close_paragraph()
    close_list()
    return Markup("").join(blocks)


@dataclass(frozen=True)
class ParameterRow:
    name: str
    location: str
    type: str
    values: str
    default: str
    required: bool
    description: Markup


@dataclass(frozen=True)
class ResponseRow:
    status: str
    description: Markup
    media_type: str
    schema: str


@dataclass(frozen=True)
class OperationView:
    anchor: str
    method: str
    path: str
    summary: str
    description: Markup
    parameters: list[ParameterRow]
    responses: list[ResponseRow]
    curl: str


@dataclass(frozen=True)
class PropertyRow:
    name: str
    type: str
    values: str
    required: str  # "yes", "no", or "unless fields= leaves it out"
    description: Markup


@dataclass(frozen=True)
class SchemaView:
    name: str
    description: Markup
    properties: list[PropertyRow]


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local `$ref` (`#/components/...`) to what it names."""
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def type_label(schema: dict[str, Any]) -> str:
    """A short human reading of a schema: `integer, 1 to 500`, `array of Stakeholder`, `string or null`."""
    if "$ref" in schema:
        return str(schema["$ref"].rsplit("/", 1)[1])
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            return " or ".join(type_label(option) for option in schema[combinator])
    types = schema.get("type", "any")
    label = " or ".join(types) if isinstance(types, list) else str(types)
    if "array" in label and "items" in schema:
        label = label.replace("array", f"array of {type_label(schema['items'])}")
    details = []
    if "format" in schema:
        details.append(schema["format"])
    if "minimum" in schema and "maximum" in schema:
        details.append(f"{schema['minimum']} to {schema['maximum']}")
    elif "minimum" in schema:
        details.append(f"at least {schema['minimum']}")
    if "maxLength" in schema:
        details.append(f"at most {schema['maxLength']} characters")
    # Every parameter refuses control characters (the introduction says so): no need to repeat it on each one.
    if "pattern" in schema and schema["pattern"] != NO_CONTROL_CHARACTERS:
        details.append(f"matching {schema['pattern']}")
    return f"{label} ({', '.join(details)})" if details else label


def values_label(schema: dict[str, Any]) -> str:
    values = schema.get("enum") or schema.get("items", {}).get("enum") or []
    return ", ".join(str(value) for value in values if value not in (None, ""))


def default_label(schema: dict[str, Any]) -> str:
    """A parameter's default as a caller writes it: `false`, not Python's `False`."""
    default = schema.get("default", "")
    return default if isinstance(default, str) else json.dumps(default)


def curl_command(
    host_url: str, path_template: str, parameters: list[dict[str, Any]], method: str = "get", body_type: str = ""
) -> str:
    """The example call: path parameters and the query parameters that carry an `example`; a POST sends
    its body from a file (`body_type` is its media type)."""
    url_path = path_template
    query_pairs = []
    for parameter in parameters:
        if "example" not in parameter:
            continue
        if parameter["in"] == "path":
            url_path = url_path.replace("{" + parameter["name"] + "}", quote(str(parameter["example"]), safe=""))
        elif parameter["in"] == "query":
            query_pairs.append((parameter["name"], parameter["example"]))
    url = host_url.rstrip("/") + url_path + (f"?{urlencode(query_pairs)}" if query_pairs else "")
    # The token stays in the caller's environment, never on the command line they paste into a ticket.
    command = 'curl -H "Authorization: Bearer $REFERENTIEL_TOKEN"'
    if method != "get":
        command += f" -X {method.upper()}"
    if body_type:
        command += f" -H 'Content-Type: {body_type}' --data-binary @batch.json"
    return f"{command} '{url}'"


def request_body_text(document: dict[str, Any], spec: dict[str, Any]) -> Markup:
    """What an operation's request body holds, in words: its media types and the schema of the first one."""
    body = resolve(document, spec["requestBody"]) if "requestBody" in spec else None
    if body is None:
        return Markup("")
    content: dict[str, Any] = body.get("content", {})
    first: dict[str, Any] = next(iter(content.values()), {})
    media_types = ", ".join(f"`{media_type}`" for media_type in content)
    text = f"Request body ({media_types}): {type_label(first.get('schema', {}))}. {body.get('description', '')}"
    return rich_text(text)


def operation_views(document: dict[str, Any], host_url: str) -> list[OperationView]:
    views = []
    for path_template, path_item in document["paths"].items():
        for method, spec in path_item.items():
            parameters = [resolve(document, parameter) for parameter in spec.get("parameters", [])]
            rows = [
                ParameterRow(
                    name=parameter["name"],
                    location=parameter["in"],
                    type=type_label(parameter["schema"]),
                    values=values_label(parameter["schema"]),
                    default=default_label(parameter["schema"]),
                    required=bool(parameter.get("required")),
                    description=rich_text(parameter.get("description", "")),
                )
                for parameter in parameters
            ]
            responses = []
            for status, response in spec["responses"].items():
                response = resolve(document, response)
                content = response.get("content") or {"": {"schema": {}}}
                for media_type, media in content.items():
                    schema = media.get("schema", {})
                    label = type_label(schema) if schema else "no body"
                    responses.append(ResponseRow(status, rich_text(response["description"]), media_type, label))
            body_type = next(iter(spec.get("requestBody", {}).get("content", {})), "")
            anchor = f"{method}-{path_template.strip('/').replace('/', '-').replace('{', '').replace('}', '')}"
            views.append(
                OperationView(
                    anchor=anchor.replace(".", "-").lower(),
                    method=method.upper(),
                    path=path_template,
                    summary=spec.get("summary", ""),
                    description=rich_text(spec.get("description", "")) + request_body_text(document, spec),
                    parameters=rows,
                    responses=responses,
                    curl=curl_command(host_url, path_template, parameters, method, body_type),
                )
            )
    return views


def schema_views(document: dict[str, Any]) -> list[SchemaView]:
    views = []
    for name, schema in document["components"]["schemas"].items():
        required = set(schema.get("required", []))
        unless_fields = set(schema.get(UNLESS_FIELDS, []))
        properties = [
            PropertyRow(
                name=member,
                type=type_label(member_schema),
                values=values_label(member_schema),
                required="yes"
                if member in required
                else "unless fields= leaves it out"
                if member in unless_fields
                else "no",
                description=rich_text(member_schema.get("description", "")),
            )
            for member, member_schema in schema.get("properties", {}).items()
        ]
        views.append(SchemaView(name, rich_text(schema.get("description", "")), properties))
    return views
