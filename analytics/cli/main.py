"""``python -m analytics``: the computations of the pages, for batch jobs and checks.

Every command accepts ``--db PATH`` (default: ``TAILOR_DB``, else
sample_data/bank.duckdb) and prints JSON with ``--json``. Progress lines go to
standard error so that standard output stays machine-readable. Exit codes: 0
success, 1 refused (bad input, missing database), 2 usage error.

One module per command group, each a thin caller of the library that owns its subcommands'
options (``add_parsers``) and handlers: ``data`` (sample-data, users), ``kpis`` (kpis, nps,
engagement, retention), ``segments``, ``models`` (train, score, model), ``clv``,
``experiments`` (abtest, power), ``fairness``, ``audit`` (verify), ``imports`` (import) and
``quality``; ``common`` holds what they share. The groups whose library pulls in scikit-learn,
shap, scipy or statsmodels import it inside their handlers, so ``--help`` and the light commands
start without it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from analytics.cli import (
    audit,
    clv,
    data,
    experiments,
    fairness,
    imports,
    kpis,
    models,
    quality,
    segments,
    subject,
)
from analytics.cli.common import CliError
from analytics.store.database import DatabaseError, DataValidationError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m analytics``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help="DuckDB file (default: $TAILOR_DB, else sample_data/bank.duckdb)")
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")

    parser = argparse.ArgumentParser(
        prog="python -m analytics",
        description="Tailor analytics from the command line: the numbers behind every page.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (data, kpis, segments, models, clv, experiments, fairness, audit, quality, imports, subject):
        group.add_parsers(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # Files the commands create (exports of customer rows, a new database or key file) are
    # private to the user who runs them.
    os.umask(0o077)
    # The store reports upgrades and moved keys as warnings: one line each on standard error.
    logging.basicConfig(level=logging.WARNING, format="note: %(message)s", stream=sys.stderr)
    try:
        return args.func(args)
    except (CliError, DatabaseError, DataValidationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
