"""``import``: bring one of the bank's tables in from a CSV or Parquet file, all or nothing.

``python -m analytics import --table T --file F [--mode append|replace] [--mapping FILE]
[--max-rows N] [--check] [--json]``. The report (text, or JSON with ``--json``) goes to standard
output whether the file is accepted or refused; a refusal exits 1 and changes nothing. An
accepted import is written to the audit log (action ``import``, the OS login as actor).
docs/import.md describes formats, mapping, limits and checks.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from analytics.cli.common import CliError, emit, positive_int, progress
from analytics.store.contracts import CANONICAL_TABLES
from analytics.store.database import open_database
from analytics.store.imports import (
    DEFAULT_MAX_ROWS,
    IMPORT_MODES,
    ImportRefusedError,
    ImportReport,
    MappingError,
    format_report,
    import_table,
    read_mapping,
    validate_import,
)


def cmd_import(args: argparse.Namespace) -> int:
    """Validate the file, then (unless --check) import it in one transaction and audit it."""
    from analytics.access.auth import os_actor  # argon2: only the import's audit entry needs it

    try:
        mapping = read_mapping(args.mapping) if args.mapping else None
    except MappingError as exc:
        raise CliError(str(exc)) from exc
    source = Path(args.file)
    db = open_database(args.db, read_only=args.check)
    try:
        options = {"mode": args.mode, "mapping": mapping, "source_name": args.file, "max_rows": args.max_rows}
        if args.check:
            report = validate_import(db, args.table, source, **options)
        else:
            try:
                report = import_table(db, args.table, source, **options)
            except ImportRefusedError as exc:
                report = exc.report
            if report.committed:
                db.write_audit(
                    username=os_actor(),
                    role=None,
                    action="import",
                    target=args.table,
                    details={
                        "table": args.table,
                        "mode": args.mode,
                        "rows": report.rows_added,
                        "rows_replaced": report.rows_replaced,
                        "file": args.file,
                        "mapping": args.mapping,
                    },
                )
    finally:
        db.close()
    emit(_payload(report), as_json=args.json, text=lambda: format_report(report))
    if not report.ok:
        progress(f"error: {report.problem_count:,} problem(s) in {args.file}; the database is unchanged")
        return 1
    return 0


def _payload(report: ImportReport) -> dict:
    return {"ok": report.ok, **{name: getattr(report, name) for name in report.__dataclass_fields__}}


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``import`` to the command parser."""
    cmd = sub.add_parser(
        "import",
        parents=[common],
        help="import a canonical table from CSV or Parquet (validated, all or nothing)",
    )
    cmd.add_argument("--table", required=True, choices=[spec.name for spec in CANONICAL_TABLES])
    cmd.add_argument("--file", required=True, help=".csv (UTF-8, comma-separated, header line) or .parquet")
    cmd.add_argument(
        "--mode",
        choices=IMPORT_MODES,
        default="append",
        help="append new rows (default) or replace the table's rows",
    )
    cmd.add_argument("--mapping", help="JSON or CSV file: the file's column -> the contract's column")
    cmd.add_argument(
        "--max-rows",
        type=positive_int,
        default=DEFAULT_MAX_ROWS,
        help=f"refuse a file of more rows, before reading it whole (default {DEFAULT_MAX_ROWS:,})",
    )
    cmd.add_argument("--check", action="store_true", help="validate only: report problems, write nothing")
    cmd.set_defaults(func=cmd_import)
