"""The application page's view model: plain values, grouped and ordered, with the dependency graph laid out.

`build_page` runs the page's few queries (all in `queries.py`, with eager loading); the template then reads
plain dataclasses and never touches the models, so rendering cannot trigger a lazy load.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from flask import url_for
from sqlalchemy.orm import Session

from portal.applications.models import TRIGRAM_PATTERN, Application, normalize_trigram
from portal.applications.queries import get_entity_path, select_interfaces_of
from portal.conflicts.queries import count_open_conflicts
from portal.core.navigation import optional_url
from portal.environments.models import ENVIRONMENT_KINDS, Environment
from portal.people.models import ROLE_LABELS, STAKEHOLDER_ROLES, Stakeholder
from portal.sources.models import Source, SourceRecord
from portal.sources.queries import FieldProvenance, get_records_of, provenance_from

COMPONENT_LABELS = {
    "server": "Server",
    "database": "Database",
    "namespace": "Namespace",
    "url": "URL",
    "queue": "Queue",
    "other": "Other",
}
MAX_COMPONENT_DETAILS = 6

# The neighbours graph, in SVG user units: sources in the left column, targets in the right one.
GRAPH_WIDTH = 880
NODE_WIDTH = 196
NODE_HEIGHT = 30
ROW_HEIGHT = 38
CENTER_WIDTH = 176
CENTER_HEIGHT = 52
GRAPH_TOP = 30  # room for the column captions
GRAPH_BOTTOM = 8
MAX_NODES_PER_SIDE = 9  # beyond this (+1), the rest of a side collapses into one "+N more" node
PROTOCOL_LABEL_LENGTH = 18
NARROW_WIDTH = 340
NARROW_BUS = 36  # room beside the stacked boxes for the vertical edges
NARROW_CENTER_WIDTH = 220
NARROW_PROTOCOL_LENGTH = 12
# Average glyph widths at the graph's font sizes, to shorten names before they overflow their box.
TRIGRAM_CHAR_WIDTH = 7.6
PROTOCOL_CHAR_WIDTH = 6.7
NAME_CHAR_WIDTH = 6.3

Direction = Literal["in", "out"]


def is_well_formed(trigram: str) -> bool:
    return TRIGRAM_PATTERN.match(normalize_trigram(trigram)) is not None


def searchable(trigram: str) -> str:
    """Only the letters and digits of what was typed: the part worth comparing to existing trigrams."""
    return re.sub(r"[^0-9A-Za-z]", "", trigram)[:7]


@dataclass(frozen=True)
class Link:
    label: str
    href: str | None
    title: str = ""


@dataclass(frozen=True)
class Milestone:
    """A step of the lifecycle timeline; `state` is past, future, unset or today (the "now" marker)."""

    label: str
    day: date | None
    state: Literal["past", "future", "unset", "today"]
    relative: str = ""


@dataclass(frozen=True)
class PersonRow:
    name: str
    login: str
    email: str | None
    href: str | None


@dataclass(frozen=True)
class RoleGroup:
    role: str
    label: str
    people: list[PersonRow]


@dataclass(frozen=True)
class ComponentRow:
    kind: str
    label: str
    name: str
    details: list[tuple[str, str]]


@dataclass(frozen=True)
class EnvironmentRow:
    kind: str
    name: str
    status: str | None
    url: str | None
    components: list[ComponentRow]


@dataclass(frozen=True)
class InterfaceRow:
    direction: Direction
    trigram: str
    name: str
    status: str
    href: str
    protocol: str
    frequency: str | None
    middleware: str | None
    description: str | None


@dataclass(frozen=True)
class Neighbour:
    """An application at the other end of one or more interfaces (protocols joined), or the "+N more" box."""

    trigram: str
    name: str
    title: str
    href: str
    protocols: str
    retired: bool = False
    more: bool = False


@dataclass(frozen=True)
class GraphNode:
    """A neighbour's box at (x, y), its edge to or from the centre (`edge`, an SVG path) and the protocols'
    label at (protocol_x, protocol_y); `label` is the name shortened to fit the box."""

    neighbour: Neighbour
    x: float
    y: float
    width: float
    height: float
    label: str
    protocol: str
    edge: str
    protocol_x: float
    protocol_y: float
    anchor: Literal["start", "end"]


@dataclass(frozen=True)
class Caption:
    text: str
    x: float
    y: float
    anchor: Literal["start", "end"]


@dataclass(frozen=True)
class GraphLayout:
    """The graph drawn for one width: `wide` (sources left, targets right) or `narrow` (stacked, for phones)."""

    kind: Literal["wide", "narrow"]
    width: float
    height: float
    center_x: float
    center_y: float
    center_width: float
    center_height: float
    center_label: str
    captions: list[Caption]
    nodes: list[GraphNode]


@dataclass(frozen=True)
class Graph:
    trigram: str
    sources: int
    targets: int
    wide: GraphLayout
    narrow: GraphLayout

    @property
    def layouts(self) -> tuple[GraphLayout, GraphLayout]:
        return (self.wide, self.narrow)

    @property
    def description(self) -> str:
        return (
            f"{self.trigram} receives data from {_count(self.sources, 'application')} "
            f"and sends data to {_count(self.targets, 'application')}."
        )


@dataclass(frozen=True)
class ApplicationPage:
    trigram: str
    name: str
    status: str
    criticality: str | None
    description: str | None
    entity: Link | None
    entity_path: list[Link]
    tags: list[str]
    documentation_url: str | None
    repository_url: str | None
    milestones: list[Milestone]
    stakeholders: list[RoleGroup]
    environments: list[EnvironmentRow]
    interfaces: list[InterfaceRow]
    graph: Graph | None
    api_url: str
    curl: str
    tokens_url: str
    created: date
    updated: date
    # Where each field's value comes from (fields no source states were entered directly).
    provenance: dict[str, FieldProvenance]
    source_lines: list[SourceLine]
    open_conflicts: int

    @property
    def stakeholder_count(self) -> int:
        return sum(len(group.people) for group in self.stakeholders)

    @property
    def provenance_rows(self) -> list[tuple[str, FieldProvenance | None]]:
        return [(label, self.provenance.get(field)) for field, label in PROVENANCE_FIELDS]

    def origin(self, field: str) -> str | None:
        """A short sentence on where `field`'s value comes from, for the hover title and the provenance table."""
        found = self.provenance.get(field)
        if found is None:
            return None
        run = f", run #{found.run_id}" if found.run_id else ""
        missing = f"; missing from it since {found.missing_since:%Y-%m-%d}" if found.missing_since else ""
        return f"From {found.source}{run}, last confirmed {found.confirmed_at:%Y-%m-%d %H:%M}{missing}"


