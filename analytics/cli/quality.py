"""``quality``: the data-quality checks of the stored tables, and the data dictionary.

Reads the database read-only (it may run beside the app). Exit code 0 whenever the checks ran,
failed checks included, so that a report is never mistaken for a crash; with ``--fail-on-error``
a failed check exits 1 (warnings never do), for a scheduled job that should alert on it.
``--dictionary`` adds every table and column with type, meaning, rows and freshness
(docs/quality.md).
"""

from __future__ import annotations

import argparse

from analytics.cli.common import emit, progress
from analytics.quality.checks import QualityReport, run_quality_checks
from analytics.quality.dictionary import data_dictionary, table_overview
from analytics.store.database import open_database


def cmd_quality(args: argparse.Namespace) -> int:
    """Run every check; print the failures (or all with --all), optionally the dictionary."""
    db = open_database(args.db, read_only=True)
    try:
        report = run_quality_checks(db)
        overview = table_overview(db) if args.dictionary else None
        dictionary = data_dictionary(db) if args.dictionary and args.json else None
        path = db.path
    finally:
        db.close()
    payload = {
        "db": path,
        "snapshot_date": report.snapshot_date,
        "ok": report.ok,
        "checks_run": len(report.checks),
        "failed": len(report.failed),
        "warnings": len(report.warned),
        "seconds": round(report.seconds, 3),
        "checks": [c for c in report.checks if args.all or args.json or c.status != "pass"],
    }
    if dictionary is not None:
        payload["dictionary"] = dictionary
    emit(payload, as_json=args.json, text=lambda: _text(report, overview, show_all=args.all))
    if report.failed and args.fail_on_error:
        progress(f"error: {len(report.failed)} data-quality check(s) failed")
        return 1
    return 0


def _text(report: QualityReport, overview, *, show_all: bool) -> str:
    lines = []
    if overview is not None:
        lines.append("Tables (rows, freshness column, newest, days before the snapshot):")
        for row in overview.iter_rows(named=True):
            rows = "absent" if row["rows"] is None else f"{row['rows']:,} rows"
            newest = (
                f"{row['freshness_column']} {row['newest']:%Y-%m-%d} ({row['lag_days']} d)"
                if row["newest"]
                else ""
            )
            lines.append(f"  {row['table']:<22} {row['kind']:<9} {rows:>16}  {newest}")
        lines.append("")
    verdict = "all passed" if report.ok else f"{len(report.failed)} FAILED"
    lines.append(
        f"Data quality as of {report.snapshot_date.isoformat()}: {len(report.checks)} checks, {verdict},"
        f" {len(report.warned)} warning(s), {report.seconds:.2f} s"
    )
    for check in report.checks:
        if check.status == "pass" and not show_all:
            continue
        lines.append(f"  {check.status.upper():<4} {check.name:<11} {check.explanation}")
        for example in check.examples:
            lines.append(f"         e.g. {example}")
    return "\n".join(lines)


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``quality`` to the command parser."""
    quality = sub.add_parser(
        "quality", parents=[common], help="data-quality checks of the stored tables (and the data dictionary)"
    )
    quality.add_argument("--all", action="store_true", help="list passing checks too (JSON always lists all)")
    quality.add_argument(
        "--dictionary", action="store_true", help="also print every table (and with --json every column)"
    )
    quality.add_argument(
        "--fail-on-error", action="store_true", help="exit 1 when a check fails (for scheduled jobs)"
    )
    quality.set_defaults(func=cmd_quality)
