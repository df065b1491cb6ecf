"""The search page's view model: the results, their facets, and the links that change one thing.

The home page and the entity page (its subtree's applications) both render it; every link keeps the
rest of the state, so that any state of the page is a shareable URL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Response, current_app, render_template, request, url_for
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from portal.applications.facets import Facets, count_facets
from portal.applications.models import TRIGRAM_PATTERN
from portal.applications.queries import ApplicationFilters, suggest_trigrams
from portal.applications.search import ApplicationPage, search_applications
from portal.core.api import lowercase_args
from portal.core.cache import search_cache
from portal.core.htmx import is_partial, vary_on_htmx
from portal.core.pagination import PageRequest

PAGE_SIZE = 25
SORT_LABELS = {
    "relevance": "Relevance",
    "trigram": "Trigram (A to Z)",
    "-trigram": "Trigram (Z to A)",
    "name": "Name (A to Z)",
    "-name": "Name (Z to A)",
    "-updated": "Recently updated",
    "updated": "Least recently updated",
}
PARAMETERS = (*ApplicationFilters.PARAMETERS, "page", "page_size")


@dataclass
class SearchView:
    """Everything the search region shows, and how to get to the neighbouring states."""

    endpoint: str
    endpoint_args: dict[str, Any]
    args: MultiDict[str, str]
    filters: ApplicationFilters
    page: PageRequest
    found: ApplicationPage
    facets: Facets
    suggestions: list[str] = field(default_factory=list)
    # Filters the page itself sets (the entity page's entity): not in the URL, not offered as facets.
    fixed: dict[str, str] = field(default_factory=dict)

    @property
    def exact_trigram(self) -> str | None:
        """The trigram the query names exactly, when it is the first hit (Enter opens it)."""
        query = self.filters.q.strip().upper()
        first = self.found.results[0]["trigram"] if self.found.results else None
        return first if first == query else None

    @property
    def sorts(self) -> list[tuple[str, str]]:
        """(value, label) of the sort choices. The first sends no `sort` at all: relevance while searching,
        trigram order otherwise, so that a sort chosen before typing does not stick to the search."""
        default = "relevance" if self.filters.q else "trigram"
        others = [(value, label) for value, label in SORT_LABELS.items() if value not in {default, "relevance"}]
        return [("", SORT_LABELS[default]), *others]

    @property
    def has_filters(self) -> bool:
        return any(self.args.get(name) for name in ApplicationFilters.PARAMETERS if name not in {"q", "sort"})

    @property
    def page_count(self) -> int:
        return max(1, math.ceil(self.found.count / self.page.size))

    def pages(self) -> list[int | None]:
        """Page numbers around the current one, None where some are skipped."""
        last, current = self.page_count, self.page.page
        shown = sorted({1, last, *range(max(1, current - 2), min(last, current + 2) + 1)})
        numbers: list[int | None] = []
        for number in shown:
            if numbers and number - (numbers[-1] or 0) > 1:
                numbers.append(None)
            numbers.append(number)
        return numbers

    def url(self, **changes: Any) -> str:
        """This page's URL with `changes` (None removes a parameter); any change but `page` goes back to page 1."""
        params: MultiDict[str, str] = MultiDict(self.args)
        if "page" not in changes:
            params.poplist("page")
        for name, value in changes.items():
            params.poplist(name)
            for item in value if isinstance(value, list | tuple) else [value]:
                if item not in (None, ""):
                    params.add(name, str(item))
        query = urlencode(list(params.items(multi=True)))
        return url_for(self.endpoint, **self.endpoint_args) + (f"?{query}" if query else "")

    def clear_url(self) -> str:
        """The URL with the text and the sort kept, every filter removed."""
        return self.url(**{name: None for name in ApplicationFilters.PARAMETERS if name not in {"q", "sort"}})

    def export_url(self, format_: str) -> str:
        """The export of every page of this search, the page's own filters (an entity page's) included."""
        params = [(name, value) for name, value in self.args.items(multi=True) if name not in {"page", "page_size"}]
        fixed = [(name, value) for name, value in self.fixed.items() if name not in self.args]
        return url_for("applications.export") + "?" + urlencode([*params, *fixed, ("format", format_)])


def build_search_view(
    session: Session, raw_args: MultiDict[str, str], endpoint: str = "applications.list_", **fixed: Any
) -> SearchView:
    """Search, facets and suggestions for `raw_args`; `fixed` filters (the entity page's entity) always
    apply. Raises `ApiError` (400) for a bad parameter, as the API does."""
    # Unlike the API, a page ignores parameters it does not know (a shared link may carry tracking ones).
    args: MultiDict[str, str] = MultiDict(
        [(name, value) for name, value in lowercase_args(raw_args).items(multi=True) if name in PARAMETERS]
    )
    filter_args: MultiDict[str, str] = MultiDict(args)
    for name, value in fixed.items():
        filter_args.setlist(name, [value])
    if not filter_args.get("page_size"):
        filter_args["page_size"] = str(PAGE_SIZE)
    config = current_app.config
    filters = ApplicationFilters.from_args(filter_args, config["SEARCH_MAX_QUERY_LENGTH"])
    page = PageRequest.from_args(filter_args)
    limit = config["SEARCH_EXACT_COUNT_LIMIT"]
    found = search_applications(session, filters, page, limit)
    facets = count_facets(session, filters, limit, fixed=frozenset(fixed), text=found.text)
    suggestions: list[str] = []
    if not found.results and filters.q and TRIGRAM_PATTERN.fullmatch(filters.q.strip().upper()):
        suggestions = suggest_trigrams(session, filters.q)
    endpoint_args = {name: value for name, value in request.view_args.items()} if request.view_args else {}
    return SearchView(endpoint, endpoint_args, args, filters, page, found, facets, suggestions, dict(fixed))


REGION_TEMPLATE = "applications/_search.html"


def search_response(
    session: Session, page_template: str, endpoint: str, fixed: dict[str, Any], **context: Any
) -> Response:
    """The page with its search region, or for htmx the region alone (with the count out of band).

    Regions are the same for every reader, so with Redis configured a region asked again (the same
    keystrokes from another integrator) comes from the shared search cache, dropped whenever the
    referential changes.
    """
    if not is_partial():
        view = build_search_view(session, request.args, endpoint, **fixed)
        return vary_on_htmx(current_app.make_response(render_template(page_template, view=view, **context)))
    key = search_cache.key("region:" + request.path, list(request.args.items(multi=True)))
    cached = search_cache.get(key)
    body = cached
    if body is None:
        view = build_search_view(session, request.args, endpoint, **fixed)
        body = render_template(REGION_TEMPLATE, view=view, is_fragment=True).encode()
        search_cache.put(key, body)
    response = current_app.response_class(body, mimetype="text/html")
    # The address bar shows the state without the form's empty fields (`sort=` when no sort is chosen).
    filled = [(name, value) for name, value in request.args.items(multi=True) if value]
    response.headers["HX-Push-Url"] = request.path + (f"?{urlencode(filled)}" if filled else "")
    if search_cache.enabled:
        response.headers["X-Cache"] = "hit" if cached is not None else "miss"
    return vary_on_htmx(response)
