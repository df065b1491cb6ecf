"""Pulling a source from an external REST API: fetch every page first, then merge them as one run.

A source of kind `api` says in its `configuration` where the API is, how it pages and which of its
fields are ours (docs/sources-api.md). `sync` fetches every page before it writes anything, so an API
that fails on page 40 leaves the referential as it was; then the records take the same `execute` path
as a workbook or a push. A run that fails (configuration, network, an unreadable page, refused
records) applies nothing and is recorded as a failed import run whose error says why in one line.

The API's secret is read at run time from the environment variable the configuration names. It is
never stored, never logged, and scrubbed from any error text (an API may echo the header it got).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
import urllib3
from sqlalchemy.orm import Session
from urllib3.exceptions import DecodeError, ReadTimeoutError

from portal import __version__
from portal.imports.merge import Plan, Statement
from portal.imports.models import ImportRun
from portal.imports.runs import Actor, PlanHasErrors, execute, finish, open_run, store_rows
from portal.imports.schema import OBJECT_TYPES, ObjectType
from portal.sources.models import Source

log = logging.getLogger(__name__)

Sleep = Callable[[float], None]

PAGINATION_STYLES = ("none", "page", "offset", "next")
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF_SECONDS = 0.5
DEFAULT_PAGE_SIZE = 100
DEFAULT_MAX_PAGES = 10_000
# A Retry-After longer than this is cut short: a CronJob should fail and say so, not sleep for an hour.
MAX_RETRY_AFTER_SECONDS = 60.0
# One page larger than this (after decompression) is refused rather than held in memory.
MAX_PAGE_BYTES = 50 * 1024 * 1024
# Refused records listed in a failed run's notes; all of them are kept as the run's rows.
MAX_NOTED_ERRORS = 100
ENV_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
HEADER_NAME_PATTERN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# `HTTPConnection(host='x', port=80): ` or `<urllib3.connection.HTTPConnection object at 0x...>: `
CONNECTION_PREFIX = re.compile(r"^(?:<[^>]*>|[\w.]*(?:Connection|Pool)\([^)]*\)): ")


class FetchError(Exception):
    """The API could not be read (network, HTTP status, malformed page, page cap); the message says where."""


class SyncFailed(Exception):
    """A sync that applied nothing. `run` is the failed run it recorded (None for a dry run)."""

    def __init__(self, reason: str, run: ImportRun | None = None, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.run = run
        self.errors = errors or []


# --- configuration ----------------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


class _Settings:
    """One JSON object of the configuration, read key by key: every error names the key (`pagination.size`)."""

    def __init__(self, values: Any, where: str, known: Iterable[str]) -> None:
        known = set(known)
        if not isinstance(values, dict):
            raise ValueError(f"{where}: expected an object, got {_json_type(values)}")
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{where}.{unknown[0]}: unknown key (expected one of {', '.join(sorted(known))})")
        self.values: dict[str, Any] = values
        self.where = where

    def name(self, key: str) -> str:
        return f"{self.where}.{key}"

    def optional_text(self, key: str, default: str | None = None, allow_empty: bool = False) -> str | None:
        value = self.values.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str) or not (value or allow_empty):
            raise ValueError(f"{self.name(key)}: expected non-empty text, got {_json_type(value)}")
        if CONTROL_CHARACTERS.search(value):
            raise ValueError(f"{self.name(key)}: contains control characters")
        return value

    def text(self, key: str, default: str | None = None, allow_empty: bool = False) -> str:
        value = self.optional_text(key, default, allow_empty)
        if value is None:
            raise ValueError(f"{self.name(key)}: required")
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = self.values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise ValueError(f"{self.name(key)}: expected a number from {low:g} to {high:g}, got {value!r}")
        return float(value)

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{self.name(key)}: expected a whole number from {low} to {high}, got {value!r}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.values.get(key, default)
        if not isinstance(value, bool):
            raise ValueError(f"{self.name(key)}: expected true or false, got {value!r}")
        return value

    def path(self, key: str, required: bool = False) -> str | None:
        """A dotted path into a JSON document (`data.items`); empty segments are a typo, not a path."""
        value = self.text(key) if required else self.optional_text(key)
        if value is not None and not all(value.split(".")):
            raise ValueError(f"{self.name(key)}: {value!r} is not a dotted path like data.items")
        return value


@dataclass(frozen=True)
class Auth:
    """A header carrying a secret that the environment holds (a Kubernetes Secret): `prefix` + the secret."""

    env: str
    header: str = "Authorization"
    prefix: str = ""

    @classmethod
    def parse(cls, values: Any) -> Auth:
        settings = _Settings(values, "configuration.auth", ("header", "env", "prefix"))
        env = settings.text("env")
        if not ENV_NAME_PATTERN.match(env):
            raise ValueError(f"configuration.auth.env: {env!r} is not an environment variable name")
        header = settings.text("header", "Authorization")
        if not HEADER_NAME_PATTERN.match(header):
            raise ValueError(f"configuration.auth.header: {header!r} is not an HTTP header name")
        return cls(env, header, settings.text("prefix", "", allow_empty=True))

    def secret(self) -> str:
        """The secret, read now (so a rotated Secret is picked up by the next run); raises `FetchError` if unset."""
        secret = os.environ.get(self.env, "")
        if not secret:
            raise FetchError(
                f"the environment variable {self.env} is not set: it holds the secret for the {self.header} header"
            )
        if CONTROL_CHARACTERS.search(secret):
            raise FetchError(f"the environment variable {self.env} holds control characters (a trailing newline?)")
        return secret


@dataclass(frozen=True)
class Pagination:
    """How the API splits its list: one page, numbered pages, offsets, or a link to the next page."""

    style: str = "none"
    param: str | None = None
    size_param: str | None = None
    size: int = DEFAULT_PAGE_SIZE
    start: int = 0
    next_path: str | None = None
    max_pages: int = DEFAULT_MAX_PAGES

    @classmethod
    def parse(cls, values: Any) -> Pagination:
        if values is None:
            return cls()
        if not isinstance(values, dict):
            raise ValueError(f"configuration.pagination: expected an object, got {_json_type(values)}")
        style = values.get("style")
        if style not in PAGINATION_STYLES:
            raise ValueError(
                f"configuration.pagination.style: expected one of {', '.join(PAGINATION_STYLES)}, got {style!r}"
            )
        if style == "none":
            _Settings(values, "configuration.pagination", ("style",))
            return cls()
        if style == "next":
            settings = _Settings(values, "configuration.pagination", ("style", "next_path", "max_pages"))
            return cls(style, next_path=settings.path("next_path", required=True), max_pages=cls._cap(settings))
        size_key = "size_param" if style == "page" else "limit_param"
        settings = _Settings(
            values, "configuration.pagination", ("style", "param", size_key, "size", "start", "max_pages")
        )
        return cls(
            style,
            param=settings.text("param", style),
            size_param=settings.optional_text(size_key, "per_page" if style == "page" else "limit"),
            size=settings.integer("size", DEFAULT_PAGE_SIZE, 1, 100_000),
            start=settings.integer("start", 1 if style == "page" else 0, 0, 1_000_000_000),
            max_pages=cls._cap(settings),
        )

    @staticmethod
    def _cap(settings: _Settings) -> int:
        return settings.integer("max_pages", DEFAULT_MAX_PAGES, 1, 1_000_000)


CONFIG_KEYS = (
    "url",
    "object_type",
    "items_path",
    "auth",
    "pagination",
    "mapping",
    "timeout_seconds",
    "retries",
    "backoff_seconds",
    "snapshot",
)


@dataclass(frozen=True)
class PullConfig:
    """What a source of kind `api` says in its `configuration`, checked (docs/sources-api.md)."""

    url: str
    object_type: str
    mapping: dict[str, str]
    items_path: str | None = None
    auth: Auth | None = None
    pagination: Pagination = field(default_factory=Pagination)
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    retries: int = DEFAULT_RETRIES
    backoff_seconds: float = DEFAULT_BACKOFF_SECONDS
    snapshot: bool = True

    @classmethod
    def from_source(cls, source: Source) -> PullConfig:
        """The source's configuration; raises `ValueError` naming the bad key (or the source's kind)."""
        if source.kind != "api":
            raise ValueError(f"source {source.name} is of kind {source.kind}: only api sources are pulled")
        return cls.parse(source.configuration)

    @classmethod
    def parse(cls, configuration: Any) -> PullConfig:
        settings = _Settings(configuration, "configuration", CONFIG_KEYS)
        url = settings.text("url")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or re.search(r"\s", url):
            raise ValueError(f"configuration.url: {url!r} is not an http(s) URL")
        object_type = settings.text("object_type")
        if object_type not in OBJECT_TYPES:
            raise ValueError(
                f"configuration.object_type: {object_type!r} is not one of {', '.join(sorted(OBJECT_TYPES))}"
            )
        auth = settings.values.get("auth")
        return cls(
            url=url,
            object_type=object_type,
            mapping=_parse_mapping(settings.values.get("mapping"), OBJECT_TYPES[object_type]),
            items_path=settings.path("items_path"),
            auth=None if auth is None else Auth.parse(auth),
            pagination=Pagination.parse(settings.values.get("pagination")),
            timeout_seconds=settings.number("timeout_seconds", DEFAULT_TIMEOUT_SECONDS, 0.01, 300),
            retries=settings.integer("retries", DEFAULT_RETRIES, 0, 10),
            backoff_seconds=settings.number("backoff_seconds", DEFAULT_BACKOFF_SECONDS, 0, 60),
            snapshot=settings.boolean("snapshot", True),
        )


def _parse_mapping(values: Any, object_type: ObjectType) -> dict[str, str]:
    """`{our field: remote dotted path}`: every field must be one of the object type's, every key field mapped."""
    known = [column.name for column in object_type.columns]
    if values is None:
        raise ValueError(f"configuration.mapping: required (our field -> the API's field, for {object_type.name})")
    if not isinstance(values, dict):
        raise ValueError(f"configuration.mapping: expected an object, got {_json_type(values)}")
    for name in values:
        if name not in known:
            raise ValueError(
                f"configuration.mapping.{name}: not a field of {object_type.name} (fields: {', '.join(known)})"
            )
    settings = _Settings(values, "configuration.mapping", known)
    mapping = {name: settings.path(name, required=True) or "" for name in values}
    for column in object_type.key:
        if column.name not in mapping:
            raise ValueError(
                f"configuration.mapping.{column.name}: required, it is part of the {object_type.name}'s key"
            )
    return mapping


