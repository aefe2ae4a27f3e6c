"""``subject access`` and ``subject erase``: data-subject requests (GDPR articles 15 and 17).

``access`` writes a zip of everything held about one customer (JSON and CSV per table and a
README); ``erase`` deletes the customer everywhere, leaves a tombstone in the audit log and
rewrites the database file. Both are audited as ``os:<login>``; both need the app stopped (they
write). See docs/privacy-requests.md.
"""

from __future__ import annotations

import argparse
import sys

from analytics.cli.common import CliError, emit, progress
from analytics.store.database import open_database

MSG_CONFIRM = (
    "Erase customer {customer} ({pseudonym}) from every table, derived store and saved segment? "
    "This cannot be undone. Type the customer number again to confirm: "
)
MSG_NOT_CONFIRMED = "Not confirmed: nothing was erased."
MSG_NEEDS_YES = "Refusing to erase without --yes when not run at a terminal."


def cmd_access(args: argparse.Namespace) -> int:
    """Write the access export of one customer to ``--out``."""
    from analytics.access.auth import os_actor  # argon2 comes with it: only for this command
    from analytics.privacy import subject

    db = open_database(args.db)
    try:
        try:
            data = subject.write_subject_access(db, args.customer, args.out, requested_by=os_actor())
        except subject.SubjectNotFoundError as exc:
            raise CliError(str(exc)) from exc
    finally:
        db.close()
    payload = {
        "pseudonym": data.identity.pseudonym,
        "out": str(args.out),
        "tables": {name: frame.height for name, frame in data.tables.items()},
        "audit_entries": data.audit.height,
    }
    emit(
        payload,
        as_json=args.json,
        text=lambda: (
            f"access export of {data.identity.pseudonym} written to {args.out}: {data.rows:,} rows "
            f"from {len(data.tables)} tables and {data.audit.height} audit entries"
        ),
    )
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    """Erase one customer after confirmation (``--yes``, or typed at a terminal)."""
    from analytics.access.auth import os_actor  # argon2 comes with it: only for this command
    from analytics.privacy import subject

    if not args.yes and not sys.stdin.isatty():
        raise CliError(MSG_NEEDS_YES)
    db = open_database(args.db)
    try:
        identity = subject.subject_identity(db, args.customer)
        if not args.yes:
            answer = input(MSG_CONFIRM.format(customer=identity.customer_id, pseudonym=identity.pseudonym))
            if answer.strip() != str(identity.customer_id):
                raise CliError(MSG_NOT_CONFIRMED)
        progress(f"erasing {identity.pseudonym} and rewriting {db.path}")
        try:
            report = subject.erase_subject(
                db, identity.customer_id, requested_by=os_actor(), scan_paths=_written_files(db.path)
            )
        except subject.SubjectNotFoundError as exc:
            raise CliError(str(exc)) from exc
    finally:
        db.close()
    payload = {
        "pseudonym": report.pseudonym,
        "rows_deleted": report.rows_deleted,
        "total_rows": report.total_rows,
        "text_redacted": report.text_redacted,
        "segments_changed": list(report.segments_changed),
        "signoffs_redacted": list(report.signoffs_redacted),
        "legacy_audit_rows": report.legacy_audit_rows,
        "files_with_subject": list(report.files_with_subject),
        "bytes_before": report.bytes_before,
        "bytes_after": report.bytes_after,
        "seconds": round(report.seconds, 2),
        "notes": list(report.notes),
    }
    emit(payload, as_json=args.json, text=lambda: _erase_text(report))
    return 0


def _written_files(db_path: str) -> list[str]:
    """The files Tailor writes beside the database: the models folder (no other capability writes files)."""
    from analytics.models.registry import resolve_model_dir  # scikit-learn: only for this command

    return [str(resolve_model_dir(db_path))]


def _erase_text(report) -> str:
    lines = [
        f"erased {report.pseudonym}: {report.total_rows:,} rows in {len(report.rows_deleted)} tables, "
        f"{len(report.segments_changed)} saved segment(s), {sum(report.text_redacted.values())} free-text "
        f"value(s) redacted; database rewritten ({report.bytes_before:,} -> {report.bytes_after:,} bytes) "
        f"in {report.seconds:.1f} s; tombstone written to the audit log",
    ]
    if report.files_with_subject:
        lines.append("files that still contain the customer: " + ", ".join(report.files_with_subject))
    lines += [f"note: {note}" for note in report.notes]
    return "\n".join(lines)


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``subject access`` and ``subject erase`` to the command parser."""
    nested = argparse.ArgumentParser(add_help=False)
    nested.add_argument("--db", default=argparse.SUPPRESS, help="DuckDB file")
    nested.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    nested.add_argument("--customer", required=True, type=int, help="the customer number")
    group = sub.add_parser("subject", parents=[common], help="data-subject requests: access and erasure")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    access = actions.add_parser(
        "access", parents=[nested], help="write everything held about a customer to a zip (audited)"
    )
    access.add_argument("--out", required=True, help="the zip file to write")
    access.set_defaults(func=cmd_access)
    erase = actions.add_parser(
        "erase", parents=[nested], help="erase a customer everywhere and rewrite the database (audited)"
    )
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    erase.set_defaults(func=cmd_erase)
