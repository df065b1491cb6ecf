"""What a source may state: the object types of the workbook format, their key and fields, and how each value is read.

One description serves every source: the workbook reader matches headers against it, the push API
validates JSON records against it, the pull mapping targets its field names, and the template and the
OpenAPI document are written from it (docs: DESIGN.md, "Workbook format").

Every value is reduced to one canonical text (dates as YYYY-MM-DD, enumerations in their stored
spelling, tags as `a, b`), so that comparing what a source says with what the referential shows is
a comparison of two strings.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any

from portal.applications.models import APPLICATION_STATUSES, CRITICALITIES, TRIGRAM_PATTERN
from portal.entities.models import ENTITY_KINDS
from portal.environments.models import COMPONENT_KINDS, ENVIRONMENT_KINDS, ENVIRONMENT_STATUSES
from portal.people.models import STAKEHOLDER_ROLES

# Separates the parts of a composite natural key (`BCA|jdoe|owner`); refused inside key values.
KEY_SEPARATOR = "|"
# A spreadsheet export neutralises text starting with one of these by a leading `'` (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
MAX_TEXT = 10_000
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
LOGIN_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ENTITY_CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
DAY_MONTH_YEAR = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
YEAR_MONTH_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ][0-9:.]+)?$")


class InvalidValue(ValueError):
    """A value a field cannot hold; the message says why in words a steward understands."""


def fold_header(text: str) -> str:
    """A header or enumeration spelling reduced for matching: no accents, no case, letters and digits only."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed.casefold() if char.isalnum())


def clean_text(value: Any) -> str | None:
    """Text as a source gave it, stripped; None when empty. Refuses control characters."""
    if value is None:
        return None
    if type(value) is str:  # the usual case, checked first: this runs for every value of every import
        text = value.strip()
    elif isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidValue(f"expected text, got {type(value).__name__}")
    else:
        text = str(value).strip()
    if CONTROL_CHARACTERS.search(text):
        raise InvalidValue("contains control characters")
    # Undo the `'` an export puts before text a spreadsheet would run as a formula.
    if len(text) > 1 and text[0] == "'" and text[1] in FORMULA_TRIGGERS:
        text = text[1:]
    return text or None


@dataclass(frozen=True)
class Field:
    """One column of a sheet (one key of a pushed record) and how its values are read.

    `name` is the snake_case key used by the push API, the audit log and the provenance;
    `header` is the workbook column; `aliases` are other headers accepted for it (French ones).
    `parse` turns a raw value into canonical text or raises `InvalidValue`.
    """

    name: str
    header: str
    parse: Callable[[Any], str | None]
    aliases: tuple[str, ...] = ()
    required: bool = False  # needed to create the object (always needed for key fields)
    help: str = ""
    choices: tuple[str, ...] = ()

    @property
    def spellings(self) -> set[str]:
        return {fold_header(spelling) for spelling in (self.header, self.name, *self.aliases)}


@dataclass(frozen=True)
class ObjectType:
    """A kind of object a source describes: a sheet of the workbook, a `type` of pushed record."""

    name: str
    sheet: str
    sheet_aliases: tuple[str, ...]
    key: tuple[Field, ...]
    fields: tuple[Field, ...]
    # Fields that describe another object (the Stakeholders sheet names the person): name -> (type, field).
    foreign_fields: dict[str, tuple[str, str]] = field(default_factory=dict)
    # The sheet's column order, by field name, when it is not the key then the fields (DESIGN.md's format).
    order: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[Field, ...]:
        """Every column in the workbook's order: the template, the export and the error workbook use it."""
        columns = (*self.key, *self.fields)
        if not self.order:
            return columns
        return tuple(sorted(columns, key=lambda column: self.order.index(column.name)))

    @property
    def headers(self) -> tuple[str, ...]:
        return tuple(column.header for column in self.columns)

    def column(self, name: str) -> Field:
        return next(column for column in self.columns if column.name == name)

    @cached_property
    def own_fields(self) -> tuple[Field, ...]:
        return tuple(column for column in self.fields if column.name not in self.foreign_fields)

    @cached_property
    def field_by_name(self) -> dict[str, Field]:
        return {column.name: column for column in self.fields}

    def natural_key(self, key: tuple[str, ...]) -> str:
        return KEY_SEPARATOR.join(key)

    def split_key(self, natural_key: str) -> tuple[str, ...]:
        return tuple(natural_key.split(KEY_SEPARATOR))