@dataclass(frozen=True)
class SourceLine:
    """What one source says about this application and what belongs to it: how many objects, how fresh."""

    source: str
    kind: str
    records: int
    last_seen: datetime
    missing: int


# The application's fields in the order the provenance table lists them.
PROVENANCE_FIELDS = (
    ("name", "Name"),
    ("description", "Description"),
    ("status", "Status"),
    ("criticality", "Criticality"),
    ("entity", "Entity"),
    ("go_live", "Go-live"),
    ("end_of_support", "End of support"),
    ("decommission", "Decommission"),
    ("tags", "Tags"),
    ("documentation_url", "Documentation URL"),
)


def source_lines(records: list[tuple[SourceRecord, Source]]) -> list[SourceLine]:
    lines: dict[str, dict[str, Any]] = {}
    for record, source in records:
        line = lines.setdefault(
            source.name, {"kind": source.kind, "records": 0, "last_seen": record.last_confirmed_at, "missing": 0}
        )
        line["records"] += 1
        line["last_seen"] = max(line["last_seen"], record.last_confirmed_at)
        line["missing"] += 1 if record.missing_since else 0
    return [SourceLine(name, **values) for name, values in lines.items()]


def build_page(session: Session, application: Application, today: date) -> ApplicationPage:
    """Everything the page shows about `application` (loaded by `find_application`)."""
    entity = application.entity
    interfaces = interface_rows(session, application)
    # One query for what every source says about the application and its parts: provenance and freshness.
    records = get_records_of(session, application.trigram)
    api_url = url_for("applications_api.detail", trigram=application.trigram, _external=True)
    return ApplicationPage(
        trigram=application.trigram,
        name=application.name,
        status=application.status,
        criticality=application.criticality,
        description=application.description,
        entity=_entity_link(entity.code, entity.name, entity.kind) if entity else None,
        entity_path=[_entity_link(item.code, item.name, item.kind) for item in get_entity_path(session, entity)]
        if entity
        else [],
        tags=application.tag_list,
        documentation_url=application.documentation_url,
        repository_url=application.repository_url,
        milestones=lifecycle(application, today),
        stakeholders=group_stakeholders(application.stakeholders),
        environments=environment_rows(application.environments),
        interfaces=interfaces,
        graph=layout_graph(application.trigram, application.name, interfaces),
        api_url=api_url,
        curl=f"curl -H \"Authorization: Bearer $REFERENTIEL_TOKEN\" '{api_url}'",
        tokens_url=url_for("auth.tokens"),
        created=application.created_at.date(),
        updated=application.updated_at.date(),
        provenance=provenance_from(records, "application", application.trigram),
        source_lines=source_lines(records),
        open_conflicts=count_open_conflicts(session, application.trigram),
    )


