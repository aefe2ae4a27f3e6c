"""Refuse Python callbacks inside polars expressions in code the server runs.

Why: with polars 2.1, a Python callback in an expression (``map_elements``, ``map_batches``,
``map_groups`` ...) runs on polars' thread pool and needs the GIL, while another thread's
``DataFrame.to_pandas()`` (which ``st.dataframe`` calls on a polars frame) holds the GIL and
waits on the same pool. Two browser sessions doing one each froze the whole server, health
endpoint included (issue 12; shared/MEASURED.md). Format on plain Python lists after the frame
is built, or with vectorized expressions.

Run ``python -m tools.polars_callbacks [PATH ...]`` (default: analytics, app, pages): it prints
each call as ``file:line:column: name`` and exits 1 when it finds any.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

FORBIDDEN_METHODS = frozenset({"map_elements", "map_batches", "map_groups", "map_rows", "map_fields"})
"""Methods of polars expressions, series and frames whose argument is a Python function."""

FORBIDDEN_FUNCTIONS = frozenset({"fold", "reduce", "cum_fold", "cum_reduce"})
"""``pl.<name>(...)`` top-level functions that call a Python function per batch."""

SERVER_CODE = ("analytics", "app", "pages")
"""Folders whose code the server runs (relative to the repository root)."""

ROOT = Path(__file__).resolve().parent.parent


def find_callbacks(source: str, *, filename: str = "<string>") -> list[tuple[int, int, str]]:
    """Every forbidden call in ``source`` as (line, column, name)."""
    found = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        name = node.func.attr
        owner = node.func.value
        polars_function = (
            name in FORBIDDEN_FUNCTIONS and isinstance(owner, ast.Name) and owner.id in {"pl", "polars"}
        )
        if name in FORBIDDEN_METHODS or polars_function:
            found.append((node.lineno, node.col_offset + 1, name))
    return found


def _python_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.py") if ".venv" not in p.parts)
        elif path.suffix == ".py":
            yield path


def check(paths: Iterable[Path]) -> list[str]:
    """``file:line:column: name`` for each forbidden call under ``paths``."""
    problems = []
    for file in _python_files(paths):
        for line, column, name in find_callbacks(file.read_text(encoding="utf-8"), filename=str(file)):
            problems.append(f"{file}:{line}:{column}: {name} runs a Python callback inside polars")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Print the forbidden calls and return 1 if there are any."""
    args = sys.argv[1:] if argv is None else argv
    paths = [Path(a) for a in args] or [ROOT / d for d in SERVER_CODE]
    problems = check(paths)
    for problem in problems:
        print(problem)
    if problems:
        print(
            f"{len(problems)} polars callback(s): they deadlock the server under concurrent sessions "
            "(tools/polars_callbacks.py says why). Format on Python lists instead.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