# Readers: each returns canonical text or None, or raises InvalidValue.


def text(max_length: int = MAX_TEXT) -> Callable[[Any], str | None]:
    def parse(value: Any) -> str | None:
        cleaned = clean_text(value)
        if cleaned is not None and len(cleaned) > max_length:
            raise InvalidValue(f"longer than {max_length} characters")
        return cleaned

    return parse


def key_text(
    max_length: int, pattern: re.Pattern[str] | None = None, lower: bool = False
) -> Callable[[Any], str | None]:
    as_text = text(max_length)

    def parse(value: Any) -> str | None:
        cleaned = as_text(value)
        if cleaned is None:
            return None
        cleaned = cleaned.lower() if lower else cleaned
        if KEY_SEPARATOR in cleaned:
            raise InvalidValue(f"must not contain {KEY_SEPARATOR!r}")
        if pattern is not None and not pattern.match(cleaned):
            raise InvalidValue("is not a valid identifier")
        return cleaned

    return parse


def trigram(value: Any) -> str | None:
    cleaned = clean_text(value)
    if cleaned is None:
        return None
    upper = cleaned.replace(" ", "").upper()
    if not TRIGRAM_PATTERN.match(upper):
        raise InvalidValue("is not a trigram (3 letters, then up to 4 letters or digits)")
    return upper


def choice(values: tuple[str, ...], aliases: dict[str, str] | None = None) -> Callable[[Any], str | None]:
    """An enumeration: its stored spelling, or a label or French word for it, in any case."""
    known = {fold_header(value): value for value in values}
    known.update({fold_header(alias): value for alias, value in (aliases or {}).items()})
    exact = {value: value for value in values}

    def parse(value: Any) -> str | None:
        cleaned = clean_text(value)
        if cleaned is None:
            return None
        if cleaned in exact:  # most sources write the stored spelling: no folding needed
            return exact[cleaned]
        try:
            return known[fold_header(cleaned)]
        except KeyError:
            raise InvalidValue(f"is not one of {', '.join(values)}") from None

    return parse


def day(value: Any) -> str | None:
    """A date: a real Excel date, `dd/mm/yyyy` text, or ISO `yyyy-mm-dd`."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    cleaned = clean_text(value)
    if cleaned is None:
        return None
    try:
        if match := DAY_MONTH_YEAR.match(cleaned):
            return date(int(match[3]), int(match[2]), int(match[1])).isoformat()
        if match := YEAR_MONTH_DAY.match(cleaned):
            return date(int(match[1]), int(match[2]), int(match[3])).isoformat()
    except ValueError:
        raise InvalidValue("is not a real date") from None
    raise InvalidValue("is not a date (use dd/mm/yyyy or yyyy-mm-dd)")


URL_PATTERN = re.compile(r"^https?://[^\s]+$", re.IGNORECASE)
# Readers made once: these run for every value of every import.
url_text, email_text, tag_text, details_text = text(500), text(254), text(100), text(2000)


def url(value: Any) -> str | None:
    cleaned = url_text(value)
    if cleaned is not None and not URL_PATTERN.match(cleaned):
        raise InvalidValue("is not an http(s) URL")
    return cleaned


def email(value: Any) -> str | None:
    cleaned = email_text(value)
    if cleaned is not None and not EMAIL_PATTERN.match(cleaned):
        raise InvalidValue("is not an email address")
    return cleaned


def tags(value: Any) -> str | None:
    """Comma-separated tags (a JSON list is accepted too), stripped, without empty or repeated ones."""
    items = value if isinstance(value, list) else (clean_text(value) or "").split(",")
    cleaned = [tag_text(item) for item in items]
    unique = list(dict.fromkeys(tag for tag in cleaned if tag))
    joined = ", ".join(unique)
    if len(joined) > 500:
        raise InvalidValue("longer than 500 characters in all")
    return joined or None


def details(value: Any) -> str | None:
    """A component's free attributes: `key=value; key=value` text, or a JSON object."""
    if isinstance(value, dict):
        return format_details(value)
    cleaned = details_text(value)
    return format_details(parse_details(cleaned)) if cleaned else None