def _entity_link(code: str, name: str, kind: str) -> Link:
    return Link(name, optional_url("entities.detail", code=code), f"{code} ({kind})")


def lifecycle(application: Application, today: date) -> list[Milestone]:
    """Go-live, end of support and decommission in that order, with "today" placed among them."""
    steps = (
        ("Go-live", application.go_live_date),
        ("End of support", application.end_of_support_date),
        ("Decommission", application.decommission_date),
    )
    milestones: list[Milestone] = []
    for label, day in steps:
        if day is None:
            milestones.append(Milestone(label, None, "unset"))
        else:
            milestones.append(Milestone(label, day, "past" if day <= today else "future", relative_day(day, today)))
    now = max((index + 1 for index, step in enumerate(milestones) if step.state == "past"), default=0)
    milestones.insert(now, Milestone("Today", today, "today"))
    return milestones


def relative_day(day: date, today: date) -> str:
    """ "today", "in 3 months", "2 years ago": how far `day` is, roughly."""
    days = (day - today).days
    if days == 0:
        return "today"
    span = abs(days)
    if span < 60:
        text = _count(span, "day")
    elif span < 730:
        text = _count(round(span / 30.44), "month")
    else:
        text = _count(round(span / 365.25), "year")
    return f"in {text}" if days > 0 else f"{text} ago"


def group_stakeholders(links: list[Stakeholder]) -> list[RoleGroup]:
    """People by role, roles in the order of STAKEHOLDER_ROLES, people by name within a role."""
    people: dict[str, list[PersonRow]] = {}
    for link in links:
        person = link.person
        href = optional_url("people.detail", login=person.login)
        people.setdefault(link.role, []).append(PersonRow(person.display_name, person.login, person.email, href))
    return [
        RoleGroup(role, ROLE_LABELS.get(role, role.replace("_", " ").capitalize()), sorted(rows, key=_by_name))
        for role in STAKEHOLDER_ROLES
        if (rows := people.get(role))
    ]


def _by_name(row: PersonRow) -> tuple[str, str]:
    return (row.name.casefold(), row.login)


def environment_rows(environments: list[Environment]) -> list[EnvironmentRow]:
    """Environments from dev to dr (ENVIRONMENT_KINDS), each with its components in their stored order."""
    ordered = sorted(environments, key=lambda item: (_index(ENVIRONMENT_KINDS, item.kind), item.name.casefold()))
    return [
        EnvironmentRow(
            kind=environment.kind,
            name=environment.name,
            status=environment.status,
            url=environment.url,
            components=[
                ComponentRow(
                    component.kind,
                    COMPONENT_LABELS.get(component.kind, component.kind.capitalize()),
                    component.name,
                    component_details(component.attributes),
                )
                for component in environment.components
            ],
        )
        for environment in ordered
    ]


def component_details(attributes: dict[str, Any] | None) -> list[tuple[str, str]]:
    """A component's free attributes as (label, text) pairs: `memory_gb` reads "memory gb"."""
    details = []
    for key, value in list((attributes or {}).items())[:MAX_COMPONENT_DETAILS]:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        details.append((str(key).replace("_", " "), text))
    return details


def interface_rows(session: Session, application: Application) -> list[InterfaceRow]:
    """Incoming flows, then outgoing ones, each by the other application's trigram then protocol."""
    rows = []
    for interface in session.scalars(select_interfaces_of(application.id)):
        direction: Direction = "out" if interface.source_application_id == application.id else "in"
        other = interface.target if direction == "out" else interface.source
        rows.append(
            InterfaceRow(
                direction=direction,
                trigram=other.trigram,
                name=other.name,
                status=other.status,
                href=url_for("applications.detail", trigram=other.trigram),
                protocol=interface.protocol,
                frequency=interface.frequency,
                middleware=interface.middleware,
                description=interface.description,
            )
        )
    return sorted(rows, key=lambda row: (row.direction != "in", row.trigram, row.protocol.casefold()))


