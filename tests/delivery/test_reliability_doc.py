"""docs/reliability.md names the tests behind each claim: every one of them must exist, so the page cannot
drift from the suite when a test is renamed or removed."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "reliability.md"
# `tests/unit/test_x.py::test_y` or a file alone (`tests/e2e/leaks.py`).
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?`")


def named_tests() -> list[tuple[str, str | None]]:
    return [(path, name or None) for path, name in REFERENCE.findall(DOC.read_text(encoding="utf-8"))]


def functions_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_the_page_names_tests():
    assert len(named_tests()) >= 30


def test_every_test_the_page_names_exists():
    missing = []
    for path, name in named_tests():
        file = REPO / path
        if not file.is_file() or (name is not None and name not in functions_of(file)):
            missing.append(f"{path}::{name}" if name else path)
    assert not missing, "docs/reliability.md names tests that do not exist: " + ", ".join(missing)
