"""The layering of docs/architecture.md, checked by import-linter, and proof that its contracts bite.

``lint-imports`` (configured in pyproject.toml) runs in ``make lint`` and ``make test``; here it
runs once on the tree as it is, then on temporary copies with one forbidden import added each,
and must fail naming the contract that import breaks.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analytics.store import derived
from analytics.store.contracts import DERIVED_TABLES
from tests.conftest import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120
    )


def test_the_tree_keeps_every_contract():
    result = _lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory) -> Path:
    """The three packages and the contracts, copied once for the bite tests."""
    root = tmp_path_factory.mktemp("layering")
    for folder in ("analytics", "app", "pages"):
        shutil.copytree(REPO_ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


FORBIDDEN = [
    # (file, line added, the contract that must break)
    ("analytics/common/formatting.py", "import streamlit", "The library imports no streamlit, app or pages"),
    ("analytics/kpis/nps.py", "from app import resources", "The library imports no streamlit, app or pages"),
    ("pages/account.py", "from analytics.store import database", "Pages never import the store or DuckDB"),
    ("pages/account.py", "import duckdb", "Only the store opens DuckDB"),
    ("analytics/kpis/nps.py", "import duckdb", "Only the store opens DuckDB"),
    ("analytics/store/database.py", "from analytics.kpis import rollups", "Layers: the command line over"),
    ("analytics/common/months.py", "from analytics.store import contracts", "Layers: the command line over"),
    ("analytics/access/auth.py", "from analytics.segments import store", "Layers: the command line over"),
    ("analytics/kpis/nps.py", "from analytics.fairness import metrics", "Capabilities meet only through"),
    ("analytics/clv/store.py", "from analytics.models import registry", "Capabilities meet only through"),
]


@pytest.mark.parametrize(
    ("module", "line", "contract"), FORBIDDEN, ids=[f"{m}: {li}" for m, li, _ in FORBIDDEN]
)
def test_a_forbidden_import_breaks_its_contract(tree_copy, module, line, contract):
    path = tree_copy / module
    original = path.read_text()
    # Inside a function, so the test also shows that such imports count like any other.
    path.write_text(original + f"\n\ndef _planted():\n    {line}  # noqa\n")
    try:
        result = _lint_imports(tree_copy)
    finally:
        path.write_text(original)
    assert result.returncode == 1, result.stdout
    # The report lists each broken contract under its name after this heading.
    assert "Broken contracts" in result.stdout
    assert contract in result.stdout.split("Broken contracts", 1)[1]


def _page_calls(name: str) -> list[str]:
    found = []
    for page in sorted((REPO_ROOT / "pages").glob("*.py")):
        for node in ast.walk(ast.parse(page.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == name:
                found.append(f"{page.name}:{node.lineno}")
            if isinstance(node, ast.Name) and node.id == name:
                found.append(f"{page.name}:{node.lineno}")
    return found


@pytest.mark.parametrize("name", ["backend", "get_database", "Database", "execute", "write_audit"])
def test_pages_never_hold_the_database(name):
    # import-linter sees imports; a page could still reach the database through a handle that
    # app.resources returned. Pages get data and write audit rows through app.resources only.
    assert _page_calls(name) == []


def test_every_derived_table_has_a_registered_builder_and_a_missing_one_is_named():
    builders = derived.registered_builders(tuple(spec.name for spec in DERIVED_TABLES))
    assert [b.table for b in builders][0] == "customer_month"  # the cubes read it: it runs first
    with pytest.raises(RuntimeError, match="no_such_table"):
        derived.registered_builders(("customer_month", "no_such_table"))


def test_nothing_is_skipped():
    # A skipped test (or an example whose every line is skipped) asserts nothing: it is a defect.
    # Spelled in pieces so that this file does not match its own search (nor the project's hooks).
    skip, fail = "skip", "fail"
    markers = (
        f"doctest: +{skip.upper()}",
        f"pytest.{skip}(",
        f"mark.{skip}",
        f"import{skip}(",
        f"mark.x{fail}",
    )
    found = [
        f"{path.relative_to(REPO_ROOT)}: {marker}"
        for folder in ("analytics", "app", "pages", "tests", "tools", "sample_data")
        for path in sorted((REPO_ROOT / folder).rglob("*.py"))
        for marker in markers
        if marker in path.read_text()
    ]
    assert found == []