def layout_graph(trigram: str, name: str, interfaces: list[InterfaceRow]) -> Graph | None:
    """The neighbours one hop away, one box per application (its protocols joined), at most
    MAX_NODES_PER_SIDE + 1 boxes a side; laid out twice, for wide screens and for phones. None without interfaces."""
    if not interfaces:
        return None
    sources = _neighbours(interfaces, "in")
    targets = _neighbours(interfaces, "out")
    shown_sources, shown_targets = _collapse(sources), _collapse(targets)
    return Graph(
        trigram=trigram,
        sources=len(sources),
        targets=len(targets),
        wide=_wide_layout(name, shown_sources, shown_targets, len(sources), len(targets)),
        narrow=_narrow_layout(name, shown_sources, shown_targets, len(sources), len(targets)),
    )


def _neighbours(interfaces: list[InterfaceRow], direction: Direction) -> list[Neighbour]:
    """The applications at the other end of this direction's interfaces, by trigram."""
    grouped: dict[str, list[InterfaceRow]] = {}
    for row in interfaces:
        if row.direction == direction:
            grouped.setdefault(row.trigram, []).append(row)
    neighbours = []
    for key in sorted(grouped):
        first = grouped[key][0]
        protocols = ", ".join(sorted({row.protocol for row in grouped[key]}, key=str.casefold))
        title = f"{first.trigram} · {first.name} ({protocols})"
        neighbours.append(
            Neighbour(first.trigram, first.name, title, first.href, protocols, retired=first.status == "retired")
        )
    return neighbours


def _collapse(neighbours: list[Neighbour]) -> list[Neighbour]:
    """The first MAX_NODES_PER_SIDE neighbours and a "+N more" box for the rest (never "+1 more")."""
    if len(neighbours) <= MAX_NODES_PER_SIDE + 1:
        return neighbours
    hidden = len(neighbours) - MAX_NODES_PER_SIDE
    title = f"{_count(hidden, 'more application')}: see the table of interfaces"
    return [*neighbours[:MAX_NODES_PER_SIDE], Neighbour("", f"+{hidden} more", title, "#interfaces", "", more=True)]


def _wide_layout(
    name: str, sources: list[Neighbour], targets: list[Neighbour], source_count: int, target_count: int
) -> GraphLayout:
    """Sources in a left column, targets in a right one, curved edges meeting the centre box's sides."""
    rows = max(len(sources), len(targets), 2)
    center_mid = GRAPH_TOP + rows * ROW_HEIGHT / 2
    center_x = (GRAPH_WIDTH - CENTER_WIDTH) / 2
    nodes = _wide_column(sources, "in", rows, center_mid) + _wide_column(targets, "out", rows, center_mid)
    return GraphLayout(
        kind="wide",
        width=GRAPH_WIDTH,
        height=GRAPH_TOP + rows * ROW_HEIGHT + GRAPH_BOTTOM,
        center_x=center_x,
        center_y=center_mid - CENTER_HEIGHT / 2,
        center_width=CENTER_WIDTH,
        center_height=CENTER_HEIGHT,
        center_label=_shorten(name, 26),
        captions=[
            Caption(f"Sources · {source_count}", 0, 14, "start"),
            Caption(f"Targets · {target_count}", GRAPH_WIDTH, 14, "end"),
        ],
        nodes=nodes,
    )


def _wide_column(side: list[Neighbour], direction: Direction, rows: int, center_mid: float) -> list[GraphNode]:
    first_y = GRAPH_TOP + (rows - len(side)) * ROW_HEIGHT / 2 + (ROW_HEIGHT - NODE_HEIGHT) / 2
    center_left, center_right = (GRAPH_WIDTH - CENTER_WIDTH) / 2, (GRAPH_WIDTH + CENTER_WIDTH) / 2
    # Edges meet the centre box spread along its side, not all at one point.
    spread = min(8.0, (CENTER_HEIGHT - 16) / max(len(side) - 1, 1))
    nodes = []
    for index, neighbour in enumerate(side):
        y = first_y + index * ROW_HEIGHT
        mid = y + NODE_HEIGHT / 2
        end_y = center_mid + (index - (len(side) - 1) / 2) * spread
        protocol = _shorten(neighbour.protocols, PROTOCOL_LABEL_LENGTH)
        label = _fit(neighbour, NODE_WIDTH, "")
        if direction == "in":
            edge = _curve(NODE_WIDTH, mid, center_left, end_y)
            node = GraphNode(
                neighbour, 0, y, NODE_WIDTH, NODE_HEIGHT, label, protocol, edge, NODE_WIDTH + 8, mid - 6, "start"
            )
        else:
            x = GRAPH_WIDTH - NODE_WIDTH
            edge = _curve(center_right, end_y, x, mid)
            node = GraphNode(neighbour, x, y, NODE_WIDTH, NODE_HEIGHT, label, protocol, edge, x - 8, mid - 6, "end")
        nodes.append(node)
    return nodes


