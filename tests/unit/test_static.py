"""Static files: htmx vendored at the pinned version with its checksum, and pages that need no inline code."""

from __future__ import annotations

import hashlib
import json
import re

from portal.config import ROOT

VENDOR = ROOT / "static" / "vendor"


def pinned_htmx_version() -> str:
    return json.loads((ROOT / "package.json").read_text())["devDependencies"]["htmx.org"]


def test_vendored_htmx_is_the_pinned_version():
    assert [path.name for path in VENDOR.glob("htmx-*.min.js")] == [f"htmx-{pinned_htmx_version()}.min.js"]


def test_vendored_files_match_their_checksums():
    for line in (VENDOR / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name


def test_base_layout_loads_the_vendored_htmx(client):
    page = client.get("/").get_data(as_text=True)
    assert f"/static/vendor/htmx-{pinned_htmx_version()}.min.js" in page
    assert not re.search(r"<script(?![^>]*\bsrc=)", page), "inline script"
    assert " style=" not in page and "<style" not in page


def test_htmx_is_configured_for_the_content_security_policy(client):
    page = client.get("/").get_data(as_text=True)
    config = json.loads(re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", page).group(1))
    assert config["includeIndicatorStyles"] is False  # would inject a <style> element the CSP refuses
    assert config["allowEval"] is False
    assert config["historyCacheSize"] == 0  # no page content kept in localStorage after signing out
