#!/usr/bin/env python3
"""Smoke test of a running portal: /readyz answers 200, then one authenticated search through the API.

Usage: REFERENTIEL_TOKEN=ref_... python3 deploy/smoke.py BASE_URL [--query Q] [--expect-results]

The pipeline's Smoke stage runs it through the ingress after a deployment (`make smoke`), and
`make container-check` runs it against the gunicorn it started. Standard library only, so that it runs wherever
python3 does. Exits non-zero, saying what failed, at the first check that fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

TIMEOUT_SECONDS = 10


def get(url: str, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")[:500]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base_url", help="e.g. https://referentiel.bank.example")
    parser.add_argument("--query", default="a", help="what to search for (default: %(default)s)")
    parser.add_argument("--expect-results", action="store_true", help="fail when the search finds nothing")
    options = parser.parse_args()
    token = os.environ.get("REFERENTIEL_TOKEN", "")
    if not token:
        return fail("REFERENTIEL_TOKEN is not set: give a read token of the portal.")
    base = options.base_url.rstrip("/")

    status, body = get(f"{base}/readyz")
    if status != 200:
        return fail(f"GET /readyz answered {status}: {body}")
    print(f"smoke: /readyz 200 {body}")

    url = f"{base}/api/v1/applications/search?" + urllib.parse.urlencode({"q": options.query, "page_size": 5})
    status, body = get(url, token)
    if status != 200:
        return fail(f"GET {url} answered {status}: {body}")
    if not isinstance(body, dict) or not isinstance(body.get("results"), list) or "count" not in body:
        return fail(f"GET {url}: not a search answer: {str(body)[:500]}")
    if options.expect_results and not body["results"]:
        return fail(f"GET {url} found nothing")
    found = ", ".join(str(hit.get("trigram", "?")) for hit in body["results"])
    print(f"smoke: search {options.query!r} 200, count {body['count']}: {found}")
    return 0


def fail(message: str) -> int:
    print(f"smoke: FAILED: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