def parse_details(value: str | None) -> dict[str, str]:
    """`memory_gb=16; os=RHEL 9` as a dict; text without `=` is kept under `details`."""
    if not value:
        return {}
    pairs = [part.split("=", 1) for part in value.split(";") if part.strip()]
    if not all(len(pair) == 2 for pair in pairs):
        return {"details": value}
    return {key.strip(): item.strip() for key, item in pairs}


def format_details(attributes: dict[str, Any] | None) -> str | None:
    return "; ".join(f"{key}={item}" for key, item in (attributes or {}).items() if item is not None) or None


ROLE_ALIASES = {
    "IT owner": "it_owner",
    "Business owner": "business_owner",
    "Tech lead": "tech_lead",
    "Propriétaire": "owner",
    "Responsable": "owner",
    "Responsable informatique": "it_owner",
    "Responsable métier": "business_owner",
    "Référent technique": "tech_lead",
    "Sécurité": "security",
}
STATUS_ALIASES = {
    "Projet": "plan",
    "Construction": "build",
    "En production": "production",
    "Décommissionnement": "decommissioning",
    "Retiré": "retired",
}
CRITICALITY_ALIASES = {"Critique": "critical", "Haute": "high", "Élevée": "high", "Moyenne": "medium", "Basse": "low"}
ENVIRONMENT_ALIASES = {"Recette": "uat", "Préproduction": "preprod", "Production": "prod", "PRA": "dr"}
ENVIRONMENT_STATUS_ALIASES = {"Prévu": "planned", "Actif": "active", "Retiré": "retired"}
ENTITY_KIND_ALIASES = {"Groupe": "group", "Direction": "division", "Département": "department", "Équipe": "team"}

TRIGRAM = Field(
    "trigram", "Trigram", trigram, ("Trigramme", "Code application"), True, "3 letters, then up to 4 letters or digits"
)
LOGIN = Field("login", "Login", key_text(64, LOGIN_PATTERN, lower=True), ("Identifiant",), True, "the person's login")
ENTITY_REF = Field("entity", "Entity", key_text(40, ENTITY_CODE_PATTERN), ("Entité",), help="code of an entity")

APPLICATION = ObjectType(
    "application",
    "Applications",
    ("Applications",),
    (TRIGRAM,),
    (
        Field("name", "Name", text(200), ("Nom", "Libellé"), True, "the application's name"),
        Field("description", "Description", text(), ()),
        Field(
            "status",
            "Status",
            choice(APPLICATION_STATUSES, STATUS_ALIASES),
            ("Statut",),
            help="lifecycle status",
            choices=APPLICATION_STATUSES,
        ),
        Field(
            "criticality",
            "Criticality",
            choice(CRITICALITIES, CRITICALITY_ALIASES),
            ("Criticité",),
            choices=CRITICALITIES,
        ),
        ENTITY_REF,
        Field("go_live", "Go-live", day, ("Mise en production", "Date de mise en production"), help="a date"),
        Field("end_of_support", "End of support", day, ("Fin de support",), help="a date"),
        Field("decommission", "Decommission", day, ("Décommissionnement", "Date de décommissionnement"), help="a date"),
        Field("tags", "Tags", tags, ("Étiquettes", "Mots-clés"), help="comma-separated"),
        Field("documentation_url", "Documentation URL", url, ("URL de documentation", "Documentation"), help="http(s)"),
    ),
)
STAKEHOLDER = ObjectType(
    "stakeholder",
    "Stakeholders",
    ("Acteurs", "Intervenants", "Parties prenantes"),
    (
        TRIGRAM,
        LOGIN,
        Field(
            "role",
            "Role",
            choice(STAKEHOLDER_ROLES, ROLE_ALIASES),
            ("Rôle",),
            True,
            "the person's role on the application",
            STAKEHOLDER_ROLES,
        ),
    ),
    (
        Field("name", "Name", text(200), ("Nom",), help="the person's name"),
        Field("email", "Email", email, ("Courriel", "E-mail", "Mail"), help="the person's email"),
    ),
    foreign_fields={"name": ("person", "name"), "email": ("person", "email")},
)
ENVIRONMENT = ObjectType(
    "environment",
    "Environments",
    ("Environnements",),
    (TRIGRAM, Field("name", "Name", key_text(100), ("Nom",), True, "the environment's name (its kind when empty)")),
    (
        Field(
            "kind",
            "Environment",
            choice(ENVIRONMENT_KINDS, ENVIRONMENT_ALIASES),
            ("Environnement", "Kind"),
            True,
            "dev, uat, preprod, prod or dr",
            ENVIRONMENT_KINDS,
        ),
        Field("url", "URL", url, (), help="http(s)"),
        Field(
            "status",
            "Status",
            choice(ENVIRONMENT_STATUSES, ENVIRONMENT_STATUS_ALIASES),
            ("Statut",),
            choices=ENVIRONMENT_STATUSES,
        ),
    ),
    order=("trigram", "kind", "name", "url", "status"),
)

