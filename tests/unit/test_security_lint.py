"""ruff's security rules (S, flake8-bandit) are on for server and CLI code, clean, and they bite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

RUFF = Path(sys.executable).with_name("ruff")


def _ruff(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([str(RUFF), "check", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_server_and_cli_code_pass_the_security_rules():
    result = _ruff("--select", "S", "analytics", "app", "pages", "tools", "sample_data")
    assert result.returncode == 0, result.stdout


def test_the_projects_lint_config_flags_a_planted_hole(tmp_path):
    # The project's own configuration, on a module placed where server code lives, in a copy (the
    # real tree is left alone: other test workers read it).
    (tmp_path / "pyproject.toml").write_text((REPO_ROOT / "pyproject.toml").read_text())
    (tmp_path / "analytics").mkdir()
    (tmp_path / "analytics" / "planted.py").write_text(
        '"""Planted by tests/unit/test_security_lint.py."""\n\n'
        "import subprocess\n\n\n"
        "def run(table: str, name: str) -> None:\n"
        '    """Run."""\n'
        '    subprocess.run(f"ls {name}", shell=True)\n'
        "    query = f\"SELECT * FROM {table} WHERE name = '{name}'\"\n"
        "    print(query)\n"
    )
    result = _ruff("--output-format", "concise", "analytics", cwd=tmp_path)
    assert result.returncode == 1
    assert "S602" in result.stdout  # subprocess with shell=True
    assert "S608" in result.stdout  # SQL built from strings
