"""Token secrets must never reach a log: every secret the suite creates and every server log it writes are
noted here, and `conftest.py` checks them against each other at the end of the run.

A secret is looked for whole, by its random part alone (after `ref_<public id>_`), and any string shaped like a
secret (`TOKEN_PATTERN`) counts too, so that a token made where the suite forgot to note it is still caught.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from portal.auth.tokens import TOKEN_PATTERN

# `ref_` and the 8 characters of the public id, then `_`: what follows is the random part.
PUBLIC_PART_LENGTH = 13

_secrets: set[str] = set()
_logs: list[Path] = []


def note_token_secret(secret: str) -> str:
    """Remember a token secret the suite made; returns it, to wrap the expression that reads it."""
    _secrets.add(secret)
    return secret


def note_server_log(path: Path) -> Path:
    """Remember the log file of a server the suite started."""
    _logs.append(path)
    return path


@dataclass(frozen=True)
class Leak:
    """Where a secret was found: never the secret itself (the report of a failed run is a log too)."""

    log: Path
    line: int
    token: str  # the token's public prefix, `ref_<id>`

    def __str__(self) -> str:
        return f"{self.log}:{self.line}: the secret of token {self.token}"


def find_leaks() -> list[Leak]:
    """Every place in the noted logs where a noted secret, its random part, or anything shaped like a secret is."""
    leaks: list[Leak] = []
    for log in _logs:
        if not log.exists():
            continue
        text = log.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            found = {match.group(0)[: PUBLIC_PART_LENGTH - 1] for match in TOKEN_PATTERN.finditer(line)}
            found |= {
                secret[: PUBLIC_PART_LENGTH - 1]
                for secret in _secrets
                if secret in line or secret[PUBLIC_PART_LENGTH:] in line
            }
            leaks.extend(Leak(log, number, token) for token in sorted(found))
    return leaks