COMPONENT = ObjectType(
    "component",
    "Components",
    ("Composants",),
    (
        TRIGRAM,
        Field("environment", "Environment", key_text(100), ("Environnement",), True, "the environment's name"),
        Field(
            "kind", "Kind", choice(COMPONENT_KINDS), ("Type",), True, "server, database, namespace...", COMPONENT_KINDS
        ),
        Field("name", "Name", key_text(255), ("Nom", "Hostname"), True, "hostname, schema, namespace..."),
    ),
    (Field("details", "Details", details, ("Détails", "Attributs"), help="key=value; key=value"),),
)
INTERFACE = ObjectType(
    "interface",
    "Interfaces",
    ("Flux",),
    (
        Field("source", "Source", trigram, ("Application source",), True, "trigram of the sending application"),
        Field(
            "target", "Target", trigram, ("Cible", "Application cible"), True, "trigram of the receiving application"
        ),
        Field("protocol", "Protocol", key_text(40), ("Protocole",), True, "HTTPS, SFTP, MQ..."),
    ),
    (
        Field("frequency", "Frequency", text(40), ("Fréquence",)),
        Field("middleware", "Middleware", text(80), ()),
        Field("description", "Description", text(), ()),
    ),
)
ENTITY = ObjectType(
    "entity",
    "Entities",
    ("Entités",),
    (Field("code", "Code", key_text(40, ENTITY_CODE_PATTERN), (), True, "e.g. DSI-ETU"),),
    (
        Field("name", "Name", text(200), ("Nom",), True),
        Field("kind", "Kind", choice(ENTITY_KINDS, ENTITY_KIND_ALIASES), ("Type",), True, choices=ENTITY_KINDS),
        Field("parent", "Parent", key_text(40, ENTITY_CODE_PATTERN), (), help="code of the parent entity"),
    ),
)
PERSON = ObjectType(
    "person",
    "People",
    ("Personnes",),
    (LOGIN,),
    (
        Field("name", "Name", text(200), ("Nom",), help="display name (the login when empty)"),
        Field("email", "Email", email, ("Courriel", "E-mail", "Mail")),
        ENTITY_REF,
    ),
)

# In the order a run applies them: what others refer to comes first.
OBJECT_TYPES: dict[str, ObjectType] = {
    object_type.name: object_type
    for object_type in (ENTITY, PERSON, APPLICATION, ENVIRONMENT, COMPONENT, STAKEHOLDER, INTERFACE)
}
# Object types that belong to an application: their key starts with its trigram (an interface belongs to
# its source application). Their history and conflicts are listed with the application's.
APPLICATION_OWNED = ("application", "environment", "component", "stakeholder", "interface")


def owning_application(object_type: str, key: Sequence[str]) -> str | None:
    """The trigram of the application an object belongs to (its history and conflicts list it)."""
    return key[0] if object_type in APPLICATION_OWNED else None


# The order of sheets in the template and the export.
SHEET_ORDER = ("application", "stakeholder", "environment", "component", "interface", "entity", "person")
