"""Referentiel: the application referential. `create_app` builds the Flask application."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from portal.config import DEFAULTS, INSTANCE_DIR, ROOT, validate_settings
from portal.core.access import Role
from portal.core.cache import search_cache, token_cache
from portal.core.csrf import csrf_token
from portal.core.errors import register_error_handlers
from portal.core.htmx import htmx
from portal.core.inputs import register_input_checks, register_multipart_check
from portal.core.logs import configure_logging, init_request_log
from portal.core.metrics import track_pool
from portal.core.ratelimit import rate_limiter
from portal.core.security import register_security_headers
from portal.core.static import init_static
from portal.extensions import db

__version__ = "0.1.0"


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the application: defaults, then `PORTAL_*` variables, then `test_config` (tests only)."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(INSTANCE_DIR),
    )
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env("PORTAL", loads=str)
    if test_config:
        app.config.update(test_config)
    validate_settings(app.config)
    # No request body may exceed the largest one a view accepts (a workbook upload); views check their own.
    app.config["MAX_CONTENT_LENGTH"] = max(app.config["IMPORT_MAX_BYTES"], app.config["PUSH_MAX_BYTES"]) + 1024 * 1024
    configure_logging(app)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.jinja_env.globals.update(version=__version__, csrf_token=csrf_token, Role=Role)
    if app.config["DATABASE_URL"].startswith("sqlite:///"):
        INSTANCE_DIR.mkdir(exist_ok=True)

    db.init_app(app)
    track_pool(db.require_engine())
    htmx.init_app(app)
    search_cache.init_app(app)
    token_cache.init_app(app)
    rate_limiter.init_app(app)
    _register_request_hooks(app)
    init_static(app)
    _init_sign_in(app)
    _register_blueprints(app)
    _register_commands(app)
    register_error_handlers(app)
    if not app.config.get("TESTING"):
        from portal.imports.workbooks import fail_interrupted_runs

        fail_interrupted_runs(app)
    return app


def _init_sign_in(app: Flask) -> None:
    from portal.auth.guard import can, register_access_guard
    from portal.auth.oidc import init_oidc
    from portal.auth.sessions import init_sessions
    from portal.core.navigation import optional_url, sections_for

    register_security_headers(app)
    init_sessions(app)
    init_oidc(app)
    # After the request id is assigned, before any view: nothing runs for a caller the policy refuses.
    register_access_guard(app)
    # A multipart body is parsed (its files spooled) only for a caller the policy lets in.
    register_multipart_check(app)
    app.jinja_env.globals.update(can=can, navigation=sections_for, optional_url=optional_url)


def _register_blueprints(app: Flask) -> None:
    from portal.applications.api import bp as applications_api
    from portal.applications.views import bp as applications_views
    from portal.auth.api import bp as auth_api
    from portal.auth.views import bp as auth_views
    from portal.changes.api import bp as changes_api
    from portal.changes.views import bp as changes_views
    from portal.conflicts.api import bp as conflicts_api
    from portal.conflicts.views import bp as conflicts_views
    from portal.entities.api import bp as entities_api
    from portal.entities.views import bp as entities_views
    from portal.health.views import bp as health
    from portal.imports.api import bp as imports_api
    from portal.imports.views import bp as imports_views
    from portal.interfaces.api import bp as interfaces_api
    from portal.openapi.views import bp as openapi
    from portal.people.api import bp as people_api
    from portal.people.views import bp as people_views
    from portal.search.api import bp as search_api
    from portal.sources.api import bp as sources_api
    from portal.sources.views import bp as sources_views

    for blueprint in (
        health,
        auth_views,
        auth_api,
        applications_views,
        applications_api,
        entities_views,
        entities_api,
        people_views,
        people_api,
        interfaces_api,
        imports_views,
        imports_api,
        conflicts_views,
        conflicts_api,
        sources_views,
        sources_api,
        changes_views,
        changes_api,
        search_api,
        openapi,
    ):
        app.register_blueprint(blueprint)


def _register_commands(app: Flask) -> None:
    from portal.auth.cli import tokens_group, users_group
    from portal.cli import db_group
    from portal.demo.cli import demo_data_command
    from portal.imports.cli import import_command
    from portal.imports.cli_sync import sync_command
    from portal.search.cli import search_group
    from portal.sources.cli import sources_group

    app.cli.add_command(db_group)
    app.cli.add_command(search_group)
    app.cli.add_command(demo_data_command)
    app.cli.add_command(users_group)
    app.cli.add_command(tokens_group)
    app.cli.add_command(sync_command)
    app.cli.add_command(import_command)
    app.cli.add_command(sources_group)


def _register_request_hooks(app: Flask) -> None:
    # First of all: every later hook, and every log line, may use the request id.
    init_request_log(app)
    # Then input no view can read safely (bytes that are not UTF-8, NUL) is refused with a 400.
    register_input_checks(app)


logging.getLogger(__name__).addHandler(logging.NullHandler())
