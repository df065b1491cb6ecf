"""Static files under names that carry a hash of their content, so that browsers may keep them a year.

At start-up every file under `static/` is hashed; `url_for('static', filename='portal.css')` then gives
`/static/portal.<hash>.css`, answered with `Cache-Control: public, max-age=31536000, immutable`: a
browser or proxy never asks for it again, and a changed file gets a new name. The plain name keeps
working with a short cache (links from elsewhere). So does the hashed name of an older version of a
file, which a page from a replica still running the previous release asks for during a rolling update:
it gets the current file, with the short cache, since that content does not match the name.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, current_app, send_from_directory

HASH_LENGTH = 16
YEAR_SECONDS = 365 * 24 * 3600
SHORT_CACHE_SECONDS = 300
HASHED_NAME = re.compile(rf"(?P<stem>.+)\.(?P<digest>[0-9a-f]{{{HASH_LENGTH}}})(?P<suffix>\.[^./]+)")


def init_static(app: Flask) -> None:
    """Hash the static files and serve them under their hashed names (not in debug mode, where files
    change while the server runs and Flask's revalidated answers suit better)."""
    if app.debug or app.static_folder is None:
        return
    manifest = build_manifest(Path(app.static_folder))
    app.extensions["static_manifest"] = manifest

    def hashed_filename(endpoint: str, values: dict[str, Any]) -> None:
        name = values.get("filename")
        if endpoint == "static" and name in manifest:
            values["filename"] = hashed_name(name, manifest[name])

    app.url_defaults(hashed_filename)
    app.view_functions["static"] = serve_static


def build_manifest(folder: Path) -> dict[str, str]:
    """Each file's name relative to `folder` (with `/`) and the start of its content's SHA-256.

    Files without an extension (`vendor/SHA256SUMS`) keep their name: the hash goes before the extension.
    """
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()[:HASH_LENGTH]
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "." in path.name.strip(".")
    }


def hashed_name(name: str, digest: str) -> str:
    """`vendor/htmx-2.0.11.min.js` → `vendor/htmx-2.0.11.min.<digest>.js`."""
    stem, suffix = name.rsplit(".", 1)
    return f"{stem}.{digest}.{suffix}"


def serve_static(filename: str) -> Response:
    """The `static` endpoint: a current hashed name is cached for a year, anything else briefly."""
    manifest: dict[str, str] = current_app.extensions["static_manifest"]
    match = HASHED_NAME.fullmatch(filename)
    if match and match["stem"] + match["suffix"] in manifest:
        original = match["stem"] + match["suffix"]
        if manifest[original] == match["digest"]:
            response = _send(original, YEAR_SECONDS)
            response.cache_control.immutable = True
            return response
        return _send(original, SHORT_CACHE_SECONDS)
    return _send(filename, SHORT_CACHE_SECONDS)


def _send(name: str, max_age: int) -> Response:
    folder = current_app.static_folder
    if folder is None:  # init_static registers nothing without one
        abort(404)
    # send_from_directory refuses names that leave the folder, and answers conditional requests.
    return send_from_directory(folder, name, max_age=max_age)
