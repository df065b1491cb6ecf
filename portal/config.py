"""Settings read from the environment.

The environment is the single source of truth (12-factor): this module holds the non-secret defaults,
`create_app` then reads every `PORTAL_*` variable over them, and `validate_settings` parses each value
to its type and fails at start-up with a message that names the variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = ROOT / "instance"


class ConfigurationError(RuntimeError):
    """A `PORTAL_*` setting is missing or malformed; the message says which and how to fix it."""


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
    if not config.get("SECRET_KEY"):
        raise ConfigurationError(
            "PORTAL_SECRET_KEY is not set. Generate one with "
            "`python -c 'import secrets; print(secrets.token_hex(32))'` and export it."
        )
