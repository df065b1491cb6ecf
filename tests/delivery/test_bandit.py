"""`make lint`'s bandit run (`bandit -c pyproject.toml -r portal -q`): the project's configuration reports a
real finding and fails on it, and honours a `# nosec` that gives its reason the way pyproject.toml says.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SHELL_CALL = """import subprocess{import_nosec}


def run(cmd: str) -> int:
    return subprocess.call(cmd, shell=True){call_nosec}
"""


def bandit(tmp_path: Path, import_nosec: str = "", call_nosec: str = "") -> subprocess.CompletedProcess[str]:
    module = tmp_path / "module.py"
    module.write_text(SHELL_CALL.format(import_nosec=import_nosec, call_nosec=call_nosec))
    command = [sys.executable, "-m", "bandit", "-c", str(REPO / "pyproject.toml"), "-q", str(module)]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)


def test_a_shell_call_is_a_finding_that_fails_the_run(tmp_path: Path) -> None:
    result = bandit(tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "B602" in result.stdout


def test_a_nosec_with_its_reason_after_a_second_hash_passes_quietly(tmp_path: Path) -> None:
    result = bandit(
        tmp_path,
        import_nosec="  # nosec B404  # run() is the one place that starts processes",
        call_nosec="  # nosec B602  # every cmd is a constant of ours",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