def _narrow_layout(
    name: str, sources: list[Neighbour], targets: list[Neighbour], source_count: int, target_count: int
) -> GraphLayout:
    """For phones: sources stacked above the centre, targets below it; a bus on the right side carries the
    sources' edges into the centre, one on the left carries the centre's edges to the targets. The
    protocols sit inside each box."""
    width, node_width, bus = NARROW_WIDTH, NARROW_WIDTH - NARROW_BUS, NARROW_BUS / 2
    center_x = (width - NARROW_CENTER_WIDTH) / 2
    center_y = GRAPH_TOP - 6 + len(sources) * ROW_HEIGHT + 16
    center_mid = center_y + CENTER_HEIGHT / 2
    targets_top = center_y + CENTER_HEIGHT + 20
    nodes = []
    for index, neighbour in enumerate(sources):
        y = GRAPH_TOP - 6 + index * ROW_HEIGHT
        mid = y + NODE_HEIGHT / 2
        edge = f"M{node_width:g} {mid:g} H{width - bus:g} V{center_mid:g} H{center_x + NARROW_CENTER_WIDTH:g}"
        nodes.append(_narrow_node(neighbour, 0.0, y, node_width, edge))
    for index, neighbour in enumerate(targets):
        y = targets_top + GRAPH_TOP - 6 + index * ROW_HEIGHT
        mid = y + NODE_HEIGHT / 2
        edge = f"M{center_x:g} {center_mid:g} H{bus:g} V{mid:g} H{NARROW_BUS:g}"
        nodes.append(_narrow_node(neighbour, float(NARROW_BUS), y, node_width, edge))
    return GraphLayout(
        kind="narrow",
        width=width,
        height=targets_top + GRAPH_TOP - 6 + len(targets) * ROW_HEIGHT + GRAPH_BOTTOM,
        center_x=center_x,
        center_y=center_y,
        center_width=NARROW_CENTER_WIDTH,
        center_height=CENTER_HEIGHT,
        center_label=_shorten(name, 28),
        captions=[
            Caption(f"Sources · {source_count}", 0, 14, "start"),
            Caption(f"Targets · {target_count}", 0, targets_top + 14, "start"),
        ],
        nodes=nodes,
    )


def _narrow_node(neighbour: Neighbour, x: float, y: float, width: float, edge: str) -> GraphNode:
    protocol = _shorten(neighbour.protocols, NARROW_PROTOCOL_LENGTH)
    label = _fit(neighbour, width, protocol)
    mid = y + NODE_HEIGHT / 2
    return GraphNode(neighbour, x, y, width, NODE_HEIGHT, label, protocol, edge, x + width - 10, mid + 4, "end")


def _curve(x1: float, y1: float, x2: float, y2: float) -> str:
    """A cubic curve leaving (x1, y1) and reaching (x2, y2) horizontally."""
    bend = (x2 - x1) / 2
    return f"M{x1:g} {y1:g} C{x1 + bend:g} {y1:g} {x2 - bend:g} {y2:g} {x2:g} {y2:g}"


def _fit(neighbour: Neighbour, width: float, protocol: str) -> str:
    """The neighbour's name shortened to what fits in a box `width` wide beside its trigram (and protocol)."""
    if neighbour.more:
        return neighbour.name
    used = (
        20
        + 7
        + TRIGRAM_CHAR_WIDTH * len(neighbour.trigram)
        + (PROTOCOL_CHAR_WIDTH * len(protocol) + 10 if protocol else 0)
    )
    return _shorten(neighbour.name, max(int((width - used) / NAME_CHAR_WIDTH), 3))


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 1)].rstrip() + "…"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _index(values: tuple[str, ...], value: str) -> int:
    return values.index(value) if value in values else len(values)