# --- fetching ---------------------------------------------------------------------------------------


def dig(document: Any, path: str | None) -> Any:
    """The value at a dotted path (`lifecycle.state`, `owners.0.login`), or None where the path leads nowhere."""
    if path is None:
        return document
    value = document
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isascii() and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def with_query(url: str, params: dict[str, Any]) -> str:
    """`url` with these query parameters set (replacing any of the same name the configured URL has)."""
    parts = urlsplit(url)
    kept = [(name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if name not in params]
    query = urlencode([*kept, *((name, str(value)) for name, value in params.items())])
    return urlunsplit(parts._replace(query=query))


class Page(NamedTuple):
    number: int  # 1 for the first page fetched, whatever the API numbers it
    url: str
    items: list[dict[str, Any]]


@dataclass
class Pulled:
    """Every record the API listed, in order, with the number of the page each came from."""

    records: list[dict[str, Any]] = field(default_factory=list)
    pages_of_records: list[int] = field(default_factory=list)
    pages: int = 0


class _Transient(Exception):
    """A failure that may pass (timeout, connection, 5xx, 429): worth another attempt."""

    def __init__(self, reason: str, timed_out: bool = False, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.timed_out = timed_out
        self.retry_after = retry_after


class _Refused(Exception):
    """A failure that another attempt would repeat (4xx, redirect, TLS, too large)."""


class Fetcher:
    """Reads every page of one API with its headers, timeout and retries; it knows nothing of the database.

    `timeout_seconds` bounds each attempt as a whole: requests' own timeout applies to each socket
    read, so an API trickling bytes would never time out without the deadline checked while reading.
    Redirects are not followed: requests only drops `Authorization` when a redirect leaves the host,
    and a secret in another header would go wherever the redirect points.
    """

    def __init__(self, config: PullConfig, secret: str | None = None, sleep: Sleep = time.sleep) -> None:
        self.config = config
        self.sleep = sleep
        self.http = requests.Session()
        self.http.headers.update({"Accept": "application/json", "User-Agent": f"Referentiel/{__version__}"})
        if config.auth is not None and secret is not None:
            self.http.headers[config.auth.header] = config.auth.prefix + secret

    def pull(self) -> Pulled:
        """Every record of every page; raises `FetchError` at the first page that cannot be read."""
        pulled = Pulled()
        with self.http:
            for page in self._pages():
                pulled.pages = page.number
                pulled.records.extend(page.items)
                pulled.pages_of_records.extend([page.number] * len(page.items))
        return pulled

    def _pages(self) -> Iterator[Page]:
        style = self.config.pagination.style
        if style == "none":
            yield self._page(1, self.config.url)
        elif style == "next":
            yield from self._linked_pages()
        else:
            yield from self._numbered_pages()

    def _numbered_pages(self) -> Iterator[Page]:
        """Pages by number or by offset, until an empty page.

        A page shorter than asked for is not taken as the last one: an API may cap the page size
        below what we ask, and stopping early would make a snapshot mark everything else missing.
        """
        pagination = self.config.pagination
        if pagination.param is None:  # Pagination.parse requires it for these styles
            raise FetchError(f"configuration.pagination.param: required with the {pagination.style!r} style")
        position = pagination.start
        previous: Page | None = None
        for number in range(1, pagination.max_pages + 1):
            params: dict[str, Any] = {pagination.param: position}
            if pagination.size_param:
                params[pagination.size_param] = pagination.size
            page = self._page(number, with_query(self.config.url, params))
            if not page.items:
                return
            if previous is not None and page.items == previous.items:
                raise FetchError(
                    f"page {number} of {page.url}: the same records as page {number - 1};"
                    f" does the API read the `{pagination.param}` parameter?"
                )
            yield page
            previous = page
            position += 1 if pagination.style == "page" else len(page.items)
        raise self._too_many_pages()

    def _linked_pages(self) -> Iterator[Page]:
        """Pages by their next link, until a page without one (or an empty page)."""
        pagination = self.config.pagination
        url = self.config.url
        seen = {url}
        for number in range(1, pagination.max_pages + 1):
            document = self._get(number, url)
            page = Page(number, url, self._items(number, url, document))
            if not page.items:
                return
            yield page
            link = dig(document, pagination.next_path)
            if link is None or link == "":
                return
            url = self._next_url(page, link)
            if url in seen:
                raise FetchError(f"page {number} of {page.url}: the next link goes back to {url}, an earlier page")
            seen.add(url)
        raise self._too_many_pages()

    def _next_url(self, page: Page, link: Any) -> str:
        """The next page's absolute URL; refused if it leaves the configured server, where the secret must stay."""
        if not isinstance(link, str):
            raise FetchError(
                f"page {page.number} of {page.url}: `{self.config.pagination.next_path}` is {_json_type(link)},"
                " not a link"
            )
        url = urljoin(page.url, link)
        if _origin(url) != _origin(self.config.url):
            raise FetchError(
                f"page {page.number} of {page.url}: the next link leads to another server ({_origin(url)});"
                " it is not followed, so the credentials stay with the configured one"
            )
        return url

    def _too_many_pages(self) -> FetchError:
        cap = self.config.pagination.max_pages
        return FetchError(
            f"{self.config.url}: still not at the last page after {cap} pages (pagination.max_pages);"
            " nothing was applied"
        )

    def _page(self, number: int, url: str) -> Page:
        return Page(number, url, self._items(number, url, self._get(number, url)))

    def _items(self, number: int, url: str, document: Any) -> list[dict[str, Any]]:
        items = dig(document, self.config.items_path)
        where = f"`{self.config.items_path}`" if self.config.items_path else "the answer"
        if items is None and self.config.items_path:
            raise FetchError(f"page {number} of {url}: no {where} in the answer (configuration.items_path)")
        if not isinstance(items, list):
            raise FetchError(f"page {number} of {url}: {where} is {_json_type(items)}, not a list of records")
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise FetchError(f"page {number} of {url}: item {index} is {_json_type(item)}, not an object")
        return items

    def _get(self, number: int, url: str) -> Any:
        """The JSON document at `url`, after as many attempts as the configuration allows."""
        attempts = self.config.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                body = self._attempt(url)
                break
            except _Refused as refused:
                raise FetchError(f"page {number} of {url}: {refused}") from None
            except _Transient as problem:
                if attempt == attempts:
                    raise FetchError(f"page {number} of {url}: {self._gave_up(problem, attempts)}") from None
                log.info("page %s of %s: %s (attempt %s of %s)", number, url, problem, attempt, attempts)
                self.sleep(self._pause(attempt, problem))
        try:
            return json.loads(body, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as error:
            raise FetchError(f"page {number} of {url}: the answer is not valid JSON ({error})") from None

    def _pause(self, attempt: int, problem: _Transient) -> float:
        """Exponential backoff (base, 2x base, 4x base...), or what the API asked for with Retry-After."""
        if problem.retry_after is not None:
            return min(problem.retry_after, MAX_RETRY_AFTER_SECONDS)
        return float(self.config.backoff_seconds * 2 ** (attempt - 1))

    def _gave_up(self, problem: _Transient, attempts: int) -> str:
        timeout = f"{self.config.timeout_seconds:g} s"
        if attempts == 1:
            return f"timed out ({timeout})" if problem.timed_out else str(problem)
        if problem.timed_out:
            return f"timed out after {attempts} attempts ({timeout} each)"
        return f"{problem} (after {attempts} attempts)"

    def _attempt(self, url: str) -> bytes:
        """One GET: the body of a 2xx answer. Raises `_Transient` or `_Refused`."""
        timeout = self.config.timeout_seconds
        deadline = time.monotonic() + timeout
        try:
            with self.http.get(url, timeout=timeout, stream=True, allow_redirects=False) as response:
                _check_status(response, deadline)
                return _read(response, deadline, MAX_PAGE_BYTES)
        except requests.exceptions.SSLError as error:
            raise _Refused(f"TLS error ({_cause(error)})") from None
        except requests.Timeout:
            raise _Transient("timed out", timed_out=True) from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as error:
            # A read timeout while the body streams arrives as a ConnectionError.
            if isinstance(error.args[0] if error.args else None, ReadTimeoutError):
                raise _Transient("timed out", timed_out=True) from None
            raise _Transient(f"connection failed ({_cause(error)})") from None
        except requests.RequestException as error:
            raise _Refused(f"request failed ({_cause(error)})") from None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _cause(error: Exception) -> str:
    """The reason inside a requests error, without the connection objects urllib3 names before it."""
    reason = error.args[0] if error.args else error
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the real cause
    text = " ".join(str(reason).split())
    return CONNECTION_PREFIX.sub("", text)


def _check_status(response: requests.Response, deadline: float) -> None:
    """Accept a 2xx; a 429 or 5xx may pass (honouring Retry-After); any other status will not."""
    status = response.status_code
    if 200 <= status < 300:
        return
    if status == 429 or status >= 500:
        raise _Transient(f"HTTP {status}", retry_after=_retry_after(response))
    if 300 <= status < 400:
        raise _Refused(
            f"HTTP {status}, redirected to {response.headers.get('Location', '?')}: redirects are not followed,"
            " configure the final address"
        )
    try:
        excerpt = _read(response, deadline, 300, truncate=True).decode("utf-8", "replace")
    except (_Transient, _Refused, requests.RequestException):
        excerpt = ""
    excerpt = " ".join(excerpt.split())[:200]
    raise _Refused(f"HTTP {status}" + (f": {excerpt}" if excerpt else ""))


def _retry_after(response: requests.Response) -> float | None:
    """Retry-After in seconds; its date form is rare from APIs and falls back to the backoff."""
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.isascii() and value.isdigit() else None  # not "²", which int() refuses


def _read(response: requests.Response, deadline: float, limit: int, truncate: bool = False) -> bytes:
    """The body, read against the attempt's deadline and a size limit (beyond it: refused, or cut if `truncate`).

    `read1` returns whatever has arrived (one socket read at most), so the deadline is checked as the
    bytes come: a 64 KB `read` would wait for all of them, and an API trickling a byte at a time
    would hold it open without ever tripping the per-read timeout.
    """
    chunks: list[bytes] = []
    size = 0
    try:
        while chunk := response.raw.read1(64 * 1024, decode_content=True):
            if time.monotonic() > deadline:
                raise _Transient("timed out", timed_out=True)
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                if truncate:
                    break
                raise _Refused(f"the answer is larger than {limit // (1024 * 1024)} MB")
    except ReadTimeoutError:
        raise _Transient("timed out", timed_out=True) from None
    except DecodeError as error:
        raise _Refused(f"the answer could not be decompressed ({_cause(error)})") from None
    except urllib3.exceptions.HTTPError as error:
        raise _Transient(f"the connection broke while reading the answer ({_cause(error)})") from None
    return b"".join(chunks)[:limit]


# --- statements and runs ----------------------------------------------------------------------------


def statements_from(config: PullConfig, pulled: Pulled) -> list[Statement]:
    """One statement per record, values as the API gave them: the merge reads and checks them.

    A field the record lacks (or holds null) is stated as empty: the API describes its whole record,
    so a value it no longer gives is withdrawn rather than kept from an earlier pull.
    """
    object_type = OBJECT_TYPES[config.object_type]
    key_names = [column.name for column in object_type.key]
    fields = {name: path for name, path in config.mapping.items() if name not in key_names}
    return [
        Statement(
            config.object_type,
            tuple(dig(record, config.mapping[name]) for name in key_names),
            {name: dig(record, path) for name, path in fields.items()},
            position,
        )
        for position, record in enumerate(pulled.records)
    ]


def refused_records(plan: Plan, config: PullConfig, pulled: Pulled) -> list[dict[str, Any]]:
    """Every reason a record was refused, pointing at the record (its index and page) and at the API's field."""
    object_type = OBJECT_TYPES[config.object_type]
    names = {column.header: column.name for column in object_type.columns}
    entries = []
    for outcome in plan.outcomes:
        if outcome.action != "error":
            continue
        statement = outcome.statement
        for error in statement.errors:
            name = names.get(error["column"], error["column"])
            entries.append(
                {
                    "record": statement.position,
                    "page": pulled.pages_of_records[statement.position],
                    "key": statement.natural_key,
                    "field": name,
                    "remote": config.mapping.get(name),
                    "value": error["value"],
                    "reason": error["reason"],
                }
            )
    return entries


def describe_refusal(entry: dict[str, Any]) -> str:
    """`record 4 (page 1): status (from lifecycle.state) is not one of plan, build...: 'foo'`."""
    source = f" (from {entry['remote']})" if entry["remote"] else ""
    value = f": {entry['value']!r}" if entry["value"] is not None else ""
    return f"record {entry['record']} (page {entry['page']}): {entry['field']}{source} {entry['reason']}{value}"


def _refusal(entries: list[dict[str, Any]]) -> str:
    count = len({entry["record"] for entry in entries})
    records = "1 record" if count == 1 else f"{count} records"
    return f"{records} refused, nothing applied; first: {describe_refusal(entries[0])}"


class _Redactor:
    """Scrubs the secret from text about to be stored or printed (an API may echo the header it got)."""

    def __init__(self, secret: str | None) -> None:
        self.secret = secret

    def __call__(self, text: str) -> str:
        one_line = " ".join(text.split())[:2000]
        return one_line.replace(self.secret, "[secret]") if self.secret else one_line


@dataclass
class _Attempt:
    """What a sync fetched, before anything is written."""

    config: PullConfig
    pulled: Pulled
    statements: list[Statement]
    redact: _Redactor


def _fetch(source: Source, sleep: Sleep) -> _Attempt:
    """Read the configuration, the secret and every page; raises `SyncFailed` (no run recorded yet)."""
    redact = _Redactor(None)
    try:
        config = PullConfig.from_source(source)
        secret = config.auth.secret() if config.auth else None
        redact = _Redactor(secret)
        pulled = Fetcher(config, secret, sleep).pull()
    except (ValueError, FetchError) as error:
        raise SyncFailed(redact(str(error))) from None
    return _Attempt(config, pulled, statements_from(config, pulled), redact)


def _notes(attempt: _Attempt) -> dict[str, Any]:
    return {"url": attempt.config.url, "pages": attempt.pulled.pages, "records": len(attempt.pulled.records)}


def _open(session: Session, source: Source, actor: Actor, attempt: _Attempt, mode: str = "apply") -> ImportRun:
    options = {"snapshot": attempt.config.snapshot, "partial": False}
    return open_run(session, source, "sync", actor, mode, options=options, notes=_notes(attempt))


def sync(session: Session, source: Source, actor: Actor, sleep: Sleep = time.sleep) -> ImportRun:
    """Pull `source` and apply what it lists as one run, committed; returns the succeeded run.

    The sync owns the session's transaction: it commits what the caller read (so no connection idles
    in a transaction while the API answers), and commits the run. On any failure it rolls back
    everything the attempt wrote, commits a failed run saying why, and raises `SyncFailed` with it.
    """
    session.commit()
    try:
        attempt = _fetch(source, sleep)
    except SyncFailed as failure:
        raise SyncFailed(failure.reason, _record_failure(session, source, actor, failure.reason)) from None
    try:
        run = _open(session, source, actor, attempt)
        plan = execute(session, run, attempt.statements, snapshot=attempt.config.snapshot, partial=False)
    except Exception as error:
        session.rollback()
        raise _failed(session, source, actor, attempt, error) from error
    session.commit()
    log.info("sync of %s: %s, %s changes written", source.name, plan.counts, run.changes_written)
    return run


@dataclass
class Preview:
    """What a sync would do: the plan, and the refused records pointing at their page and the API's field."""

    plan: Plan
    refused: list[dict[str, Any]]


def preview(session: Session, source: Source, actor: Actor, sleep: Sleep = time.sleep) -> Preview:
    """What a sync would do, recorded nowhere: the run is planned and rolled back.

    Raises `SyncFailed` (without a run) when the API cannot be read; refused records are returned
    with the plan, for the caller to show.
    """
    session.commit()
    attempt = _fetch(source, sleep)
    try:
        run = _open(session, source, actor, attempt, mode="dry_run")
        plan = execute(session, run, attempt.statements, dry_run=True, snapshot=attempt.config.snapshot)
    finally:
        session.rollback()
    return Preview(plan, refused_records(plan, attempt.config, attempt.pulled))


def _failed(session: Session, source: Source, actor: Actor, attempt: _Attempt, error: Exception) -> SyncFailed:
    """The failure to raise once the attempt is rolled back, with its run recorded."""
    if isinstance(error, PlanHasErrors):
        entries = refused_records(error.plan, attempt.config, attempt.pulled)
        reason = attempt.redact(_refusal(entries))
        notes = {**_notes(attempt), "errors": entries[:MAX_NOTED_ERRORS], "error_count": len(entries)}
        return SyncFailed(reason, _record_failure(session, source, actor, reason, error.plan, notes), entries)
    reason = attempt.redact(f"the merge failed, nothing applied: {type(error).__name__}: {error}")
    log.exception("sync of %s failed while merging", source.name)
    return SyncFailed(reason, _record_failure(session, source, actor, reason, notes=_notes(attempt)))


def _record_failure(
    session: Session,
    source: Source,
    actor: Actor,
    reason: str,
    plan: Plan | None = None,
    notes: dict[str, Any] | None = None,
) -> ImportRun:
    """A failed run in a transaction of its own: what stewards and the CronJob's history will read.

    With a plan, the counts and the refused records (and conflicts) are kept as the run's rows too.
    """
    run = open_run(session, source, "sync", actor, notes=notes or {})
    if plan is not None:
        run.counts = plan.counts
        store_rows(session, run, plan, everything=False)
    finish(session, run, "failed", reason)
    session.commit()
    log.warning("sync of %s failed: %s", source.name, reason)
    return run
