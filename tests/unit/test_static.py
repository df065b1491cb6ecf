"""Static files: htmx vendored at the pinned version with its checksum, pages that need no inline code, and
names carrying a hash of the content, so that browsers keep each version for a year."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from portal.config import ROOT

VENDOR = ROOT / "static" / "vendor"
STATIC = ROOT / "static"
YEAR = "max-age=31536000"


def pinned_htmx_version() -> str:
    return json.loads((ROOT / "package.json").read_text())["devDependencies"]["htmx.org"]


def test_vendored_htmx_is_the_pinned_version():
    assert [path.name for path in VENDOR.glob("htmx-*.min.js")] == [f"htmx-{pinned_htmx_version()}.min.js"]


def test_vendored_files_match_their_checksums():
    for line in (VENDOR / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name


def content_hash(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def test_base_layout_loads_the_vendored_htmx(client):
    page = client.get("/").get_data(as_text=True)
    htmx = VENDOR / f"htmx-{pinned_htmx_version()}.min.js"
    assert f"/static/vendor/htmx-{pinned_htmx_version()}.min.{content_hash(htmx)}.js" in page
    assert not re.search(r"<script(?![^>]*\bsrc=)", page), "inline script"
    assert " style=" not in page and "<style" not in page


def test_htmx_is_configured_for_the_content_security_policy(client):
    page = client.get("/").get_data(as_text=True)
    config = json.loads(re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", page).group(1))
    assert config["includeIndicatorStyles"] is False  # would inject a <style> element the CSP refuses
    assert config["allowEval"] is False
    assert config["historyCacheSize"] == 0  # no page content kept in localStorage after signing out


def static_links(page: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/static/[^"]+)"', page)


def test_every_static_link_of_a_page_names_the_content_hash(client):
    links = static_links(client.get("/").get_data(as_text=True))
    assert len(links) >= 4  # the icon, the style sheet, htmx, the portal's script
    for link in links:
        name = link.removeprefix("/static/")
        stem, digest, suffix = name.rsplit(".", 2)
        assert digest == content_hash(STATIC / f"{stem}.{suffix}"), link


def test_a_hashed_name_is_cached_for_a_year(client):
    [link] = [
        link for link in static_links(client.get("/").get_data(as_text=True)) if "/portal." in link and ".css" in link
    ]
    response = client.get(link)
    assert response.status_code == 200
    assert response.get_data() == (STATIC / "portal.css").read_bytes()
    assert response.mimetype == "text/css"
    assert set(response.headers["Cache-Control"].split(", ")) == {"public", YEAR, "immutable"}
    # Static answers keep the security headers every answer has.
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_the_plain_name_keeps_working_with_a_short_cache(anonymous_client):
    response = anonymous_client.get("/static/portal.css")
    assert response.status_code == 200
    assert response.get_data() == (STATIC / "portal.css").read_bytes()
    assert set(response.headers["Cache-Control"].split(", ")) == {"public", "max-age=300"}


def test_an_older_versions_name_gets_the_current_file_with_a_short_cache(anonymous_client):
    # A page from a replica still on the previous release asks for the previous hash during a rollout.
    response = anonymous_client.get("/static/portal.0123456789abcdef.css")
    assert response.status_code == 200
    assert response.get_data() == (STATIC / "portal.css").read_bytes()
    assert "immutable" not in response.headers["Cache-Control"]
    assert "max-age=300" in response.headers["Cache-Control"]


def test_a_hashed_and_current_answer_honours_if_none_match(client):
    [link] = [
        link for link in static_links(client.get("/").get_data(as_text=True)) if link.endswith(".js") and "htmx" in link
    ]
    etag = client.get(link).headers["ETag"]
    assert client.get(link, headers={"If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize(
    "path",
    ["/static/nothing.0123456789abcdef.css", "/static/nothing.css", "/static/%2e%2e/portal/config.py"],
    ids=["unknown-hashed", "unknown", "outside-the-folder"],
)
def test_files_that_are_not_static_are_not_found(anonymous_client, path):
    assert anonymous_client.get(path).status_code == 404
