"""Settings read from the environment.

The environment is the single source of truth (12-factor): this module holds the non-secret defaults,
`create_app` then reads every `PORTAL_*` variable over them, and `validate_settings` parses each value
to its type and fails at start-up with a message that names the variable.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Any

from portal.core.access import Role

# The folder holding templates/, static/, migrations/ and alembic.ini: the checkout by default. An installed
# wheel carries only the code, so the container image puts those beside it and sets PORTAL_ROOT.
ROOT = Path(os.environ.get("PORTAL_ROOT") or Path(__file__).resolve().parent.parent)
INSTANCE_DIR = ROOT / "instance"


class ConfigurationError(RuntimeError):
    """A `PORTAL_*` setting is missing or malformed; the message says which and how to fix it."""


# The default of every secret: empty, that is not set; only the environment gives one a value. Named so that
# bandit's B105 keeps checking DEFAULTS: a string literal under a secret's name there is a finding (a `# nosec`
# on one entry of this dict would silence B105 for all of them).
NOT_SET = ""

DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": f"sqlite:///{INSTANCE_DIR / 'referentiel.db'}",
    # Connections are checked before use so that a restarted PostgreSQL does not cost a failed request.
    "DATABASE_POOL_SIZE": 5,
    "DATABASE_STATEMENT_TIMEOUT_MS": 5000,
    "API_DEFAULT_PAGE_SIZE": 50,
    "API_MAX_PAGE_SIZE": 500,
    # Counts above this are estimated (and flagged as such) rather than counted exactly; it also caps how
    # many matches of a common word are ranked, which keeps every search's cost bounded.
    "SEARCH_EXACT_COUNT_LIMIT": 500,
    "SEARCH_MAX_QUERY_LENGTH": 200,
    # Optional: a Redis shared by the replicas (rate limits, the search cache). Unset: nothing is shared.
    "REDIS_URL": "",
    "REDIS_PREFIX": "referentiel:",
    # How long a search answer stays in the Redis cache; any change to the referential drops them all.
    "SEARCH_CACHE_SECONDS": 60,
    # Sign-in. Local accounts serve the embedded default and a break-glass admin; turn them off when
    # single sign-on is configured and no longer needs a fallback.
    "LOCAL_LOGIN": True,
    # Secret (optional): the password `flask users ensure-admin` gives the embedded local admin.
    "ADMIN_PASSWORD": NOT_SET,
    "SESSION_LIFETIME_MINUTES": 480,
    # How many reverse proxies (ingress) sit in front of the portal and set X-Forwarded-*: with 0, the
    # client address and the scheme (https: Secure cookies, HSTS) are read from the connection itself.
    "TRUSTED_PROXIES": 0,
    # Whom users without access should ask (shown on the 403 page).
    "ACCESS_CONTACT": "the Referentiel administrators",
    # Single sign-on by OpenID Connect; unset PORTAL_OIDC_METADATA_URL to turn it off.
    "OIDC_METADATA_URL": "",
    "OIDC_CLIENT_ID": "",
    "OIDC_CLIENT_SECRET": NOT_SET,
    "OIDC_SCOPES": "openid profile email",
    "OIDC_PROVIDER_NAME": "single sign-on",
    "OIDC_USERNAME_CLAIM": "preferred_username",
    "OIDC_GROUPS_CLAIM": "groups",
    # JSON object from claim value to role, e.g. {"referentiel-admins": "admin", "it-staff": "reader"}.
    "OIDC_ROLE_MAP": "{}",
    # The role of a user in no mapped group; empty refuses them (a 403 page that says whom to ask).
    "OIDC_DEFAULT_ROLE": "",
    "OIDC_TIMEOUT_SECONDS": 5,
    # Logs on stdout: "json" (one object per line, for the log collector) or "text" (for a person at a
    # terminal); LOG_LEVEL applies to the portal's own loggers, other libraries log warnings and worse.
    "LOG_FORMAT": "json",
    "LOG_LEVEL": "INFO",
    # Who may read /metrics: callers from these networks (comma-separated CIDR blocks, e.g. the cluster's
    # pod network; empty: none), or anyone sending `Authorization: Bearer <METRICS_TOKEN>`.
    "METRICS_ALLOWED_NETWORKS": "127.0.0.0/8, ::1/128",
    # Secret (optional): the bearer token that opens /metrics from anywhere; at least 32 characters.
    "METRICS_TOKEN": NOT_SET,
    # Imports. A workbook is refused past IMPORT_MAX_BYTES, or when its zipped XML would expand beyond
    # IMPORT_MAX_UNZIPPED_BYTES (a zip bomb), or past IMPORT_MAX_ROWS rows in all its sheets. A push
    # body is refused (413) past PUSH_MAX_BYTES or PUSH_MAX_RECORDS records.
    "IMPORT_MAX_BYTES": 50 * 1024 * 1024,
    "IMPORT_MAX_UNZIPPED_BYTES": 1024 * 1024 * 1024,
    "IMPORT_MAX_ROWS": 500_000,
    "PUSH_MAX_BYTES": 20 * 1024 * 1024,
    "PUSH_MAX_RECORDS": 10_000,
}


def parse_boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"PORTAL_{name} must be true or false, got {value!r}")


def parse_int(name: str, value: Any, minimum: int = 0) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"PORTAL_{name} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise ConfigurationError(f"PORTAL_{name} must be at least {minimum}, got {number}")
    return number


def validate_settings(config: dict[str, Any]) -> None:
    """Parse the typed settings in place; raise `ConfigurationError` naming the first bad one."""
    for name in (
        "DATABASE_POOL_SIZE",
        "API_DEFAULT_PAGE_SIZE",
        "API_MAX_PAGE_SIZE",
        "SEARCH_EXACT_COUNT_LIMIT",
        "SEARCH_MAX_QUERY_LENGTH",
        "DATABASE_STATEMENT_TIMEOUT_MS",
        "IMPORT_MAX_BYTES",
        "IMPORT_MAX_UNZIPPED_BYTES",
        "IMPORT_MAX_ROWS",
        "PUSH_MAX_BYTES",
        "PUSH_MAX_RECORDS",
    ):
        config[name] = parse_int(name, config[name], minimum=1)
    config["SEARCH_CACHE_SECONDS"] = parse_int("SEARCH_CACHE_SECONDS", config["SEARCH_CACHE_SECONDS"], minimum=0)
    redis_url = str(config.get("REDIS_URL") or "").strip()
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigurationError(f"PORTAL_REDIS_URL must be a redis://, rediss:// or unix:// URL, got {redis_url!r}")
    config["REDIS_URL"] = redis_url
    if config["API_DEFAULT_PAGE_SIZE"] > config["API_MAX_PAGE_SIZE"]:
        raise ConfigurationError("PORTAL_API_DEFAULT_PAGE_SIZE must not exceed PORTAL_API_MAX_PAGE_SIZE")
    url = str(config.get("DATABASE_URL") or "").strip()
    if not url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg2:")):
        raise ConfigurationError(
            "PORTAL_DATABASE_URL must be an sqlite:/// or postgresql:// URL, "
            f"got {url!r}. Example: postgresql://referentiel@db:5432/referentiel"
        )
    if url.startswith("postgresql:"):
        url = "postgresql+psycopg2:" + url[len("postgresql:") :]
    config["DATABASE_URL"] = url
    _validate_sign_in(config)
    _validate_operations(config)
    if not config.get("SECRET_KEY"):
        raise ConfigurationError(
            "PORTAL_SECRET_KEY is not set. Generate one with "
            "`python -c 'import secrets; print(secrets.token_hex(32))'` and export it."
        )


def _validate_sign_in(config: dict[str, Any]) -> None:
    config["LOCAL_LOGIN"] = parse_boolean("LOCAL_LOGIN", config["LOCAL_LOGIN"])
    for name in ("SESSION_LIFETIME_MINUTES", "OIDC_TIMEOUT_SECONDS"):
        config[name] = parse_int(name, config[name], minimum=1)
    config["TRUSTED_PROXIES"] = parse_int("TRUSTED_PROXIES", config["TRUSTED_PROXIES"], minimum=0)
    metadata_url = str(config.get("OIDC_METADATA_URL") or "").strip()
    config["OIDC_METADATA_URL"] = metadata_url
    if metadata_url:
        if not metadata_url.startswith(("https://", "http://")):
            raise ConfigurationError(f"PORTAL_OIDC_METADATA_URL must be an http(s) URL, got {metadata_url!r}")
        for name in ("OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"):
            if not str(config.get(name) or "").strip():
                raise ConfigurationError(f"PORTAL_{name} is required when PORTAL_OIDC_METADATA_URL is set")
        if "openid" not in str(config["OIDC_SCOPES"]).split():
            raise ConfigurationError("PORTAL_OIDC_SCOPES must include openid")
    elif not config["LOCAL_LOGIN"]:
        raise ConfigurationError(
            "PORTAL_LOCAL_LOGIN is false and PORTAL_OIDC_METADATA_URL is not set: nobody could sign in"
        )
    config["OIDC_ROLE_MAP"] = _parse_role_map(config["OIDC_ROLE_MAP"])
    default_role = str(config.get("OIDC_DEFAULT_ROLE") or "").strip()
    try:
        config["OIDC_DEFAULT_ROLE"] = Role.parse(default_role) if default_role else None
    except ValueError as error:
        raise ConfigurationError(f"PORTAL_OIDC_DEFAULT_ROLE: {error}") from None


def _validate_operations(config: dict[str, Any]) -> None:
    log_format = str(config["LOG_FORMAT"]).strip().lower()
    if log_format not in {"json", "text"}:
        raise ConfigurationError(f"PORTAL_LOG_FORMAT must be json or text, got {config['LOG_FORMAT']!r}")
    config["LOG_FORMAT"] = log_format
    level = str(config["LOG_LEVEL"]).strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigurationError(f"PORTAL_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {config['LOG_LEVEL']!r}")
    config["LOG_LEVEL"] = level
    token = str(config.get("METRICS_TOKEN") or "").strip()
    if token and len(token) < 32:
        raise ConfigurationError(
            "PORTAL_METRICS_TOKEN must be at least 32 characters. Generate one with "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`."
        )
    config["METRICS_TOKEN"] = token
    config["METRICS_ALLOWED_NETWORKS"] = _parse_networks(config["METRICS_ALLOWED_NETWORKS"])


def _parse_networks(value: Any) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """CIDR blocks separated by commas or spaces (or a list of them); a bare address is a block of one."""
    items = str(value or "").replace(",", " ").split() if isinstance(value, str) else list(value or [])
    try:
        return [ipaddress.ip_network(str(item), strict=False) for item in items]
    except ValueError as error:
        raise ConfigurationError(
            f"PORTAL_METRICS_ALLOWED_NETWORKS must list CIDR blocks such as 10.244.0.0/16: {error}"
        ) from None


def _parse_role_map(value: Any) -> dict[str, Role]:
    if isinstance(value, dict):
        mapping = value
    else:
        try:
            mapping = json.loads(str(value or "{}"))
        except json.JSONDecodeError as error:
            raise ConfigurationError(
                f'PORTAL_OIDC_ROLE_MAP must be a JSON object such as {{"referentiel-admins": "admin"}}: {error}'
            ) from None
    if not isinstance(mapping, dict):
        raise ConfigurationError('PORTAL_OIDC_ROLE_MAP must be a JSON object such as {"referentiel-admins": "admin"}')
    try:
        return {str(group): Role.parse(str(role)) for group, role in mapping.items()}
    except ValueError as error:
        raise ConfigurationError(f"PORTAL_OIDC_ROLE_MAP: {error}") from None
